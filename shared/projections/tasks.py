"""The `tasks` projection: created, updated (metadata merged), deleted, claimed (last run).

Every change is keyed by the task id and the agent of the event: an agent's event never changes
another agent's task, whatever id it names."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from shared.events import RecordedEvent

Row = tuple[Any, ...]

_CREATE = """
INSERT INTO tasks (id, agent_id, name, description, room_id, world_id, entity_id, tags, metadata,
                   created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT (id) DO NOTHING
"""
_UPDATE = """
UPDATE tasks SET name = coalesce($2, name), description = coalesce($3, description),
                 tags = coalesce($4, tags), metadata = metadata || $5
WHERE id = $1 AND agent_id = $6
"""
_DELETE = "DELETE FROM tasks WHERE id = $1 AND agent_id = $2"
_CLAIM = """
UPDATE tasks SET updated_at = $2, metadata = metadata || jsonb_build_object('updatedAt', $2::bigint)
WHERE id = $1 AND agent_id = $3
"""


def _u(value: Any) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _created(e: RecordedEvent) -> Row:
    d = e.data
    return (
        _u(d["id"]), _u(d["agent_id"]), d["name"], d.get("description", ""),
        _u(d.get("room_id")), _u(d.get("world_id")), _u(d.get("entity_id")),
        list(d.get("tags") or []), d.get("metadata") or {}, d["created_at"],
    )  # fmt: skip


def _updated(e: RecordedEvent) -> Row:
    d = e.data
    return (
        _u(d["id"]),
        d.get("name"),
        d.get("description"),
        d.get("tags"),
        d.get("metadata") or {},
        _u(d["agent_id"]),
    )


def _deleted(e: RecordedEvent) -> Row:
    return (_u(e.data["id"]), _u(e.data["agent_id"]))


def _claimed(e: RecordedEvent) -> Row:
    return (_u(e.data["id"]), e.data["at"], _u(e.data["agent_id"]))


TASK_ROUTES: dict[str, list[tuple[str, str, Callable[[RecordedEvent], Row]]]] = {
    "task.created": [("tasks", _CREATE, _created)],
    "task.updated": [("tasks", _UPDATE, _updated)],
    "task.deleted": [("tasks", _DELETE, _deleted)],
    "task.claimed": [("tasks", _CLAIM, _claimed)],
}
