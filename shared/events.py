"""Pydantic models of every event in the log, and the envelopes events are appended and read in.

An event's `data` is one of the payload models below, chosen by its `type`. Payloads carry their own
times (epoch milliseconds) so projections rebuilt from the log come out identical to the live ones.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds, the unit every event payload uses."""
    return int(time.time() * 1000)


class EventMetadata(BaseModel):
    """Why an event exists: the run it belongs to and what caused it."""

    model_config = ConfigDict(extra="allow")

    agent_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None


class EventData(BaseModel):
    """Base of every event payload; `event_type` is the `type` it is stored under."""

    model_config = ConfigDict(extra="forbid")
    event_type: ClassVar[str]


class NewEvent(BaseModel):
    """An event to append. `expected_version` (when set) is the stream's version before it."""

    event_id: uuid.UUID
    stream_id: str
    type: str
    data: dict[str, Any]
    metadata: EventMetadata = Field(default_factory=EventMetadata)
    expected_version: int | None = None

    @classmethod
    def of(
        cls,
        payload: EventData,
        *,
        event_id: uuid.UUID,
        stream_id: str,
        metadata: EventMetadata | None = None,
        expected_version: int | None = None,
    ) -> NewEvent:
        """Wrap a typed payload for appending."""
        return cls(
            event_id=event_id,
            stream_id=stream_id,
            type=payload.event_type,
            data=payload.model_dump(mode="json"),
            metadata=metadata or EventMetadata(),
            expected_version=expected_version,
        )


class RecordedEvent(BaseModel):
    """An event as the log holds it: with its global position and its version in its stream."""

    position: int
    event_id: uuid.UUID
    stream_id: str
    stream_version: int
    type: str
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime

    def payload(self) -> EventData:
        """The typed payload of this event."""
        return EVENT_TYPES[self.type].model_validate(self.data)


# --- runs ---------------------------------------------------------------------------------------


class RunStarted(EventData):
    """The orchestrator began handling a message."""

    event_type: ClassVar[str] = "run.started"
    run_id: uuid.UUID
    agent_id: uuid.UUID
    message_id: uuid.UUID
    room_id: uuid.UUID
    entity_id: uuid.UUID
    source: str
    started_at: int


class RunEnded(EventData):
    """The orchestrator finished handling a message, with how it went and how long it took."""

    event_type: ClassVar[str] = "run.ended"
    run_id: uuid.UUID
    agent_id: uuid.UUID
    message_id: uuid.UUID
    room_id: uuid.UUID
    status: Literal["completed", "ignored", "error"]
    ended_at: int
    duration_ms: float
    error: str | None = None


class OutboundMessage(BaseModel):
    """One message a run publishes once it has committed: a reply or a runtime event."""

    subject: str
    msg_id: str
    body: dict[str, Any]


class RunOutbox(EventData):
    """What a run publishes after its commit (transactional outbox).

    Stored in the run's own append, so a redelivery after a crash between commit and publish
    re-sends exactly these messages with the same `Nats-Msg-Id`s and JetStream drops repeats.
    """

    event_type: ClassVar[str] = "run.outbox"
    run_id: uuid.UUID
    agent_id: uuid.UUID
    messages: list[OutboundMessage] = Field(default_factory=list)


# --- connections --------------------------------------------------------------------------------


class EntityCreated(EventData):
    """A person or agent became known to an agent."""

    event_type: ClassVar[str] = "entity.created"
    id: uuid.UUID
    agent_id: uuid.UUID
    names: list[str]
    metadata: dict[str, Any] = Field(default_factory=dict)


class EntityUpdated(EventData):
    """New names or per-source metadata for an entity: merged into what it had, never replacing."""

    event_type: ClassVar[str] = "entity.updated"
    id: uuid.UUID
    agent_id: uuid.UUID
    names: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


