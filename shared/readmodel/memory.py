"""The in-memory AgentReadModel: folds an InMemoryEventStore's events on every query.

It is the test double of `PostgresAgentReadModel` and applies each event as the Postgres
projections do (shared/projections/), so both answer every query alike: same filters, same
order, cosine similarity computed in Python instead of by pgvector.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.eventstore.memory import InMemoryEventStore
from shared.plugin import Memory
from shared.readmodel.protocol import ConnectionState
from shared.records import Component, Entity, ParticipantState, Relationship, Room, World

Row = dict[str, Any]


def cosine_similarity(a: list[float], b: list[float]) -> float:
    """1 - cosine distance, as pgvector's `1 - (a <=> b)`; NaN when either vector is zero."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else math.nan


def similar_to_earlier(memories: Sequence[Memory], i: int, threshold: float) -> bool:
    """Whether a memory before `memories[i]` has its room, entity and (when it has one) world,
    and an embedding of its size at least `threshold` similar (ElizaOS's `unique` check within a
    batch created as one memory after another)."""
    memory = memories[i]
    if not memory.embedding:
        return False
    return any(
        earlier.embedding is not None and len(earlier.embedding) == len(memory.embedding)
        and earlier.room_id == memory.room_id and earlier.entity_id == memory.entity_id
        and (memory.world_id is None or earlier.world_id == memory.world_id)
        and cosine_similarity(earlier.embedding, memory.embedding) >= threshold
        for earlier in memories[:i]
    )  # fmt: skip


@dataclass
class _Tables:
    """The projection tables of one agent, as dicts keyed like the Postgres primary keys."""

    entities: dict[str, Row] = field(default_factory=dict)
    worlds: dict[str, Row] = field(default_factory=dict)
    rooms: dict[str, Row] = field(default_factory=dict)
    participants: dict[tuple[str, str], Row] = field(default_factory=dict)
    memories: dict[str, Row] = field(default_factory=dict)
    embedding_dimension: int | None = None
    components: dict[str, Row] = field(default_factory=dict)
    relationships: dict[tuple[str, str], Row] = field(default_factory=dict)

    def apply(self, kind: str, d: Row) -> None:
        """Apply one event's data the way its projection statement does."""
        if kind in ("entity.created", "entity.updated"):
            row = self.entities.setdefault(d["id"], {"id": d["id"], "names": [], "metadata": {}})
            row["names"] = row["names"] + [n for n in d["names"] if n not in row["names"]]
            row["metadata"] = row["metadata"] | (d.get("metadata") or {})
        elif kind == "world.created":
            self.worlds.setdefault(d["id"], d)
        elif kind == "world.updated":
            self.worlds[d["id"]] = d
        elif kind == "room.created":
            self.rooms.setdefault(d["id"], d)
        elif kind == "room.updated":
            self.rooms[d["id"]] = d
        elif kind == "room.deleted":
            self.rooms.pop(d["id"], None)
            self.participants = {k: v for k, v in self.participants.items() if k[0] != d["id"]}
            self.memories = {k: v for k, v in self.memories.items() if v["room_id"] != d["id"]}
        elif kind == "participant.added":
            key = (d["room_id"], d["entity_id"])
            self.participants.setdefault(key, {**d, "state": None})
        elif kind == "participant.removed":
            self.participants.pop((d["room_id"], d["entity_id"]), None)
        elif kind == "participant.state_changed":
            part = self.participants.get((d["room_id"], d["entity_id"]))
            if part is not None:
                part["state"] = d.get("state")
        elif kind == "memory.created":
            self.memories.setdefault(d["id"], d)
        elif kind == "memory.deleted":
            self.memories.pop(d["id"], None)
        elif kind == "memory.embedding_added":
            if d["id"] in self.memories:
                self.memories[d["id"]] = {**self.memories[d["id"]], "embedding": d["embedding"]}
        elif kind == "memory.updated":
            if d["id"] in self.memories:
                changed = {k: d[k] for k in ("content", "metadata", "embedding")
                           if d.get(k) is not None}  # fmt: skip
                self.memories[d["id"]] = {**self.memories[d["id"]], **changed}
        elif kind == "memory.many_deleted":
            for memory_id in d["ids"]:
                self.memories.pop(memory_id, None)
        elif kind == "memory.room_cleared":
            self.memories = {
                k: v for k, v in self.memories.items()
                if not (v["room_id"] == d["room_id"]
                        and v.get("table_name", "messages") == d["table_name"])
            }  # fmt: skip
        elif kind == "memory.agent_cleared":
            self.memories = {}
        elif kind == "embedding.dimension_set":
            self.embedding_dimension = int(d["dimension"])
        elif kind == "component.created":
            self.components.setdefault(d["id"], d)
        elif kind == "component.updated":
            if d["id"] in self.components:
                created_at = self.components[d["id"]]["created_at"]
                self.components[d["id"]] = {**d, "created_at": created_at}
        elif kind == "component.deleted":
            self.components.pop(d["id"], None)
        elif kind == "relationship.created":
            self.relationships.setdefault((d["source_entity_id"], d["target_entity_id"]), d)
        elif kind == "relationship.updated":
            key = (d["source_entity_id"], d["target_entity_id"])
            if key in self.relationships:
                rel = self.relationships[key]
                self.relationships[key] = {**rel, "tags": d["tags"], "metadata": d["metadata"]}


