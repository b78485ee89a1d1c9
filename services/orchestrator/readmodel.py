"""Queries the orchestrator makes of the projections: recent messages, what a connection lacks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg


@dataclass(frozen=True)
class MessageView:
    """A message memory as providers see it."""

    id: uuid.UUID
    entity_id: uuid.UUID
    author: str
    text: str
    created_at: int
    content: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectionState:
    """What the read models already know of an entity, its room and world."""

    entity_names: list[str] | None
    entity_metadata: dict[str, Any]
    room_exists: bool
    world_exists: bool
    participants: frozenset[uuid.UUID]


class ReadModel(Protocol):
    """The projection queries the message pipeline needs."""

    async def recent_messages(
        self, agent_id: uuid.UUID, room_id: uuid.UUID, limit: int
    ) -> list[MessageView]: ...

    async def connection_state(
        self, agent_id: uuid.UUID, entity_id: uuid.UUID, room_id: uuid.UUID, world_id: uuid.UUID
    ) -> ConnectionState: ...


_RECENT_SQL = """
SELECT m.id, m.entity_id, m.content, m.created_at, e.names
FROM memories m LEFT JOIN entities e ON e.id = m.entity_id
WHERE m.agent_id = $1 AND m.table_name = 'messages' AND m.room_id = $2
ORDER BY m.created_at DESC, m.id DESC LIMIT $3
"""

_CONNECTION_SQL = """
SELECT
  (SELECT names FROM entities WHERE id = $2) AS names,
  (SELECT metadata FROM entities WHERE id = $2) AS metadata,
  EXISTS (SELECT 1 FROM rooms WHERE id = $3) AS room_exists,
  EXISTS (SELECT 1 FROM worlds WHERE id = $4) AS world_exists,
  ARRAY(SELECT entity_id FROM participants WHERE room_id = $3 AND entity_id IN ($1, $2))
    AS participants
"""


class PostgresReadModel:
    """ReadModel over the Postgres projections."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def recent_messages(
        self, agent_id: uuid.UUID, room_id: uuid.UUID, limit: int
    ) -> list[MessageView]:
        """The room's last `limit` messages, oldest first."""
        rows = await self.pool.fetch(_RECENT_SQL, agent_id, room_id, limit)
        return [
            MessageView(
                id=r["id"],
                entity_id=r["entity_id"],
                author=(r["names"] or ["Unknown"])[0],
                text=str(r["content"].get("text", "")),
                created_at=r["created_at"],
                content=r["content"],
            )
            for r in reversed(rows)
        ]

    async def connection_state(
        self, agent_id: uuid.UUID, entity_id: uuid.UUID, room_id: uuid.UUID, world_id: uuid.UUID
    ) -> ConnectionState:
        """One round trip that says which parts of a connection already exist."""
        r = await self.pool.fetchrow(_CONNECTION_SQL, agent_id, entity_id, room_id, world_id)
        assert r is not None
        return ConnectionState(
            entity_names=list(r["names"]) if r["names"] is not None else None,
            entity_metadata=r["metadata"] or {},
            room_exists=r["room_exists"],
            world_exists=r["world_exists"],
            participants=frozenset(r["participants"]),
        )