class WorldCreated(EventData):
    """A world (a server, a guild, a workspace) became known to an agent."""

    event_type: ClassVar[str] = "world.created"
    id: uuid.UUID
    agent_id: uuid.UUID
    name: str
    server_id: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class RoomCreated(EventData):
    """A room (a channel, a DM) became known to an agent."""

    event_type: ClassVar[str] = "room.created"
    id: uuid.UUID
    agent_id: uuid.UUID
    name: str | None = None
    source: str
    type: str
    channel_id: str | None = None
    server_id: str | None = None
    world_id: uuid.UUID | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class ParticipantAdded(EventData):
    """An entity joined a room."""

    event_type: ClassVar[str] = "participant.added"
    room_id: uuid.UUID
    entity_id: uuid.UUID
    agent_id: uuid.UUID


# --- memory and messages -------------------------------------------------------------------------


class MemoryCreated(EventData):
    """A memory was stored (a message, a fact, a document), with its embedding when it has one."""

    event_type: ClassVar[str] = "memory.created"
    id: uuid.UUID
    agent_id: uuid.UUID
    entity_id: uuid.UUID
    room_id: uuid.UUID
    world_id: uuid.UUID | None = None
    table_name: str = "messages"
    content: dict[str, Any]
    embedding: list[float] | None = None
    unique: bool = True
    created_at: int
    metadata: dict[str, Any] = Field(default_factory=dict)


class MemoryUpdated(EventData):
    """A memory's content, metadata or embedding changed (ElizaOS's updateMemory): each field
    that is set replaces the stored one; None leaves it as it is."""

    event_type: ClassVar[str] = "memory.updated"
    id: uuid.UUID
    agent_id: uuid.UUID
    content: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    embedding: list[float] | None = None


class MemoriesDeleted(EventData):
    """Several memories were removed at once (ElizaOS's deleteManyMemories)."""

    event_type: ClassVar[str] = "memory.many_deleted"
    ids: list[uuid.UUID]
    agent_id: uuid.UUID


class RoomMemoriesDeleted(EventData):
    """Every memory of one table in one room was removed (ElizaOS's deleteAllMemories)."""

    event_type: ClassVar[str] = "memory.room_cleared"
    room_id: uuid.UUID
    table_name: str
    agent_id: uuid.UUID


class AgentMemoriesCleared(EventData):
    """Every memory of the agent was removed (ElizaOS's clearAllAgentMemories)."""

    event_type: ClassVar[str] = "memory.agent_cleared"
    agent_id: uuid.UUID


class EmbeddingDimensionSet(EventData):
    """The dimension of the agent's embedding model, as its TEXT_EMBEDDING probe answered at
    start (ElizaOS's ensureEmbeddingDimension), or after `elizabus memories reembed` moved
    every memory to a new model's dimension. A later start with a model of another dimension
    is refused until the memories are re-embedded."""

    event_type: ClassVar[str] = "embedding.dimension_set"
    agent_id: uuid.UUID
    dimension: int = Field(gt=0)
    previous: int | None = None
    at: int


class MessageSentEvent(EventData):
    """The agent published a reply; `message` is the exact body sent, kept for re-sending."""

    event_type: ClassVar[str] = "message.sent"
    message: dict[str, Any]
    subject: str


class MessageRejected(EventData):
    """A bus message could not be accepted and went to the dead-letter subject."""

    event_type: ClassVar[str] = "message.rejected"
    reason: str
    subject: str
    body: str
    """The body as text; empty when it is not storable text (then see `body_base64`)."""
    body_base64: str | None = None
    """The body's bytes in base64 when they are not UTF-8 text free of NUL."""
    body_size: int | None = None
    """The body's full size in bytes when only its first MAX_STORED_BODY_BYTES are kept."""
    headers: dict[str, str] = Field(default_factory=dict)
    stream_sequence: int | None = None
    rejected_at: int


# --- observability -------------------------------------------------------------------------------


class ModelUsed(EventData):
    """One model call, as ElizaOS's useModel logs it: params, response, provider, time, run."""

    event_type: ClassVar[str] = "model.used"
    agent_id: uuid.UUID
    room_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None
    model_type: str
    provider: str
    params: dict[str, Any]
    response: Any
    duration_ms: float
    action_context: dict[str, Any] | None = None
    at: int


