"""The read half of the agent's database surface: delegates to the agent's read model.

Reads see what is committed: inside a message's run, the run's own writes are not visible until
the run commits its single append, and a repeated read is answered from the first (read_cache).
"""

from __future__ import annotations

import uuid

from shared.errors import ConfigurationError
from shared.plugin import Memory
from shared.readmodel.protocol import AgentReadModel
from shared.readmodel.rerank import rerank_memories
from shared.records import Component, Entity, ParticipantState, Relationship, Room, World
from shared.runtime.read_cache import cached_read
from shared.secrets import remember_world_secrets


class DatabaseReads:
    """ElizaOS's database reads on the runtime (getMemories, getEntityById, getRoom, ...)."""

    db: AgentReadModel | None

    @property
    def agent_id(self) -> uuid.UUID:
        raise NotImplementedError

    def _db(self) -> AgentReadModel:
        if self.db is None:
            raise ConfigurationError(
                "this runtime has no read model: build the AgentRuntime with db=<AgentReadModel> "
                "(shared.readmodel.postgres.PostgresAgentReadModel, or InMemoryAgentReadModel "
                "in tests)"
            )
        return self.db

    # --- memories ---------------------------------------------------------------------------

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
        """Memories of a table, newest first (as ElizaOS), at most `count` after `offset`;
        `start`/`end` bound created_at (epoch ms, inclusive); `unique`: only unique ones."""
        db = self._db()
        key = ("get_memories", room_id, table_name, count, entity_id, world_id, start, end,
               unique, offset)  # fmt: skip
        return await cached_read(self.agent_id, key, lambda: db.get_memories(
            room_id=room_id, table_name=table_name, count=count, entity_id=entity_id,
            world_id=world_id, start=start, end=end, unique=unique, offset=offset,
        ))  # fmt: skip

    async def get_memory_by_id(self, memory_id: uuid.UUID) -> Memory | None:
        """One memory of this agent, with its embedding, or None."""
        return await self._db().get_memory_by_id(memory_id)

    async def get_memories_by_ids(
        self, memory_ids: list[uuid.UUID], table_name: str | None = None
    ) -> list[Memory]:
        """This agent's memories among the ids (of one table when given), newest first."""
        return await self._db().get_memories_by_ids(list(memory_ids), table_name)

    async def get_memories_by_room_ids(
        self, room_ids: list[uuid.UUID], table_name: str = "messages", limit: int | None = None
    ) -> list[Memory]:
        """Memories of a table in any of the rooms, newest first, at most `limit`."""
        return await self._db().get_memories_by_room_ids(list(room_ids), table_name, limit)

    async def count_memories(
        self, room_id: uuid.UUID | None = None, unique: bool = True, table_name: str | None = None
    ) -> int:
        """How many memories (in a room, of a table; only unique ones unless `unique=False`),
        as ElizaOS's countMemories."""
        return await self._db().count_memories(room_id, unique, table_name)

    async def search_memories(
        self,
        *,
        embedding: list[float],
        table_name: str,
        query: str | None = None,
        match_threshold: float = 0.5,
        count: int = 10,
        room_id: uuid.UUID | None = None,
        world_id: uuid.UUID | None = None,
        entity_id: uuid.UUID | None = None,
        unique: bool = False,
    ) -> list[Memory]:
        """Memories by cosine similarity to `embedding` (>= match_threshold, at most `count`;
        `unique`: only unique ones); when `query` is given the hits are re-ranked by BM25
        relevance to it (ElizaOS's searchMemories + rerankMemories)."""
        hits = await self._db().search_memories(
            embedding=embedding, table_name=table_name, match_threshold=match_threshold,
            count=count, room_id=room_id, world_id=world_id, entity_id=entity_id, unique=unique,
        )  # fmt: skip
        return rerank_memories(query, hits) if query else hits

    async def rerank_memories(self, query: str, memories: list[Memory]) -> list[Memory]:
        """The memories ordered by BM25 relevance of their text to `query`."""
        return rerank_memories(query, memories)

    # --- entities and components -------------------------------------------------------------

    async def get_entity_by_id(self, entity_id: uuid.UUID) -> Entity | None:
        """One entity this agent knows, or None."""
        db = self._db()
        return await cached_read(
            self.agent_id, ("entity", entity_id), lambda: db.get_entity_by_id(entity_id)
        )

    async def get_entities_for_room(
        self, room_id: uuid.UUID, include_components: bool = False
    ) -> list[Entity]:
        """The room's participants as entities (with their components when asked)."""
        db = self._db()
        key = ("room_entities", room_id, include_components)
        return await cached_read(
            self.agent_id, key, lambda: db.get_entities_for_room(room_id, include_components)
        )

    async def get_component(
        self,
        entity_id: uuid.UUID,
        type: str,
        world_id: uuid.UUID | None = None,
        source_entity_id: uuid.UUID | None = None,
    ) -> Component | None:
        """The entity's component of a type (optionally of one world and one source), or None."""
        return await self._db().get_component(entity_id, type, world_id, source_entity_id)

    async def get_components(
        self,
        entity_id: uuid.UUID,
        world_id: uuid.UUID | None = None,
        source_entity_id: uuid.UUID | None = None,
    ) -> list[Component]:
        """The entity's components, oldest first."""
        return await self._db().get_components(entity_id, world_id, source_entity_id)

    # --- worlds, rooms, participants ---------------------------------------------------------

    async def get_world(self, world_id: uuid.UUID) -> World | None:
        """One world of this agent, or None. Its secret settings' values become secrets the
        process scrubs (`remember_world_secrets`)."""
        db = self._db()
        world = await cached_read(
            self.agent_id, ("world", world_id), lambda: db.get_world(world_id)
        )
        if world is not None:
            remember_world_secrets(world.metadata)
        return world

    async def get_all_worlds(self) -> list[World]:
        """Every world of this agent (their secret settings are remembered as `get_world`'s)."""
        worlds = await self._db().get_all_worlds()
        for world in worlds:
            remember_world_secrets(world.metadata)
        return worlds

    async def get_room(self, room_id: uuid.UUID) -> Room | None:
        """One room of this agent, or None."""
        db = self._db()
        return await cached_read(self.agent_id, ("room", room_id), lambda: db.get_room(room_id))

    async def get_rooms(self, world_id: uuid.UUID) -> list[Room]:
        """The rooms of a world."""
        return await self._db().get_rooms(world_id)

    async def get_rooms_for_participant(self, entity_id: uuid.UUID) -> list[uuid.UUID]:
        """The ids of the rooms the entity takes part in."""
        return await self._db().get_rooms_for_participant(entity_id)

    async def get_participants_for_room(self, room_id: uuid.UUID) -> list[uuid.UUID]:
        """The ids of the entities taking part in the room."""
        db = self._db()
        return await cached_read(self.agent_id, ("participants", room_id),
                                 lambda: db.get_participants_for_room(room_id))  # fmt: skip

    async def get_participant_user_state(
        self, room_id: uuid.UUID, entity_id: uuid.UUID
    ) -> ParticipantState | None:
        """FOLLOWED, MUTED, or None."""
        db = self._db()
        key = ("user_state", room_id, entity_id)
        return await cached_read(
            self.agent_id, key, lambda: db.get_participant_user_state(room_id, entity_id)
        )

    # --- relationships -----------------------------------------------------------------------

    async def get_relationship(
        self, source_entity_id: uuid.UUID, target_entity_id: uuid.UUID
    ) -> Relationship | None:
        """The relationship from source to target, or None."""
        return await self._db().get_relationship(source_entity_id, target_entity_id)

    async def get_relationships(
        self, entity_id: uuid.UUID, tags: list[str] | None = None
    ) -> list[Relationship]:
        """Relationships with the entity on either side carrying every one of `tags`."""
        db = self._db()
        key = ("relationships", entity_id, tuple(tags) if tags else None)
        return await cached_read(self.agent_id, key, lambda: db.get_relationships(entity_id, tags))
