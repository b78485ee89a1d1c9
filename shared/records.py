"""The records an agent reads back from its projections: entities, components, worlds, rooms,
relationships and tasks, in ElizaOS's shape with Python names; the room kinds (ChannelType); and
the specs of a bulk `ensure_connections`.

They are what `Runtime`'s read methods return and what its write methods take. Writes become
events in the log; these records are rebuilt from those events, so they carry no behaviour.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.events import now_ms


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Component(_Record):
    """A typed piece of data attached to an entity (ElizaOS's Component), e.g. a contact card
    another entity keeps about it (`source_entity_id`)."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    entity_id: uuid.UUID
    agent_id: uuid.UUID
    room_id: uuid.UUID | None = None
    world_id: uuid.UUID | None = None
    source_entity_id: uuid.UUID | None = None
    type: str
    data: dict[str, Any] = Field(default_factory=dict)
    created_at: int = Field(default_factory=now_ms)


class Entity(_Record):
    """A person, bot or agent the agent knows, with its names and per-source metadata."""

    id: uuid.UUID
    agent_id: uuid.UUID
    names: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    components: list[Component] = Field(default_factory=list)


class World(_Record):
    """A server or workspace; `metadata` holds its roles (`roles`) and settings (`settings`)."""

    id: uuid.UUID
    agent_id: uuid.UUID
    name: str | None = None
    server_id: str = "default"
    metadata: dict[str, Any] = Field(default_factory=dict)


class ChannelType(enum.StrEnum):
    """Room kinds, as ElizaOS's ChannelType."""

    SELF = "SELF"
    DM = "DM"
    GROUP = "GROUP"
    VOICE_DM = "VOICE_DM"
    VOICE_GROUP = "VOICE_GROUP"
    FEED = "FEED"
    THREAD = "THREAD"
    WORLD = "WORLD"
    FORUM = "FORUM"
    API = "API"


class Room(_Record):
    """A channel, DM or thread: where messages are exchanged (`type`: a ChannelType value)."""

    id: uuid.UUID
    agent_id: uuid.UUID
    name: str | None = None
    source: str = "elizabus"
    type: str = "GROUP"
    channel_id: str | None = None
    server_id: str | None = None
    world_id: uuid.UUID | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class ParticipantState(enum.StrEnum):
    """How the agent follows a room: answers every message (FOLLOWED) or none (MUTED)."""

    FOLLOWED = "FOLLOWED"
    MUTED = "MUTED"


class Relationship(_Record):
    """What one entity is to another, learnt from conversation (tags such as "friend")."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    source_entity_id: uuid.UUID
    target_entity_id: uuid.UUID
    agent_id: uuid.UUID
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: int = Field(default_factory=now_ms)


@dataclass
class Task:
    """A task as the `tasks` projection holds it."""

    id: uuid.UUID
    name: str
    description: str = ""
    room_id: uuid.UUID | None = None
    world_id: uuid.UUID | None = None
    entity_id: uuid.UUID | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0


@dataclass(frozen=True)
class EntitySpec:
    """An entity to connect (`ensure_connections`): its agent-scoped id, names and per-source
    metadata."""

    id: uuid.UUID
    names: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RoomSpec:
    """A room to connect (`ensure_connections`)."""

    id: uuid.UUID
    name: str | None = None
    type: str = "GROUP"
    channel_id: str | None = None


@dataclass(frozen=True)
class WorldSpec:
    """The world the rooms of an `ensure_connections` belong to."""

    id: uuid.UUID
    name: str
    server_id: str
    metadata: dict[str, Any] = field(default_factory=dict)