class ActionExecuted(EventData):
    """An action ran for a message, with the prompts it made and how it ended."""

    event_type: ClassVar[str] = "action.executed"
    agent_id: uuid.UUID
    room_id: uuid.UUID
    run_id: uuid.UUID | None = None
    message_id: uuid.UUID
    action_id: uuid.UUID
    action_name: str
    status: Literal["completed", "failed", "skipped"]
    prompts: list[dict[str, Any]] = Field(default_factory=list)
    error: str | None = None
    at: int


class ModelFailed(EventData):
    """One attempt at a model call failed (error, timeout, no responders); the next provider by
    priority is tried, if any."""

    event_type: ClassVar[str] = "model.failed"
    agent_id: uuid.UUID
    run_id: uuid.UUID | None = None
    model_type: str
    provider: str
    error: str
    duration_ms: float
    at: int


class ProviderFailed(EventData):
    """A provider raised or timed out while composing state; its part of the state is empty."""

    event_type: ClassVar[str] = "provider.failed"
    agent_id: uuid.UUID
    run_id: uuid.UUID | None = None
    provider: str
    message_id: uuid.UUID | None = None
    error: str
    at: int


class EvaluatorExecuted(EventData):
    """An evaluator ran after a response, with its result."""

    event_type: ClassVar[str] = "evaluator.executed"
    agent_id: uuid.UUID
    room_id: uuid.UUID
    run_id: uuid.UUID | None = None
    message_id: uuid.UUID
    evaluator_name: str
    status: Literal["completed", "failed"]
    result: dict[str, Any] | None = None
    error: str | None = None
    at: int


# --- tasks ---------------------------------------------------------------------------------------


class TaskCreated(EventData):
    """A task was scheduled; `tags` with "queue" make the scheduler run it, "repeat" with
    `metadata.updateInterval` (ms) makes it recur, as in ElizaOS."""

    event_type: ClassVar[str] = "task.created"
    id: uuid.UUID
    agent_id: uuid.UUID
    name: str
    description: str = ""
    room_id: uuid.UUID | None = None
    world_id: uuid.UUID | None = None
    entity_id: uuid.UUID | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: int


class TaskUpdated(EventData):
    """A task changed: given fields replace, `metadata` is merged key by key."""

    event_type: ClassVar[str] = "task.updated"
    id: uuid.UUID
    agent_id: uuid.UUID
    name: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    updated_at: int


class TaskDeleted(EventData):
    """A task was removed."""

    event_type: ClassVar[str] = "task.deleted"
    id: uuid.UUID
    agent_id: uuid.UUID
    deleted_at: int


class TaskClaimed(EventData):
    """A scheduler took one due run of a task (`slot`); a second claim of the slot is a no-op,
    so two orchestrators never run the same slot. `at` becomes the task's `updatedAt`."""

    event_type: ClassVar[str] = "task.claimed"
    id: uuid.UUID
    agent_id: uuid.UUID
    name: str
    slot: int
    at: int


class TaskExecuted(EventData):
    """A claimed task run finished, with how it went."""

    event_type: ClassVar[str] = "task.executed"
    id: uuid.UUID
    agent_id: uuid.UUID
    name: str
    slot: int
    status: Literal["completed", "failed", "skipped"]
    error: str | None = None
    duration_ms: float
    at: int


EVENT_TYPES: dict[str, type[EventData]] = {
    cls.event_type: cls
    for cls in (
        RunStarted,
        RunEnded,
        RunOutbox,
        EntityCreated,
        EntityUpdated,
        WorldCreated,
        RoomCreated,
        ParticipantAdded,
        MemoryCreated,
        MemoryUpdated,
        MemoriesDeleted,
        RoomMemoriesDeleted,
        AgentMemoriesCleared,
        EmbeddingDimensionSet,
        MessageSentEvent,
        MessageRejected,
        ModelUsed,
        ModelFailed,
        ProviderFailed,
        ActionExecuted,
        EvaluatorExecuted,
        TaskCreated,
        TaskUpdated,
        TaskDeleted,
        TaskClaimed,
        TaskExecuted,
    )
}

# Payloads of other modules register themselves in EVENT_TYPES when imported.
import shared.connection_events  # noqa: E402, F401
