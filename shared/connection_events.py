"""Event payloads for the agent's database writes that `shared/events.py` has none for: room and
world updates and deletes, participant removal and state, relationships, components and memory
deletion.

Every payload carries `agent_id` and everything its projection needs, so rebuilding the read
models from the log alone gives the same rows. Importing this module registers the payloads in
`shared.events.EVENT_TYPES` (shared/events.py imports it at its bottom).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Literal

from pydantic import Field

from shared.events import EVENT_TYPES, EventData

# --- rooms and worlds ----------------------------------------------------------------------------


class RoomUpdated(EventData):
    """A room's fields replaced by these (ElizaOS's updateRoom); creates the row if missing."""

    event_type: ClassVar[str] = "room.updated"
    id: uuid.UUID
    agent_id: uuid.UUID
    name: str | None = None
    source: str
    type: str
    channel_id: str | None = None
    server_id: str | None = None
    world_id: uuid.UUID | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class RoomDeleted(EventData):
    """A room was removed, and with it its participants and its memories (ElizaOS cascades)."""

    event_type: ClassVar[str] = "room.deleted"
    id: uuid.UUID
    agent_id: uuid.UUID


class WorldUpdated(EventData):
    """A world's name, server id and metadata replaced by these (ElizaOS's updateWorld)."""

    event_type: ClassVar[str] = "world.updated"
    id: uuid.UUID
    agent_id: uuid.UUID
    name: str
    server_id: str
    metadata: dict[str, Any] = Field(default_factory=dict)


# --- participants --------------------------------------------------------------------------------


class ParticipantRemoved(EventData):
    """An entity left a room."""

    event_type: ClassVar[str] = "participant.removed"
    room_id: uuid.UUID
    entity_id: uuid.UUID
    agent_id: uuid.UUID


class ParticipantStateChanged(EventData):
    """How a participant follows a room: FOLLOWED, MUTED, or None (the default behaviour)."""

    event_type: ClassVar[str] = "participant.state_changed"
    room_id: uuid.UUID
    entity_id: uuid.UUID
    agent_id: uuid.UUID
    state: Literal["FOLLOWED", "MUTED"] | None = None  # shared.records.ParticipantState


# --- relationships -------------------------------------------------------------------------------


class RelationshipCreated(EventData):
    """A relationship between two entities; one per (agent, source, target), later ones no-ops."""

    event_type: ClassVar[str] = "relationship.created"
    id: uuid.UUID
    agent_id: uuid.UUID
    source_entity_id: uuid.UUID
    target_entity_id: uuid.UUID
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: int


class RelationshipUpdated(EventData):
    """The tags and metadata of the (agent, source, target) relationship replaced by these."""

    event_type: ClassVar[str] = "relationship.updated"
    id: uuid.UUID
    agent_id: uuid.UUID
    source_entity_id: uuid.UUID
    target_entity_id: uuid.UUID
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


# --- components ----------------------------------------------------------------------------------


class ComponentCreated(EventData):
    """A typed piece of data attached to an entity; a second create of the same id is a no-op."""

    event_type: ClassVar[str] = "component.created"
    id: uuid.UUID
    agent_id: uuid.UUID
    entity_id: uuid.UUID
    room_id: uuid.UUID | None = None
    world_id: uuid.UUID | None = None
    source_entity_id: uuid.UUID | None = None
    type: str
    data: dict[str, Any] = Field(default_factory=dict)
    created_at: int


class ComponentUpdated(EventData):
    """A component's fields (all but its id, agent and creation time) replaced by these."""

    event_type: ClassVar[str] = "component.updated"
    id: uuid.UUID
    agent_id: uuid.UUID
    entity_id: uuid.UUID
    room_id: uuid.UUID | None = None
    world_id: uuid.UUID | None = None
    source_entity_id: uuid.UUID | None = None
    type: str
    data: dict[str, Any] = Field(default_factory=dict)


class ComponentDeleted(EventData):
    """A component was removed."""

    event_type: ClassVar[str] = "component.deleted"
    id: uuid.UUID
    agent_id: uuid.UUID


# --- memories ------------------------------------------------------------------------------------


class MemoryDeleted(EventData):
    """A memory was removed (ElizaOS's deleteMemory)."""

    event_type: ClassVar[str] = "memory.deleted"
    id: uuid.UUID
    agent_id: uuid.UUID


class MemoryEmbeddingAdded(EventData):
    """A memory stored without an embedding got one (the embedding repair, or a plugin's
    `add_embedding_to_memory`)."""

    event_type: ClassVar[str] = "memory.embedding_added"
    id: uuid.UUID
    agent_id: uuid.UUID
    embedding: list[float]


CONNECTION_EVENTS: tuple[type[EventData], ...] = (
    MemoryEmbeddingAdded,
    RoomUpdated,
    RoomDeleted,
    WorldUpdated,
    ParticipantRemoved,
    ParticipantStateChanged,
    RelationshipCreated,
    RelationshipUpdated,
    ComponentCreated,
    ComponentUpdated,
    ComponentDeleted,
    MemoryDeleted,
)

EVENT_TYPES.update({cls.event_type: cls for cls in CONNECTION_EVENTS})
