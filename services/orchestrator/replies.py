"""How an agent speaks during a run: the callback handed to the message handler and its actions.

Each call stores the agent's message as a memory (with its embedding), records `message.sent`,
and queues the `MessageSent` body in the run's outbox; nothing is published before the run
commits. Ids are derived from the run and the reply's index, so a redone run sends the same ids.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from shared import subjects
from shared.events import MessageSentEvent, now_ms
from shared.ids import create_unique_uuid, derived_id
from shared.messages import (
    Attachment,
    MessageReceived,
    MessageSent,
    ReplyContent,
    RoomRef,
)
from shared.plugin import Content, Memory
from shared.records import ChannelType
from shared.runtime.agent_runtime import AgentRuntime
from shared.runtime.connections import Connection
from shared.runtime.event_bus import EventType
from shared.runtime.run_scope import RunRecorder

log = logging.getLogger(__name__)


def nth_id(run_id: uuid.UUID, name: str, index: int) -> uuid.UUID:
    """The id of the `index`-th `name` of a run (`name` itself for the first), so a redone run
    derives the same ids for its first, second, ... reply."""
    return derived_id(run_id, name if index == 0 else f"{name}:{index}")


class ReplySink:
    """The run's HandlerCallback: turns content into stored, recorded, queued messages.

    Content with neither text nor attachments sends nothing (an IGNORE). `content["target"]`
    (SEND_MESSAGE) sends elsewhere: {"type": "room", "roomId"} (a room the agent knows) or
    {"type": "user", "entityId", "source"?} (a DM to that entity's account on the source).
    """

    def __init__(
        self,
        runtime: AgentRuntime,
        recorder: RunRecorder,
        inbound: MessageReceived,
        message_id: uuid.UUID,
        conn: Connection,
        after: int,
    ) -> None:
        self.runtime = runtime
        self.recorder = recorder
        self.inbound = inbound
        self.message_id = message_id
        self.conn = conn
        self.after = after
        self.sent: list[MessageSent] = []

    async def __call__(self, content: Content) -> list[Memory]:
        """Send `content` as the agent; returns the stored memory (none when nothing is said)."""
        text = str(content.get("text") or "")
        attachments = [Attachment.model_validate(a) for a in content.get("attachments") or []]
        if not text.strip() and not attachments:
            return []
        route = await self._route(content.get("target"))
        if route is None:
            log.warning("message not sent: its target %r is not a known room or user of this "
                        "agent", content.get("target"))  # fmt: skip
            return []
        source, room, room_id, world_id = route
        run_id, index = self.recorder.run_id, len(self.sent)
        sent_id = nth_id(run_id, "reply", index)
        actions = [str(a) for a in content.get("actions") or []]
        thought = str(content.get("thought") or "") or None
        memory = Memory(
            id=sent_id,
            entity_id=self.conn.agent_id,
            agent_id=self.conn.agent_id,
            room_id=room_id,
            world_id=world_id,
            content={
                "text": text,
                "thought": thought,
                "actions": actions,
                "source": source,
                "inReplyTo": str(self.message_id),
                **({"attachments": [a.model_dump(mode="json") for a in attachments]}
                   if attachments else {}),
            },
            # strictly after the message and earlier replies, so transcripts keep this order
            created_at=max(now_ms(), self.after + 1 + index),
        )  # fmt: skip
        await self.runtime.create_memory(memory)
        reply = MessageSent(
            id=sent_id,
            agent_id=self.conn.agent_id,
            in_reply_to=self.inbound.id,
            source=source,
            room=room,
            content=ReplyContent(
                text=text,
                actions=actions,
                thought=thought,
                providers=[str(p) for p in content.get("providers") or []],
                attachments=attachments,
            ),
            run_id=run_id,
        )
        subject = subjects.message_sent(source)
        body = reply.model_dump(mode="json")
        event_id = nth_id(run_id, "message.sent", index)
        self.recorder.add(
            MessageSentEvent(message=body, subject=subject), f"run-{run_id}", event_id=event_id
        )
        self.recorder.outbox.add(subject, body, str(sent_id))
        self.sent.append(reply)
        await self.runtime.emit_event(
            EventType.MESSAGE_SENT,
            {
                "message": memory.model_copy(update={"embedding": None}),
                "source": source,
                "runId": str(run_id),
            },  # the embedding is not worth 8 KB on every fan-out
        )
        return [memory]

    async def _route(self, target: Any) -> tuple[str, RoomRef, uuid.UUID, uuid.UUID | None] | None:
        """Where a message goes: (source, platform room, agent-scoped room and world ids); the
        message's own room without a target, None when the target cannot be found."""
        if not isinstance(target, dict):
            return self.inbound.source, self.inbound.room, self.conn.room_id, self.conn.world_id
        source = str(target.get("source") or self.inbound.source)
        try:
            if target.get("type") == "room" and target.get("roomId"):
                room = await self.runtime.get_room(uuid.UUID(str(target["roomId"])))
                if room is None or not room.channel_id:
                    return None
                ref = RoomRef(id=room.channel_id, name=room.name, type=ChannelType(room.type),
                              server_id=room.server_id)  # fmt: skip
                return room.source or source, ref, room.id, room.world_id
            if target.get("type") == "user" and target.get("entityId"):
                entity = await self.runtime.get_entity_by_id(uuid.UUID(str(target["entityId"])))
                account = entity.metadata.get(source) if entity is not None else None
                if not isinstance(account, dict) or not account.get("id"):
                    return None
                user_id = str(account["id"])
                # the DM channel is the user's id, as adapters address it; the room id is the one
                # that DM's own messages get (connection_of), so both share one history
                ref = RoomRef(id=user_id, name=account.get("name"), type=ChannelType.DM)
                return source, ref, create_unique_uuid(self.conn.agent_id, user_id), None
        except ValueError:  # a malformed id or room type from the model
            return None
        return None
