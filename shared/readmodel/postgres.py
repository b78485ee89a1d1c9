"""The Postgres AgentReadModel: agent-scoped queries of the projection tables.

Every query filters on the agent's id, so two agents sharing a database never see each other's
rows. Vector search uses pgvector's cosine distance on `memories.embedding`, through the HNSW index
of the query's dimension (shared/readmodel/vector_search.py), comparing only embeddings of the
query's dimension. Needs a pool from
`shared.eventstore.postgres.create_pool` (jsonb decoded, vector codec registered); embeddings
come back as float32 values, as pgvector stores them.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from shared.plugin import Memory
from shared.readmodel.protocol import ConnectionState
from shared.readmodel.vector_search import (
    MEMORY_COLUMNS,
    MEMORY_COLUMNS_WITH_EMBEDDING,
    NEAR_DUPLICATE_EF_SEARCH,
    complete_search_sql,
    is_indexed,
    iterative_scan_settings,
    memory_filter,
    near_duplicates_sql,
    search_sql,
    vector_text,
)
from shared.records import Component, Entity, ParticipantState, Relationship, Room, World

_COMPONENT_COLUMNS = (
    "id, agent_id, entity_id, room_id, world_id, source_entity_id, type, data, created_at"
)
_COMPONENTS = f"""
SELECT {_COMPONENT_COLUMNS} FROM components
WHERE agent_id = $1 AND entity_id = any($2::uuid[])
  AND ($3::uuid IS NULL OR world_id = $3) AND ($4::uuid IS NULL OR source_entity_id = $4)
  AND ($5::text IS NULL OR type = $5)
