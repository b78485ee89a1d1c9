"""`AgentReadModel`: every query the agent's database surface makes, scoped to one agent.

An implementation is built for one `agent_id` and never returns another agent's rows, so two
agents sharing a database never see each other's memories, entities, rooms or relationships.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from shared.plugin import Memory
from shared.records import Component, Entity, ParticipantState, Relationship, Room, World


@dataclass(frozen=True)
class ConnectionState:
    """What the projections already know of an entity, its room and world (ensure-connection)."""

    entity_names: list[str] | None
    """None: no such entity."""
    entity_metadata: dict[str, Any] = field(default_factory=dict)
    room_exists: bool = False
    room_source: str | None = None
    """The source (platform) of the room, when it exists."""
    world_exists: bool = False
    participants: frozenset[uuid.UUID] = frozenset()
    """Which of the agent and the entity take part in the room."""

    @classmethod
    def nothing_known(cls) -> ConnectionState:
        """The state when there is no read model to ask: every fact is stated."""
        return cls(entity_names=None)


class AgentReadModel(Protocol):
    """Reads of one agent's projections (ElizaOS's IDatabaseAdapter read side)."""

    @property
    def agent_id(self) -> uuid.UUID: ...

    async def get_memories(
        self,
        *,
        room_id: uuid.UUID | None = None,
        table_name: str = "messages",
        count: int | None = None,
        entity_id: uuid.UUID | None = None,
        world_id: uuid.UUID | None = None,
        start: int | None = None,
        end: int | None = None,
        unique: bool = False,
        offset: int | None = None,
    ) -> list[Memory]:
        """Memories of a table, newest first (created_at descending, as ElizaOS's getMemories),
        at most `count` after skipping `offset`; `start`/`end` bound created_at inclusively;
        `unique` keeps only memories marked unique. Without their embeddings (decoding hundreds
        of floats a row is most of a list's cost): use get_memory_by_id."""
        ...

    async def get_memories_by_ids(
        self, memory_ids: list[uuid.UUID], table_name: str | None = None
    ) -> list[Memory]:
        """The agent's memories among `memory_ids` (of one table when given; unknown ids and
        other agents' memories are left out), newest first, without embeddings."""
        ...

    async def get_memories_by_room_ids(
        self, room_ids: list[uuid.UUID], table_name: str = "messages", limit: int | None = None
    ) -> list[Memory]:
        """Memories of a table in any of the rooms, newest first, at most `limit`."""
        ...

    async def count_memories(
        self, room_id: uuid.UUID | None = None, unique: bool = True, table_name: str | None = None
    ) -> int:
        """How many memories the agent has (in a room, of a table when given; only those marked
        unique when `unique`, as ElizaOS's countMemories defaults to)."""
        ...

    async def get_embedding_dimension(self) -> int | None:
        """The agent's embedding dimension as last recorded (embedding.dimension_set), or None."""
        ...

    async def count_memories_by_dimension(self) -> dict[int, int]:
        """How many of the agent's memories have an embedding, by the embedding's dimension."""
        ...

    async def get_memories_to_reembed(self, dimension: int, count: int) -> list[Memory]:
        """Up to `count` memories that have text and an embedding not of `dimension`, oldest
        first: what `elizabus memories reembed` works through."""
        ...

    async def get_memories_without_embedding(self, count: int) -> list[Memory]:
        """Up to `count` memories that have text but no embedding because none could be made
        when they were stored (metadata `embeddingPending`), oldest first: what the embedding
        repair fills in."""
        ...

    async def get_memory_by_id(self, memory_id: uuid.UUID) -> Memory | None:
        """One memory of this agent, with its embedding, or None."""
        ...

    async def search_memories(
        self,
        *,
        embedding: list[float],
        table_name: str,
        match_threshold: float = 0.5,
        count: int = 10,
        room_id: uuid.UUID | None = None,
        world_id: uuid.UUID | None = None,
        entity_id: uuid.UUID | None = None,
        unique: bool = False,
    ) -> list[Memory]:
        """Memories whose cosine similarity to `embedding` is at least `match_threshold`, most
        similar first, at most `count`; only embeddings of the query's dimension are compared;
        `unique` keeps only memories marked unique. Each memory carries its score as the extra
        field `similarity`, and no embedding. The filters are exact: the k nearest matching
        memories are returned however few of the agent's memories match them."""
        ...

    async def get_entity_by_id(self, entity_id: uuid.UUID) -> Entity | None: ...

    async def get_entities_for_room(
        self, room_id: uuid.UUID, include_components: bool = False
    ) -> list[Entity]: ...

    async def get_component(
        self,
        entity_id: uuid.UUID,
        type: str,
        world_id: uuid.UUID | None = None,
        source_entity_id: uuid.UUID | None = None,
    ) -> Component | None: ...

    async def get_components(
        self,
        entity_id: uuid.UUID,
        world_id: uuid.UUID | None = None,
        source_entity_id: uuid.UUID | None = None,
    ) -> list[Component]: ...

    async def get_world(self, world_id: uuid.UUID) -> World | None: ...

    async def get_all_worlds(self) -> list[World]: ...

    async def get_room(self, room_id: uuid.UUID) -> Room | None: ...

    async def get_rooms(self, world_id: uuid.UUID) -> list[Room]: ...

    async def get_rooms_for_participant(self, entity_id: uuid.UUID) -> list[uuid.UUID]: ...

    async def get_participants_for_room(self, room_id: uuid.UUID) -> list[uuid.UUID]: ...

    async def get_participant_user_state(
        self, room_id: uuid.UUID, entity_id: uuid.UUID
    ) -> ParticipantState | None: ...

    async def get_relationship(
        self, source_entity_id: uuid.UUID, target_entity_id: uuid.UUID
    ) -> Relationship | None: ...

    async def get_relationships(
        self, entity_id: uuid.UUID, tags: list[str] | None = None
    ) -> list[Relationship]:
        """Relationships with the entity on either side that carry every one of `tags`."""
        ...

    async def connection_state(
        self, entity_id: uuid.UUID, room_id: uuid.UUID, world_id: uuid.UUID
    ) -> ConnectionState:
        """Which parts of a connection already exist, in one read (the message path's hot read)."""
        ...


@runtime_checkable
class NearDuplicateFinder(Protocol):
    """A read model that answers ElizaOS's `unique` check for a whole batch at once (the
    Postgres one in one statement); the memory API otherwise searches once per memory."""

    async def find_near_duplicates(
        self, memories: Sequence[Memory], table_name: str, threshold: float
    ) -> list[bool]:
        """For each of `memories` (in order): whether a memory of `table_name` with the same
        room and entity (and world, when it has one) at least `threshold` similar is stored, or
        comes earlier in `memories` (as if they were created one after another). A memory
        without an embedding has none (False)."""
        ...
