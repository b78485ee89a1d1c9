"""The message pipeline: one inbound message in, one atomic append of its run, maybe a reply out.

Follows ElizaOS's message handler: run started, connection ensured, message stored with its
embedding, state composed, the model asked, its answer parsed, actions run, run ended. Every step
is an event collected in memory and appended in one transaction, so a crash before that commit
leaves nothing behind and a redelivery redoes the run; after it, a redelivery finds the run ended
and re-sends the recorded reply instead of making a new one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

from plugins.bootstrap.providers import DEFAULT_PROVIDERS
from services.orchestrator.connections import Connection, ConnectionManager, entity_created_event
from plugins.bootstrap.parsing import parse_response
from plugins.bootstrap.templates import MESSAGE_HANDLER_TEMPLATE, render
from services.orchestrator.readmodel import MessageView, ReadModel
from services.orchestrator.run_recorder import RunRecorder
from services.orchestrator.state import Provider, ProviderContext, compose_state
from shared import subjects
from shared.character import Character
from shared.errors import ConfigurationError
from shared.events import (
    ActionExecuted,
    MemoryCreated,
    MessageSentEvent,
    RunEnded,
    RunStarted,
    now_ms,
)
from shared.eventstore import EventStore
from shared.ids import create_unique_uuid, derived_id
from shared.messages import MessageReceived, MessageSent, ModelType, ReplyContent
from shared.model_client import ModelClient

REPLY_ACTIONS = {"REPLY"}


@dataclass(frozen=True)
class RunOutcome:
    """What handling a message produced: the reply to publish (if any), and whether it was a
    duplicate of a run already recorded."""

    run_id: uuid.UUID
    reply: MessageSent | None
    duplicate: bool


@dataclass(frozen=True)
class RunIds:
    """Ids a run derives from its message; a redelivery derives the same ones."""

    message_id: uuid.UUID
    run_id: uuid.UUID
    run_started: uuid.UUID
    run_ended: uuid.UUID
    sent: uuid.UUID
    reply_id: uuid.UUID

    @classmethod
    def of(cls, agent_id: uuid.UUID, inbound: MessageReceived) -> RunIds:
        """Derive the ids of the run that handles `inbound` for `agent_id`."""
        message_id = create_unique_uuid(agent_id, str(inbound.id))
        run_id = derived_id(message_id, "run")
        return cls(
            message_id=message_id,
            run_id=run_id,
            run_started=derived_id(run_id, "run.started"),
            run_ended=derived_id(run_id, "run.ended"),
            sent=derived_id(run_id, "message.sent"),
            reply_id=derived_id(run_id, "reply"),
        )


class AgentDirectory:
    """The agents one orchestrator hosts; a message's `agent_id` picks one, none the default."""

    def __init__(self, characters: list[Character]) -> None:
        if not characters:
            raise ConfigurationError("an orchestrator needs at least one character")
        self.default = characters[0]
        self.by_id = {c.agent_id: c for c in characters}

    def get(self, agent_id: uuid.UUID | None) -> Character | None:
        """The character for an agent id (the default for None); None if not hosted here."""
        return self.default if agent_id is None else self.by_id.get(agent_id)