ORDER BY created_at, id
"""
_ROOM_COLUMNS = "id, agent_id, name, source, type, channel_id, server_id, world_id, metadata"
_WORLD_COLUMNS = "id, agent_id, name, server_id, metadata"
_REL_COLUMNS = "id, agent_id, source_entity_id, target_entity_id, tags, metadata, created_at"


def _memory(r: asyncpg.Record, similarity: float | None = None) -> Memory:
    """A row as a Memory, unvalidated: the projector wrote it from a validated event."""
    embedding = r["embedding"]
    memory = Memory.model_construct(
        id=r["id"], entity_id=r["entity_id"], agent_id=r["agent_id"], room_id=r["room_id"],
        world_id=r["world_id"], content=r["content"], created_at=r["created_at"],
        embedding=[float(x) for x in embedding.to_list()] if embedding is not None else None,
        unique=r["unique"], metadata=r["metadata"],
    )  # fmt: skip
    if similarity is not None:
        memory.similarity = similarity  # type: ignore[attr-defined]  # an extra
    return memory


NEAR_DUPLICATE_PARTS = 2
NEAR_DUPLICATE_PART_MIN = 64
"""A batch's `unique` check is one HNSW search per memory, on one Postgres backend (one core):
a batch of at least 2 x 64 memories is checked in 2 parts side by side, on two connections."""


def _sortable(distance: float) -> float:
    """A distance to sort by, nearest first; NaN (a zero vector) last, as Postgres orders it."""
    return math.inf if math.isnan(distance) else float(distance)


def _fields(r: asyncpg.Record) -> dict[str, Any]:
    return dict(r.items())


class PostgresAgentReadModel:
    """AgentReadModel over the Postgres projections, for one agent."""

    def __init__(self, pool: asyncpg.Pool, agent_id: uuid.UUID) -> None:
        self.pool = pool
        self._agent_id = agent_id

    @property
    def agent_id(self) -> uuid.UUID:
        """The agent whose rows this read model returns."""
        return self._agent_id

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
        """Memories of a table, newest first (as ElizaOS's getMemories), at most `count`."""
        where = memory_filter(
            self._agent_id, table_name=table_name, room_id=room_id, entity_id=entity_id,
            world_id=world_id, start=start, end=end, unique=unique,
        )  # fmt: skip
        sql = f"SELECT {MEMORY_COLUMNS} FROM memories WHERE {where.sql()} "
        sql += "ORDER BY created_at DESC, id DESC"
        if count is not None:
            sql += f" LIMIT {where.param(count)}"
        if offset:
            sql += f" OFFSET {where.param(offset)}"
        return [_memory(r) for r in await self.pool.fetch(sql, *where.args)]

    async def get_memories_by_ids(
        self, memory_ids: list[uuid.UUID], table_name: str | None = None
    ) -> list[Memory]:
        """This agent's memories among `memory_ids` (unknown ids are left out), newest first."""
        if not memory_ids:
            return []
        where = memory_filter(self._agent_id, table_name=table_name)
        where.add("id = any({}::uuid[])", list(memory_ids))
        rows = await self.pool.fetch(
            f"SELECT {MEMORY_COLUMNS} FROM memories WHERE {where.sql()} "
            "ORDER BY created_at DESC, id DESC",
            *where.args,
        )
        return [_memory(r) for r in rows]

    async def get_memories_by_room_ids(
        self, room_ids: list[uuid.UUID], table_name: str = "messages", limit: int | None = None
    ) -> list[Memory]:
        """Memories of a table in any of the rooms, newest first, at most `limit`."""
        if not room_ids:
            return []
        where = memory_filter(self._agent_id, table_name=table_name, room_ids=room_ids)
        sql = f"SELECT {MEMORY_COLUMNS} FROM memories WHERE {where.sql()} "
        sql += "ORDER BY created_at DESC, id DESC"
        if limit is not None:
            sql += f" LIMIT {where.param(limit)}"
        return [_memory(r) for r in await self.pool.fetch(sql, *where.args)]

    async def count_memories(
        self, room_id: uuid.UUID | None = None, unique: bool = True, table_name: str | None = None
    ) -> int:
        """How many memories (of a room, of a table, only unique ones), as ElizaOS's
        countMemories."""
        where = memory_filter(self._agent_id, table_name=table_name, room_id=room_id,
                              unique=unique)  # fmt: skip
        value = await self.pool.fetchval(
            f"SELECT count(*) FROM memories WHERE {where.sql()}", *where.args
        )
        return int(value)

    async def get_memories_without_embedding(self, count: int) -> list[Memory]:
        """Up to `count` memories with text but no embedding, oldest first."""
        rows = await self.pool.fetch(
            f"SELECT {MEMORY_COLUMNS} FROM memories WHERE agent_id = $1 AND embedding IS NULL "
            "AND metadata @> '{\"embeddingPending\": true}' "
            "AND coalesce(content->>'text', '') <> '' ORDER BY created_at, id LIMIT $2",
            self._agent_id,
            count,
        )
        return [_memory(r) for r in rows]

    async def get_memory_by_id(self, memory_id: uuid.UUID) -> Memory | None:
        """One memory of this agent, or None."""
        row = await self.pool.fetchrow(
            f"SELECT {MEMORY_COLUMNS_WITH_EMBEDDING} FROM memories WHERE id = $1 AND agent_id = $2",
            memory_id,
            self._agent_id,
        )
        return _memory(row) if row else None

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
        exact: bool = False,
    ) -> list[Memory]:
        """Most similar first, similarity (1 - cosine distance) >= match_threshold.

        Through the HNSW index of the query's dimension with an iterative scan, merged with an
        exact scan of the memories the index maintainer has not indexed yet; when the index
        yields fewer than `count` rows, by exact distance (see vector_search). `exact` skips the
        index (what the benchmark compares the index's recall against)."""
        if not embedding or count <= 0:
            return []

        def where() -> Any:
            return memory_filter(
                self._agent_id, table_name=table_name, room_id=room_id, entity_id=entity_id,
                world_id=world_id, unique=unique,
            )  # fmt: skip

        rows: list[asyncpg.Record] = []
        async with self.pool.acquire() as conn:
            if not exact and is_indexed(len(embedding)):
                w = where()
                sql = complete_search_sql(w, embedding, count)
                async with conn.transaction():
                    await conn.execute(iterative_scan_settings(count))
                    rows = await conn.fetch(sql, *w.args)
                if sum(1 for r in rows if r["from_index"]) < count:
                    rows = []  # the index may have given up on a selective filter: exact
            if not rows:
                w = where()
                rows = await conn.fetch(search_sql(w, embedding, count, indexed=False), *w.args)
        nearest = sorted(rows, key=lambda r: _sortable(r["distance"]))[:count]
        scored = [(1.0 - float(r["distance"]), r) for r in nearest]
        hits = [(s, r) for s, r in scored if s >= match_threshold]  # NaN never passes
        hits.sort(key=lambda h: (h[0], h[1]["created_at"], h[1]["id"]), reverse=True)
        return [_memory(r, similarity=s) for s, r in hits]

    async def find_near_duplicates(
        self, memories: Sequence[Memory], table_name: str, threshold: float
    ) -> list[bool]:
        """For each of `memories` (in order): whether a memory of `table_name` with the same
        room and entity (and world, when it has one) at least `threshold` similar is stored, or
        comes earlier in `memories` (as if they were created one after another): ElizaOS's
        `unique` check, for a whole batch in one statement per embedding size. A memory without
        an embedding has none (False)."""
        found = [False] * len(memories)
        by_size: dict[int, list[int]] = {}
        for i, m in enumerate(memories):
            if m.embedding:
                by_size.setdefault(len(m.embedding), []).append(i)
        for dimension, positions in by_size.items():
            batch = [memories[i] for i in positions]
            args = (
                self._agent_id, table_name, positions,
                [vector_text(m.embedding or []) for m in batch], [m.room_id for m in batch],
                [m.world_id for m in batch], [m.entity_id for m in batch],
            )  # fmt: skip
            parts = max(1, min(NEAR_DUPLICATE_PARTS, len(positions) // NEAR_DUPLICATE_PART_MIN))
            answers = await asyncio.gather(*(
                self._near_duplicates(near_duplicates_sql(dimension), *args, positions[k::parts])
                for k in range(parts)
            ))  # fmt: skip
            for r in (r for rows in answers for r in rows):
                found[r["i"]] = any(
                    d is not None and 1.0 - float(d) >= threshold  # NaN never passes
                    for d in (r["stored_distance"], r["batch_distance"])
                )
        return found

    async def _near_duplicates(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(iterative_scan_settings(1, NEAR_DUPLICATE_EF_SEARCH))
            return list(await conn.fetch(sql, *args))

    async def get_embedding_dimension(self) -> int | None:
        """The embedding dimension recorded for this agent (embedding.dimension_set), or None."""
        value = await self.pool.fetchval(
            "SELECT dimension FROM agent_embedding_dimensions WHERE agent_id = $1", self._agent_id
        )
        return int(value) if value is not None else None

    async def count_memories_by_dimension(self) -> dict[int, int]:
        """How many of this agent's memories have an embedding, by its dimension."""
        rows = await self.pool.fetch(
            "SELECT vector_dims(embedding) AS dims, count(*) AS n FROM memories "
            "WHERE agent_id = $1 AND embedding IS NOT NULL GROUP BY 1",
            self._agent_id,
        )
        return {int(r["dims"]): int(r["n"]) for r in rows}

    async def get_memories_to_reembed(self, dimension: int, count: int) -> list[Memory]:
        """Up to `count` memories with text whose embedding is not of `dimension`, oldest first
        (what `elizabus memories reembed` works through)."""
        rows = await self.pool.fetch(
            f"SELECT {MEMORY_COLUMNS} FROM memories WHERE agent_id = $1 "
            "AND embedding IS NOT NULL AND vector_dims(embedding) <> $2 "
            "AND coalesce(content->>'text', '') <> '' ORDER BY created_at, id LIMIT $3",
            self._agent_id,
            dimension,
            count,
        )
        return [_memory(r) for r in rows]

    # --- entities and components -------------------------------------------------------------

    async def _components(
        self,
        entity_ids: list[uuid.UUID],
        world_id: uuid.UUID | None = None,
        source_entity_id: uuid.UUID | None = None,
        type: str | None = None,
    ) -> list[Component]:
        rows = await self.pool.fetch(
            _COMPONENTS, self._agent_id, entity_ids, world_id, source_entity_id, type
        )
        return [Component.model_validate(_fields(r)) for r in rows]

    async def get_entity_by_id(self, entity_id: uuid.UUID) -> Entity | None:
        """One entity of this agent (without components), or None."""
        row = await self.pool.fetchrow(
            "SELECT id, agent_id, names, metadata FROM entities WHERE id = $1 AND agent_id = $2",
            entity_id,
            self._agent_id,
        )
        return Entity.model_validate(_fields(row)) if row else None

    async def get_entities_for_room(
        self, room_id: uuid.UUID, include_components: bool = False
    ) -> list[Entity]:
        """The room's participants as entities, by id."""
        rows = await self.pool.fetch(
            "SELECT e.id, e.agent_id, e.names, e.metadata FROM participants p "
            "JOIN entities e ON e.id = p.entity_id AND e.agent_id = p.agent_id "
            "WHERE p.room_id = $1 AND p.agent_id = $2 ORDER BY e.id",
            room_id,
            self._agent_id,
        )
        entities = [Entity.model_validate(_fields(r)) for r in rows]
        if include_components and entities:
            by_entity: dict[uuid.UUID, list[Component]] = {}
            for c in await self._components([e.id for e in entities]):
                by_entity.setdefault(c.entity_id, []).append(c)
            for entity in entities:
                entity.components = by_entity.get(entity.id, [])
        return entities

    async def get_component(
        self,
        entity_id: uuid.UUID,
        type: str,
        world_id: uuid.UUID | None = None,
        source_entity_id: uuid.UUID | None = None,
    ) -> Component | None:
        """The entity's oldest component of a type (optionally of one world and one source)."""
        found = await self._components([entity_id], world_id, source_entity_id, type)
        return found[0] if found else None

    async def get_components(
        self,
        entity_id: uuid.UUID,
        world_id: uuid.UUID | None = None,
        source_entity_id: uuid.UUID | None = None,
    ) -> list[Component]:
        """An entity's components, oldest first."""
        return await self._components([entity_id], world_id, source_entity_id)

    # --- worlds, rooms, participants ---------------------------------------------------------

    async def get_world(self, world_id: uuid.UUID) -> World | None:
        """One world of this agent, or None."""
        row = await self.pool.fetchrow(
            f"SELECT {_WORLD_COLUMNS} FROM worlds WHERE id = $1 AND agent_id = $2",
            world_id,
            self._agent_id,
        )
        return World.model_validate(_fields(row)) if row else None

    async def get_all_worlds(self) -> list[World]:
        """Every world of this agent, by id."""
        rows = await self.pool.fetch(
            f"SELECT {_WORLD_COLUMNS} FROM worlds WHERE agent_id = $1 ORDER BY id", self._agent_id
        )
        return [World.model_validate(_fields(r)) for r in rows]

    async def get_room(self, room_id: uuid.UUID) -> Room | None:
        """One room of this agent, or None."""
        row = await self.pool.fetchrow(
            f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE id = $1 AND agent_id = $2",
            room_id,
            self._agent_id,
        )
        return Room.model_validate(_fields(row)) if row else None

    async def get_rooms(self, world_id: uuid.UUID) -> list[Room]:
        """The rooms of a world, by id."""
        rows = await self.pool.fetch(
            f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE world_id = $1 AND agent_id = $2 ORDER BY id",
            world_id,
            self._agent_id,
        )
        return [Room.model_validate(_fields(r)) for r in rows]

    async def get_rooms_for_participant(self, entity_id: uuid.UUID) -> list[uuid.UUID]:
        """The rooms the entity takes part in, by id."""
        rows = await self.pool.fetch(
            "SELECT room_id FROM participants WHERE entity_id = $1 AND agent_id = $2 "
            "ORDER BY room_id",
            entity_id,
            self._agent_id,
        )
        return [r["room_id"] for r in rows]

    async def get_participants_for_room(self, room_id: uuid.UUID) -> list[uuid.UUID]:
        """The entities taking part in the room, by id."""
        rows = await self.pool.fetch(
            "SELECT entity_id FROM participants WHERE room_id = $1 AND agent_id = $2 "
            "ORDER BY entity_id",
            room_id,
            self._agent_id,
        )
        return [r["entity_id"] for r in rows]

    async def get_participant_user_state(
        self, room_id: uuid.UUID, entity_id: uuid.UUID
    ) -> ParticipantState | None:
        """FOLLOWED, MUTED, or None (no state, or not a participant)."""
        state = await self.pool.fetchval(
            "SELECT user_state FROM participants "
            "WHERE room_id = $1 AND entity_id = $2 AND agent_id = $3",
            room_id,
            entity_id,
            self._agent_id,
        )
        return ParticipantState(state) if state else None

    # --- relationships -----------------------------------------------------------------------

    async def get_relationship(
        self, source_entity_id: uuid.UUID, target_entity_id: uuid.UUID
    ) -> Relationship | None:
        """The relationship from source to target, or None."""
        row = await self.pool.fetchrow(
            f"SELECT {_REL_COLUMNS} FROM relationships "
            "WHERE agent_id = $1 AND source_entity_id = $2 AND target_entity_id = $3",
            self._agent_id,
            source_entity_id,
            target_entity_id,
        )
        return Relationship.model_validate(_fields(row)) if row else None

    async def get_relationships(
        self, entity_id: uuid.UUID, tags: list[str] | None = None
    ) -> list[Relationship]:
        """Relationships with the entity on either side carrying all `tags`, oldest first."""
        rows = await self.pool.fetch(
            f"SELECT {_REL_COLUMNS} FROM relationships "
            "WHERE agent_id = $1 AND (source_entity_id = $2 OR target_entity_id = $2) "
            "AND tags @> $3::text[] ORDER BY created_at, id",
            self._agent_id,
            entity_id,
            list(tags or []),
        )
        return [Relationship.model_validate(_fields(r)) for r in rows]

    async def connection_state(
        self, entity_id: uuid.UUID, room_id: uuid.UUID, world_id: uuid.UUID
    ) -> ConnectionState:
        """One round trip that says which parts of a connection already exist."""
        r = await self.pool.fetchrow(_CONNECTION_SQL, self._agent_id, entity_id, room_id, world_id)
        assert r is not None  # a SELECT of scalar subqueries always returns its one row
        return ConnectionState(
            entity_names=list(r["names"]) if r["names"] is not None else None,
            entity_metadata=r["metadata"] or {},
            room_exists=r["room_exists"],
            room_source=r["room_source"],
            world_exists=r["world_exists"],
            participants=frozenset(r["participants"]),
        )


_CONNECTION_SQL = """
SELECT
  (SELECT names FROM entities WHERE id = $2 AND agent_id = $1) AS names,
  (SELECT metadata FROM entities WHERE id = $2 AND agent_id = $1) AS metadata,
  EXISTS (SELECT 1 FROM rooms WHERE id = $3 AND agent_id = $1) AS room_exists,
  (SELECT source FROM rooms WHERE id = $3 AND agent_id = $1) AS room_source,
  EXISTS (SELECT 1 FROM worlds WHERE id = $4 AND agent_id = $1) AS world_exists,
  ARRAY(SELECT entity_id FROM participants
        WHERE room_id = $3 AND agent_id = $1 AND entity_id IN ($1, $2)) AS participants
"""