def _uuid(value: Any) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _memory(d: Row, similarity: float | None = None, embedding: bool = False) -> Memory:
    memory = Memory(
        id=d["id"], entity_id=d["entity_id"], agent_id=d["agent_id"], room_id=d["room_id"],
        world_id=d.get("world_id"), content=d["content"],
        embedding=d.get("embedding") if embedding else None,
        created_at=d["created_at"], unique=d.get("unique", True), metadata=d.get("metadata") or {},
    )  # fmt: skip
    if similarity is not None:
        memory.similarity = similarity  # type: ignore[attr-defined]  # Memory allows extras
    return memory


def _component(d: Row) -> Component:
    fields = ("id", "entity_id", "agent_id", "room_id", "world_id", "source_entity_id", "type")
    return Component(**{k: d.get(k) for k in fields}, data=d.get("data") or {},
                     created_at=d["created_at"])  # fmt: skip


class InMemoryAgentReadModel:
    """AgentReadModel over an InMemoryEventStore, for one agent (test double of Postgres)."""

    def __init__(self, store: InMemoryEventStore, agent_id: uuid.UUID) -> None:
        self.store = store
        self._agent_id = agent_id

    @property
    def agent_id(self) -> uuid.UUID:
        """The agent whose rows this read model returns."""
        return self._agent_id

    def _tables(self) -> _Tables:
        tables = _Tables()
        agent = str(self._agent_id)
        for event in self.store.events:
            if event.data.get("agent_id") == agent:
                tables.apply(event.type, event.data)
        return tables

    # --- memories ---------------------------------------------------------------------------

    def _matching(
        self,
        table_name: str | None,
        room_id: uuid.UUID | None,
        entity_id: uuid.UUID | None,
        world_id: uuid.UUID | None,
        unique: bool = False,
    ) -> list[Row]:
        want = {"room_id": room_id, "entity_id": entity_id, "world_id": world_id}
        return [
            d
            for d in self._tables().memories.values()
            if (table_name is None or d.get("table_name", "messages") == table_name)
            and all(v is None or d.get(k) == str(v) for k, v in want.items())
            and (not unique or d.get("unique", True))
        ]

    @staticmethod
    def _newest_first(rows: list[Row]) -> list[Row]:
        return sorted(rows, key=lambda d: (d["created_at"], d["id"]), reverse=True)

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
        """Memories of a table, newest first, at most `count` (see AgentReadModel)."""
        rows = self._newest_first([
            d
            for d in self._matching(table_name, room_id, entity_id, world_id, unique)
            if (start is None or d["created_at"] >= start)
            and (end is None or d["created_at"] <= end)
        ])  # fmt: skip
        rows = rows[offset or 0 :]
        return [_memory(d) for d in (rows if count is None else rows[:count])]

    async def get_memories_by_ids(
        self, memory_ids: list[uuid.UUID], table_name: str | None = None
    ) -> list[Memory]:
        """The agent's memories among `memory_ids`, newest first (see AgentReadModel)."""
        wanted = {str(i) for i in memory_ids}
        rows = [d for d in self._matching(table_name, None, None, None) if d["id"] in wanted]
        return [_memory(d) for d in self._newest_first(rows)]

    async def get_memories_by_room_ids(
        self, room_ids: list[uuid.UUID], table_name: str = "messages", limit: int | None = None
    ) -> list[Memory]:
        """Memories of a table in any of the rooms, newest first, at most `limit`."""
        rooms = {str(r) for r in room_ids}
        rows = [d for d in self._matching(table_name, None, None, None) if d["room_id"] in rooms]
        rows = self._newest_first(rows)
        return [_memory(d) for d in (rows if limit is None else rows[:limit])]

    async def count_memories(
        self, room_id: uuid.UUID | None = None, unique: bool = True, table_name: str | None = None
    ) -> int:
        """How many memories (see AgentReadModel)."""
        return len(self._matching(table_name, room_id, None, None, unique))

    async def get_embedding_dimension(self) -> int | None:
        """The embedding dimension recorded for this agent, or None."""
        return self._tables().embedding_dimension

    async def count_memories_by_dimension(self) -> dict[int, int]:
        """How many of the agent's memories have an embedding, by its dimension."""
        counts: dict[int, int] = {}
        for d in self._tables().memories.values():
            if d.get("embedding") is not None:
                counts[len(d["embedding"])] = counts.get(len(d["embedding"]), 0) + 1
        return counts

    async def get_memories_to_reembed(self, dimension: int, count: int) -> list[Memory]:
        """Memories with text whose embedding is not of `dimension`, oldest first."""
        rows = [
            d
            for d in self._tables().memories.values()
            if d.get("embedding") is not None and len(d["embedding"]) != dimension
            and str((d.get("content") or {}).get("text") or "")
        ]  # fmt: skip
        rows.sort(key=lambda d: (d["created_at"], d["id"]))
        return [_memory(d) for d in rows[:count]]

    async def get_memories_without_embedding(self, count: int) -> list[Memory]:
        """Up to `count` memories with text but no embedding, oldest first."""
        rows = [
            d
            for d in self._tables().memories.values()
            if d.get("embedding") is None
            and (d.get("metadata") or {}).get("embeddingPending") is True
            and str((d.get("content") or {}).get("text") or "")
        ]
        rows.sort(key=lambda d: (d["created_at"], d["id"]))
        return [_memory(d) for d in rows[:count]]

    async def get_memory_by_id(self, memory_id: uuid.UUID) -> Memory | None:
        """One memory of this agent, or None."""
        row = self._tables().memories.get(str(memory_id))
        return _memory(row, embedding=True) if row else None

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
        """Most similar memories first, similarity >= match_threshold (see AgentReadModel)."""
        if count <= 0:
            return []
        scored: list[tuple[float, Row]] = []
        for d in self._matching(table_name, room_id, entity_id, world_id, unique):
            vector = d.get("embedding")
            if not vector or len(vector) != len(embedding):
                continue
            similarity = cosine_similarity(vector, embedding)
            if similarity >= match_threshold:  # NaN (a zero vector) never passes
                scored.append((similarity, d))
        scored.sort(key=lambda s: (s[0], s[1]["created_at"], s[1]["id"]), reverse=True)
        return [_memory(d, similarity) for similarity, d in scored[:count]]

    async def find_near_duplicates(
        self, memories: Sequence[Memory], table_name: str, threshold: float
    ) -> list[bool]:
        """ElizaOS's `unique` check for a batch (see NearDuplicateFinder), by searching."""
        found = []
        for i, memory in enumerate(memories):
            if not memory.embedding:
                found.append(False)
                continue
            stored = await self.search_memories(
                embedding=memory.embedding, table_name=table_name, match_threshold=threshold,
                count=1, room_id=memory.room_id, world_id=memory.world_id,
                entity_id=memory.entity_id,
            )  # fmt: skip
            found.append(bool(stored) or similar_to_earlier(memories, i, threshold))
        return found

    # --- entities and components -------------------------------------------------------------

    def _entity(self, tables: _Tables, row: Row, include_components: bool) -> Entity:
        components = (
            sorted(
                (_component(c) for c in tables.components.values() if c["entity_id"] == row["id"]),
                key=lambda c: (c.created_at, str(c.id)),
            )
            if include_components
            else []
        )
        return Entity(id=row["id"], agent_id=self._agent_id, names=row["names"],
                      metadata=row["metadata"], components=components)  # fmt: skip

    async def get_entity_by_id(self, entity_id: uuid.UUID) -> Entity | None:
        """One entity of this agent (without components), or None."""
        tables = self._tables()
        row = tables.entities.get(str(entity_id))
        return self._entity(tables, row, False) if row else None

    async def get_entities_for_room(
        self, room_id: uuid.UUID, include_components: bool = False
    ) -> list[Entity]:
        """The room's participants as entities, by id."""
        tables = self._tables()
        members = sorted(e for r, e in tables.participants if r == str(room_id))
        return [
            self._entity(tables, tables.entities[e], include_components)
            for e in members
            if e in tables.entities
        ]

    async def get_components(
        self,
        entity_id: uuid.UUID,
        world_id: uuid.UUID | None = None,
        source_entity_id: uuid.UUID | None = None,
    ) -> list[Component]:
        """An entity's components, oldest first, optionally of one world and one source."""
        want = {"entity_id": entity_id, "world_id": world_id, "source_entity_id": source_entity_id}
        found = [
            _component(c)
            for c in self._tables().components.values()
            if all(v is None or c.get(k) == str(v) for k, v in want.items())
        ]
        return sorted(found, key=lambda c: (c.created_at, str(c.id)))

    async def get_component(
        self,
        entity_id: uuid.UUID,
        type: str,
        world_id: uuid.UUID | None = None,
        source_entity_id: uuid.UUID | None = None,
    ) -> Component | None:
        """The entity's oldest component of a type (optionally of one world and one source)."""
        found = await self.get_components(entity_id, world_id, source_entity_id)
        return next((c for c in found if c.type == type), None)

    # --- worlds, rooms, participants ---------------------------------------------------------

    async def get_world(self, world_id: uuid.UUID) -> World | None:
        """One world of this agent, or None."""
        row = self._tables().worlds.get(str(world_id))
        return World.model_validate(row) if row else None

    async def get_all_worlds(self) -> list[World]:
        """Every world of this agent, by id."""
        rows = sorted(self._tables().worlds.values(), key=lambda d: d["id"])
        return [World.model_validate(d) for d in rows]

    async def get_room(self, room_id: uuid.UUID) -> Room | None:
        """One room of this agent, or None."""
        row = self._tables().rooms.get(str(room_id))
        return Room.model_validate(row) if row else None

    async def get_rooms(self, world_id: uuid.UUID) -> list[Room]:
        """The rooms of a world, by id."""
        rows = [d for d in self._tables().rooms.values() if d.get("world_id") == str(world_id)]
        return [Room.model_validate(d) for d in sorted(rows, key=lambda d: d["id"])]

    async def get_rooms_for_participant(self, entity_id: uuid.UUID) -> list[uuid.UUID]:
        """The rooms the entity takes part in, by id."""
        rooms = sorted(r for r, e in self._tables().participants if e == str(entity_id))
        return [uuid.UUID(r) for r in rooms]

    async def get_participants_for_room(self, room_id: uuid.UUID) -> list[uuid.UUID]:
        """The entities taking part in the room, by id."""
        members = sorted(e for r, e in self._tables().participants if r == str(room_id))
        return [uuid.UUID(e) for e in members]

    async def get_participant_user_state(
        self, room_id: uuid.UUID, entity_id: uuid.UUID
    ) -> ParticipantState | None:
        """FOLLOWED, MUTED, or None (no state, or not a participant)."""
        part = self._tables().participants.get((str(room_id), str(entity_id)))
        return ParticipantState(part["state"]) if part and part["state"] else None

    # --- relationships -----------------------------------------------------------------------

    async def get_relationship(
        self, source_entity_id: uuid.UUID, target_entity_id: uuid.UUID
    ) -> Relationship | None:
        """The relationship from source to target, or None."""
        row = self._tables().relationships.get((str(source_entity_id), str(target_entity_id)))
        return Relationship.model_validate(row) if row else None

    async def get_relationships(
        self, entity_id: uuid.UUID, tags: list[str] | None = None
    ) -> list[Relationship]:
        """Relationships with the entity on either side carrying all `tags`, oldest first."""
        e = str(entity_id)
        rows = [
            d
            for d in self._tables().relationships.values()
            if e in (d["source_entity_id"], d["target_entity_id"])
            and set(tags or ()) <= set(d.get("tags") or ())
        ]
        rows.sort(key=lambda d: (d["created_at"], d["id"]))
        return [Relationship.model_validate(d) for d in rows]

    async def connection_state(
        self, entity_id: uuid.UUID, room_id: uuid.UUID, world_id: uuid.UUID
    ) -> ConnectionState:
        """Which parts of a connection the double's log already has."""
        tables = self._tables()
        entity = tables.entities.get(str(entity_id))
        members = {uuid.UUID(e) for r, e in tables.participants if r == str(room_id)}
        return ConnectionState(
            entity_names=list(entity["names"]) if entity else None,
            entity_metadata=dict(entity["metadata"]) if entity else {},
            room_exists=str(room_id) in tables.rooms,
            room_source=tables.rooms[str(room_id)].get("source")
            if str(room_id) in tables.rooms
            else None,
            world_exists=str(world_id) in tables.worlds,
            participants=frozenset(members & {self._agent_id, entity_id}),
        )
