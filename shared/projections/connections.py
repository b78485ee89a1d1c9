"""Projections of the connection events of shared/connection_events.py: room and world updates
and deletes, participant removal and state, relationships, components, memory deletion.

Each statement is idempotent and uses only its event's data, so a rebuild from the log gives the
same rows. Each is keyed by the event's agent too: an agent's event never changes another
agent's row, whatever id it names (an upsert onto another agent's id changes nothing). Every
statement touching rows a creation wrote goes to the creation's table, so the projector's
per-table event order is all that orders them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from shared.events import RecordedEvent

Row = tuple[Any, ...]

_ROOM_UPSERT = """
INSERT INTO rooms (id, agent_id, name, source, type, channel_id, server_id, world_id, metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (id) DO UPDATE SET
  name = excluded.name, source = excluded.source, type = excluded.type,
  channel_id = excluded.channel_id, server_id = excluded.server_id,
  world_id = excluded.world_id, metadata = excluded.metadata
WHERE rooms.agent_id = excluded.agent_id
"""
_ROOM_DELETE = "DELETE FROM rooms WHERE id = $1 AND agent_id = $2"
_ROOM_PARTICIPANTS_DELETE = "DELETE FROM participants WHERE room_id = $1 AND agent_id = $2"
_ROOM_MEMORIES_DELETE = "DELETE FROM memories WHERE room_id = $1 AND agent_id = $2"
_WORLD_UPSERT = """
INSERT INTO worlds (id, agent_id, name, server_id, metadata) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET
  name = excluded.name, server_id = excluded.server_id, metadata = excluded.metadata
WHERE worlds.agent_id = excluded.agent_id
"""
_PARTICIPANT_DELETE = (
    "DELETE FROM participants WHERE room_id = $1 AND entity_id = $2 AND agent_id = $3"
)
_PARTICIPANT_STATE = """
UPDATE participants SET user_state = $3 WHERE room_id = $1 AND entity_id = $2 AND agent_id = $4
"""
_MEMORY_DELETE = "DELETE FROM memories WHERE id = $1 AND agent_id = $2"
_MEMORY_EMBEDDING = (  # indexed later by the index maintainer (shared/projections/vector_index.py)
    "UPDATE memories SET embedding = $3, indexed = false WHERE id = $1 AND agent_id = $2"
)
_COMPONENT_INSERT = """
INSERT INTO components (id, agent_id, entity_id, room_id, world_id, source_entity_id, type, data,
                        created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING
"""
_COMPONENT_UPDATE = """
UPDATE components SET entity_id = $3, room_id = $4, world_id = $5, source_entity_id = $6,
                      type = $7, data = $8
WHERE id = $1 AND agent_id = $2
"""
_COMPONENT_DELETE = "DELETE FROM components WHERE id = $1 AND agent_id = $2"
_RELATIONSHIP_INSERT = """
INSERT INTO relationships (id, agent_id, source_entity_id, target_entity_id, tags, metadata,
                           created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING
"""
_RELATIONSHIP_UPDATE = """
UPDATE relationships SET tags = $4, metadata = $5
WHERE agent_id = $1 AND source_entity_id = $2 AND target_entity_id = $3
"""


def _u(value: Any) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _room(e: RecordedEvent) -> Row:
    d = e.data
    return (
        _u(d["id"]), _u(d["agent_id"]), d.get("name"), d["source"], d["type"],
        d.get("channel_id"), d.get("server_id"), _u(d.get("world_id")), d.get("metadata") or {},
    )  # fmt: skip


def _id_agent(e: RecordedEvent) -> Row:
    return (_u(e.data["id"]), _u(e.data["agent_id"]))


def _world(e: RecordedEvent) -> Row:
    d = e.data
    return (_u(d["id"]), _u(d["agent_id"]), d["name"], d["server_id"], d.get("metadata") or {})


def _participant(e: RecordedEvent) -> Row:
    return (_u(e.data["room_id"]), _u(e.data["entity_id"]), _u(e.data["agent_id"]))


def _participant_state(e: RecordedEvent) -> Row:
    d = e.data
    return (_u(d["room_id"]), _u(d["entity_id"]), d.get("state"), _u(d["agent_id"]))


def _component_fields(d: dict[str, Any]) -> Row:
    return (
        _u(d["id"]), _u(d["agent_id"]), _u(d["entity_id"]), _u(d.get("room_id")),
        _u(d.get("world_id")), _u(d.get("source_entity_id")), d["type"], d.get("data") or {},
    )  # fmt: skip


def _component_created(e: RecordedEvent) -> Row:
    return (*_component_fields(e.data), e.data["created_at"])


def _component_updated(e: RecordedEvent) -> Row:
    return _component_fields(e.data)


def _memory_embedding(e: RecordedEvent) -> Row:
    return _u(e.data["id"]), _u(e.data["agent_id"]), list(e.data["embedding"])


def _relationship_created(e: RecordedEvent) -> Row:
    d = e.data
    return (
        _u(d["id"]), _u(d["agent_id"]), _u(d["source_entity_id"]), _u(d["target_entity_id"]),
        list(d.get("tags") or []), d.get("metadata") or {}, d["created_at"],
    )  # fmt: skip


def _relationship_updated(e: RecordedEvent) -> Row:
    d = e.data
    return (
        _u(d["agent_id"]), _u(d["source_entity_id"]), _u(d["target_entity_id"]),
        list(d.get("tags") or []), d.get("metadata") or {},
    )  # fmt: skip


# Tables these routes write that the base projection has not: rebuilt and truncated with it.
CONNECTION_TABLES: tuple[str, ...] = ("components", "relationships")

CONNECTION_ROUTES: dict[str, list[tuple[str, str, Callable[[RecordedEvent], Row]]]] = {
    "room.updated": [("rooms", _ROOM_UPSERT, _room)],
    "room.deleted": [
        ("participants", _ROOM_PARTICIPANTS_DELETE, _id_agent),
        ("memories", _ROOM_MEMORIES_DELETE, _id_agent),
        ("rooms", _ROOM_DELETE, _id_agent),
    ],
    "world.updated": [("worlds", _WORLD_UPSERT, _world)],
    "participant.removed": [("participants", _PARTICIPANT_DELETE, _participant)],
    "participant.state_changed": [("participants", _PARTICIPANT_STATE, _participant_state)],
    "memory.deleted": [("memories", _MEMORY_DELETE, _id_agent)],
    "memory.embedding_added": [("memories", _MEMORY_EMBEDDING, _memory_embedding)],
    "component.created": [("components", _COMPONENT_INSERT, _component_created)],
    "component.updated": [("components", _COMPONENT_UPDATE, _component_updated)],
    "component.deleted": [("components", _COMPONENT_DELETE, _id_agent)],
    "relationship.created": [("relationships", _RELATIONSHIP_INSERT, _relationship_created)],
    "relationship.updated": [("relationships", _RELATIONSHIP_UPDATE, _relationship_updated)],
}