class MessagePipeline:
    """Runs the agent for one message and records the run; see the module docstring."""

    def __init__(
        self,
        store: EventStore,
        read_model: ReadModel,
        models: ModelClient,
        agents: AgentDirectory,
        providers: list[Provider] | None = None,
        recent_count: int = 32,
    ) -> None:
        self.store = store
        self.read_model = read_model
        self.models = models
        self.agents = agents
        self.providers: list[Provider] = providers or list(DEFAULT_PROVIDERS)
        self.recent_count = recent_count
        self.connections = ConnectionManager(read_model)

    async def ensure_agents(self) -> None:
        """Record each hosted agent's own entity (ElizaOS creates it at initialize)."""
        await self.store.append(
            [
                entity_created_event(
                    c.agent_id, c.agent_id, [n for n in (c.name, c.username) if n], {}
                )
                for c in self.agents.by_id.values()
            ]
        )

    async def recorded_outcome(self, ids: RunIds) -> RunOutcome | None:
        """The outcome of this run if it is already in the log."""
        prior = {e.type: e for e in await self.store.get([ids.run_ended, ids.sent])}
        if "run.ended" not in prior:
            return None
        sent = prior.get("message.sent")
        reply = MessageSent.model_validate(sent.data["message"]) if sent else None
        return RunOutcome(run_id=ids.run_id, reply=reply, duplicate=True)

    async def handle(self, inbound: MessageReceived, character: Character) -> RunOutcome:
        """Handle one message for one agent, exactly once in effect."""
        agent_id = character.agent_id
        ids = RunIds.of(agent_id, inbound)
        started = time.perf_counter()
        started_ms = now_ms()
        server_id = inbound.room.server_id or inbound.source
        conn = Connection(
            agent_id=agent_id,
            entity_id=create_unique_uuid(agent_id, inbound.entity.id),
            room_id=create_unique_uuid(agent_id, inbound.room.id),
            world_id=create_unique_uuid(agent_id, f"server:{server_id}"),
            source=inbound.source,
            platform_user_id=inbound.entity.id,
            name=inbound.entity.name,
            username=inbound.entity.username,
            room_name=inbound.room.name,
            room_type=inbound.room.type.value,
            channel_id=inbound.room.id,
            server_id=server_id,
        )
        run_stream = f"run-{ids.run_id}"
        rec = RunRecorder(ids.run_id, agent_id, correlation_id=ids.message_id)
        rec.add(
            RunStarted(
                run_id=ids.run_id,
                agent_id=agent_id,
                message_id=ids.message_id,
                room_id=conn.room_id,
                entity_id=conn.entity_id,
                source=inbound.source,
                started_at=started_ms,
            ),
            run_stream,
            event_id=ids.run_started,
            expected_version=0,
        )

        author = inbound.entity.name or inbound.entity.username or inbound.entity.id
        message = MessageView(
            id=ids.message_id,
            entity_id=conn.entity_id,
            author=author,
            text=inbound.content.text,
            created_at=started_ms,
        )
        ctx = ProviderContext(
            agent_id=agent_id,
            character=character,
            message=message,
            room_id=conn.room_id,
            read_model=self.read_model,
            recent_count=self.recent_count,
        )
        # The redelivery check runs beside the first model call and reads: one round trip less on
        # every message, one wasted embedding on the rare duplicate.
        done, connection_events, embedding, state = await asyncio.gather(
            self.recorded_outcome(ids),
            self.connections.missing_events(conn),
            rec.use_model(
                self.models, ModelType.TEXT_EMBEDDING, {"text": inbound.content.text}, conn.room_id
            ),
            compose_state(ctx, self.providers),
        )
        if done is not None:
            return done
        rec.add_all(connection_events)
        content: dict[str, object] = {
            "text": inbound.content.text,
            "source": inbound.source,
            "channelType": inbound.room.type.value,
        }
        if inbound.content.attachments:
            content["attachments"] = [
                a.model_dump(mode="json") for a in inbound.content.attachments
            ]
        if inbound.content.in_reply_to:
            content["inReplyTo"] = str(
                create_unique_uuid(agent_id, str(inbound.content.in_reply_to))
            )
        rec.add(
            MemoryCreated(
                id=ids.message_id,
                agent_id=agent_id,
                entity_id=conn.entity_id,
                room_id=conn.room_id,
                world_id=conn.world_id,
                content=content,
                embedding=embedding,
                created_at=started_ms,
            ),
            f"memory-{ids.message_id}",
        )

        prompt = render(MESSAGE_HANDLER_TEMPLATE, {"agentName": character.name, **state.values})
        params: dict[str, object] = {"prompt": prompt}
        if character.system:
            params["system"] = character.system
        raw = await rec.use_model(self.models, ModelType.TEXT_LARGE, params, conn.room_id)
        parsed = parse_response(str(raw))

        reply: MessageSent | None = None
        for action in parsed.actions:
            if action in REPLY_ACTIONS and parsed.text and reply is None:
                reply = await self._reply(
                    rec,
                    inbound,
                    ids,
                    conn,
                    parsed.text,
                    parsed.thought,
                    parsed.actions,
                    parsed.providers,
                    after=started_ms,
                )
            rec.add(
                ActionExecuted(
                    agent_id=agent_id,
                    room_id=conn.room_id,
                    run_id=ids.run_id,
                    message_id=ids.message_id,
                    action_id=derived_id(ids.run_id, f"action:{action}"),
                    action_name=action,
                    status="completed",
                    at=now_ms(),
                ),
                run_stream,
            )
        rec.add(
            RunEnded(
                run_id=ids.run_id,
                agent_id=agent_id,
                message_id=ids.message_id,
                room_id=conn.room_id,
                status="completed" if reply else "ignored",
                ended_at=now_ms(),
                duration_ms=(time.perf_counter() - started) * 1000,
            ),
            run_stream,
            event_id=ids.run_ended,
        )
        result = await self.store.append(rec.events)
        self.connections.remember(conn)
        if ids.run_ended in result.duplicates:
            # Another delivery committed this run first: its reply is the one that counts.
            recorded = await self.recorded_outcome(ids)
            assert recorded is not None
            return recorded
        return RunOutcome(run_id=ids.run_id, reply=reply, duplicate=False)

    async def _reply(
        self,
        rec: RunRecorder,
        inbound: MessageReceived,
        ids: RunIds,
        conn: Connection,
        text: str,
        thought: str,
        actions: list[str],
        providers: list[str],
        after: int,
    ) -> MessageSent:
        """The REPLY action: store the agent's message with its embedding and record the send.

        The reply's time is strictly after `after` (the message's), so transcripts order the two
        the same way every time, even when both fall in one millisecond.
        """
        rec.action_context = {"actionName": "REPLY", "actionId": str(ids.reply_id), "prompts": []}
        embedding = await rec.use_model(
            self.models, ModelType.TEXT_EMBEDDING, {"text": text}, conn.room_id
        )
        rec.action_context = None
        reply = MessageSent(
            id=ids.reply_id,
            agent_id=conn.agent_id,
            in_reply_to=inbound.id,
            source=inbound.source,
            room=inbound.room,
            content=ReplyContent(text=text, actions=actions, thought=thought, providers=providers),
            run_id=ids.run_id,
        )
        rec.add(
            MemoryCreated(
                id=ids.reply_id,
                agent_id=conn.agent_id,
                entity_id=conn.agent_id,
                room_id=conn.room_id,
                world_id=conn.world_id,
                content={
                    "text": text,
                    "thought": thought,
                    "actions": actions,
                    "source": inbound.source,
                    "inReplyTo": str(ids.message_id),
                },
                embedding=embedding,
                created_at=max(now_ms(), after + 1),
            ),
            f"memory-{ids.reply_id}",
        )
        rec.add(
            MessageSentEvent(
                message=reply.model_dump(mode="json"), subject=subjects.message_sent(inbound.source)
            ),
            f"run-{ids.run_id}",
            event_id=ids.sent,
        )
        return reply
