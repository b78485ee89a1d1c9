"""One inbound message in, one atomic append of its run, its outbox out.

The orchestrator's part of ElizaOS's message flow is what a platform adapter and the runtime do
around the message handler: the connection is ensured, RUN_STARTED is emitted, the agent's
MESSAGE_RECEIVED handler (the bootstrap plugin's, or a replacement) does the work through the
AgentRuntime, and RUN_ENDED closes the run. Every write of the run is collected in a RunRecorder
and appended in one transaction, with the replies and runtime events to publish stored beside
them (`run.outbox`). A crash before that commit leaves nothing behind and a redelivery redoes the
run; after it, a redelivery finds the run ended and re-sends the recorded outbox instead.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

from services.orchestrator.faults import CRASH_BEFORE_COMMIT, crash_at
from services.orchestrator.replies import ReplySink
from shared.errors import ConfigurationError
from shared.events import OutboundMessage, RunEnded, RunOutbox, RunStarted, now_ms
from shared.eventstore import EventStore
from shared.ids import create_unique_uuid, derived_id
from shared.messages import MessageReceived
from shared.plugin import Memory
from shared.runtime.agent_runtime import AgentRuntime
from shared.runtime.connections import Connection, default_world_id
from shared.runtime.event_bus import EventType
from shared.runtime.run_scope import RunRecorder, in_recorder


@dataclass(frozen=True)
class RunOutcome:
    """What handling a message produced: what to publish, and whether the run was already
    recorded (a redelivery)."""

    run_id: uuid.UUID
    outbox: list[OutboundMessage]
    duplicate: bool


@dataclass(frozen=True)
class RunIds:
    """Ids a run derives from its message; a redelivery derives the same ones."""

    message_id: uuid.UUID
    run_id: uuid.UUID
    run_started: uuid.UUID
    run_ended: uuid.UUID
    outbox: uuid.UUID

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
            outbox=derived_id(run_id, "run.outbox"),
        )


class AgentHost:
    """The agents one orchestrator hosts, each its own AgentRuntime; a message's `agent_id`
    picks one, no `agent_id` the first."""

    def __init__(self, runtimes: list[AgentRuntime]) -> None:
        if not runtimes:
            raise ConfigurationError("an orchestrator needs at least one character")
        ids = [r.agent_id for r in runtimes]
        twice = sorted({str(i) for i in ids if ids.count(i) > 1})
        if twice:
            raise ConfigurationError(
                f"two characters have the agent id {', '.join(twice)} (the same name and no "
                "`id`): give one of them another name or an explicit `id`"
            )
        self.default = runtimes[0]
        self.by_id = {r.agent_id: r for r in runtimes}

    def get(self, agent_id: uuid.UUID | None) -> AgentRuntime | None:
        """The runtime for an agent id (the default for None); None if not hosted here."""
        return self.default if agent_id is None else self.by_id.get(agent_id)

    async def initialize(self) -> None:
        """Initialize every agent (ElizaOS's lifecycle, one after the other)."""
        for runtime in self.by_id.values():
            await runtime.initialize()

    async def stop(self) -> None:
        """Stop every agent."""
        for runtime in self.by_id.values():
            await runtime.stop()


def connection_of(agent_id: uuid.UUID, inbound: MessageReceived) -> Connection:
    """The agent-scoped entity, room and world of a platform message, with ElizaOS's ids
    (`ConnectionManager.resolve` scopes them by source where another source holds them)."""
    server_id = inbound.room.server_id or inbound.source
    return Connection(
        agent_id=agent_id,
        entity_id=create_unique_uuid(agent_id, inbound.entity.id),
        room_id=create_unique_uuid(agent_id, inbound.room.id),
        world_id=default_world_id(agent_id, server_id),
        source=inbound.source,
        platform_user_id=inbound.entity.id,
        name=inbound.entity.name,
        username=inbound.entity.username,
        room_name=inbound.room.name,
        room_type=inbound.room.type.value,
        channel_id=inbound.room.id,
        server_id=server_id,
        room_server_id=server_id,
    )


def message_memory(inbound: MessageReceived, ids: RunIds, conn: Connection, at: int) -> Memory:
    """The platform message as the agent's memory (ElizaOS's Memory of a message)."""
    content: dict[str, object] = {
        "text": inbound.content.text,
        "source": inbound.source,
        "channelType": inbound.room.type.value,
    }
    if inbound.content.attachments:
        content["attachments"] = [a.model_dump(mode="json") for a in inbound.content.attachments]
    if inbound.content.in_reply_to:
        replied_to = create_unique_uuid(conn.agent_id, str(inbound.content.in_reply_to))
        content["inReplyTo"] = str(replied_to)
    author = inbound.entity.name or inbound.entity.username or inbound.entity.id
    return Memory(
        id=ids.message_id,
        entity_id=conn.entity_id,
        agent_id=conn.agent_id,
        room_id=conn.room_id,
        world_id=conn.world_id,
        content=content,
        created_at=at,
        metadata={"entityName": author},
    )


class MessageRunner:
    """Runs an agent for one message and records the run; see the module docstring. `fault`
    is the test-only fault point setting (services.orchestrator.faults)."""

    def __init__(self, store: EventStore, fault: str | None = None) -> None:
        self.store = store
        self.fault = fault

    async def recorded_outcome(self, ids: RunIds) -> RunOutcome | None:
        """The outcome of this run if it is already in the log."""
        prior = {e.type: e for e in await self.store.get([ids.run_ended, ids.outbox])}
        if "run.ended" not in prior:
            return None
        outbox = prior.get("run.outbox")
        messages = RunOutbox.model_validate(outbox.data).messages if outbox else []
        return RunOutcome(run_id=ids.run_id, outbox=messages, duplicate=True)

    async def record_failed(
        self, inbound: MessageReceived, runtime: AgentRuntime, error: str
    ) -> None:
        """Record that the run of `inbound` failed for good: its claim and `run.ended` with
        status "error" (nothing else of the run is kept). A redelivery then finds the run ended
        and does nothing; a run already recorded makes this a no-op."""
        agent_id = runtime.agent_id
        ids = RunIds.of(agent_id, inbound)
        conn, _ = await runtime.connections.resolve(connection_of(agent_id, inbound))
        at = now_ms()
        rec = RunRecorder(ids.run_id, agent_id, correlation_id=ids.message_id)
        run_stream = f"run-{ids.run_id}"
        rec.add(
            RunStarted(run_id=ids.run_id, agent_id=agent_id, message_id=ids.message_id,
                       room_id=conn.room_id, entity_id=conn.entity_id, source=inbound.source,
                       started_at=at),
            run_stream, event_id=ids.run_started, expected_version=0,
        )  # fmt: skip
        rec.add(
            RunEnded(run_id=ids.run_id, agent_id=agent_id, message_id=ids.message_id,
                     room_id=conn.room_id, status="error", ended_at=at, duration_ms=0.0,
                     error=error),
            run_stream, event_id=ids.run_ended,
        )  # fmt: skip
        rec.scrub(runtime.scrubber)
        await self.store.append(rec.events)

    async def handle(self, inbound: MessageReceived, runtime: AgentRuntime) -> RunOutcome:
        """Handle one message for one agent, exactly once in effect."""
        agent_id = runtime.agent_id
        ids = RunIds.of(agent_id, inbound)
        started, started_ms = time.perf_counter(), now_ms()
        asked = connection_of(agent_id, inbound)
        # The redelivery check and the connection read are one concurrent round trip; the check
        # comes before any handler runs, so a duplicate runs no action twice.
        done, (conn, connection_events) = await asyncio.gather(
            self.recorded_outcome(ids), runtime.connections.resolve(asked)
        )
        if done is not None:
            return done
        run_stream = f"run-{ids.run_id}"
        rec = RunRecorder(ids.run_id, agent_id, correlation_id=ids.message_id, may_defer=True)
        rec.add(
            RunStarted(run_id=ids.run_id, agent_id=agent_id, message_id=ids.message_id,
                       room_id=conn.room_id, entity_id=conn.entity_id, source=inbound.source,
                       started_at=started_ms),
            run_stream, event_id=ids.run_started, expected_version=0,
        )  # fmt: skip
        rec.add_all(connection_events)
        message = message_memory(inbound, ids, conn, started_ms)
        replies = ReplySink(runtime, rec, inbound, ids.message_id, conn, after=started_ms)
        run_params = {"runId": str(ids.run_id), "messageId": str(ids.message_id),
                      "roomId": str(conn.room_id), "entityId": str(conn.entity_id),
                      "source": inbound.source}  # fmt: skip
        try:
            with in_recorder(rec):
                await runtime.emit_event(EventType.RUN_STARTED, {**run_params, "status": "started"})
                await runtime.handle_message(message, replies)
                status = "completed" if replies.sent else "ignored"
                duration_ms = (time.perf_counter() - started) * 1000
                await runtime.emit_event(
                    EventType.RUN_ENDED,
                    {**run_params, "status": status, "duration": duration_ms},
                )
            await rec.settle()  # what the run left going on in the background (embeddings)
        finally:
            rec.cancel_deferred()  # a failed run leaves nothing running behind it
        rec.add(
            RunEnded(run_id=ids.run_id, agent_id=agent_id, message_id=ids.message_id,
                     room_id=conn.room_id, status=status, ended_at=now_ms(),
                     duration_ms=duration_ms),
            run_stream, event_id=ids.run_ended,
        )  # fmt: skip
        rec.add(
            RunOutbox(run_id=ids.run_id, agent_id=agent_id, messages=rec.outbox.messages),
            run_stream,
            event_id=ids.outbox,
        )
        rec.scrub(runtime.scrubber)  # the character's secrets never reach the log or the bus
        crash_at(CRASH_BEFORE_COMMIT, self.fault, f"before the commit of run {ids.run_id}")
        result = await self.store.append(rec.events)
        runtime.connections.remember(asked, conn)
        if ids.run_started in result.duplicates:
            # Another delivery committed this run first (the store kept this whole batch out, see
            # EventStore): its outbox is the one that counts.
            recorded = await self.recorded_outcome(ids)
            assert recorded is not None
            return recorded
        return RunOutcome(run_id=ids.run_id, outbox=list(rec.outbox.messages), duplicate=False)
