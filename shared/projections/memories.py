"""Projections of the memory API's events beyond `memory.created` (shared/events.py): updates,
deletes by ids, by room and table, of a whole agent, and the agent's embedding dimension.

As every projection, each statement is idempotent, keyed by the event's agent (an agent's event
never changes another agent's rows), and uses only the event's own data, so a rebuild from the
log gives the same rows. The memory statements go to the `memories` table, so the projector's
per-table event order orders them after the creations they follow.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from shared.events import RecordedEvent

Row = tuple[Any, ...]

_MEMORY_UPDATE = """
UPDATE memories SET content = coalesce($3, content), metadata = coalesce($4, metadata),
                    embedding = coalesce($5, embedding), indexed = indexed AND $5 IS NULL
WHERE id = $1 AND agent_id = $2
"""
# A new embedding leaves the HNSW index (`indexed` false) until the index maintainer puts it
# back (shared/projections/vector_index.py): the append never inserts into the HNSW graph.
_MEMORIES_DELETE = "DELETE FROM memories WHERE agent_id = $1 AND id = any($2::uuid[])"
_ROOM_TABLE_DELETE = "DELETE FROM memories WHERE agent_id = $1 AND room_id = $2 AND table_name = $3"
_AGENT_MEMORIES_DELETE = "DELETE FROM memories WHERE agent_id = $1"
_DIMENSION_UPSERT = """
INSERT INTO agent_embedding_dimensions (agent_id, dimension, set_at) VALUES ($1, $2, $3)
ON CONFLICT (agent_id) DO UPDATE SET dimension = excluded.dimension, set_at = excluded.set_at
"""


def _u(value: Any) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _updated(e: RecordedEvent) -> Row:
    d = e.data
    embedding = d.get("embedding")
    return (
        _u(d["id"]), _u(d["agent_id"]), d.get("content"), d.get("metadata"),
        list(embedding) if embedding is not None else None,
    )  # fmt: skip


def _many_deleted(e: RecordedEvent) -> Row:
    return _u(e.data["agent_id"]), [uuid.UUID(i) for i in e.data["ids"]]


def _room_cleared(e: RecordedEvent) -> Row:
    d = e.data
    return _u(d["agent_id"]), _u(d["room_id"]), d["table_name"]


def _agent_cleared(e: RecordedEvent) -> Row:
    return (_u(e.data["agent_id"]),)


def _dimension(e: RecordedEvent) -> Row:
    d = e.data
    return _u(d["agent_id"]), int(d["dimension"]), int(d["at"])


MEMORY_TABLES: tuple[str, ...] = ("agent_embedding_dimensions",)
"""Tables these routes write that the base projection has not: rebuilt and truncated with it."""

MEMORY_ROUTES: dict[str, list[tuple[str, str, Callable[[RecordedEvent], Row]]]] = {
    "memory.updated": [("memories", _MEMORY_UPDATE, _updated)],
    "memory.many_deleted": [("memories", _MEMORIES_DELETE, _many_deleted)],
    "memory.room_cleared": [("memories", _ROOM_TABLE_DELETE, _room_cleared)],
    "memory.agent_cleared": [("memories", _AGENT_MEMORIES_DELETE, _agent_cleared)],
    "embedding.dimension_set": [("agent_embedding_dimensions", _DIMENSION_UPSERT, _dimension)],
}
