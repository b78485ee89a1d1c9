"""Projects events into the Postgres read models (memories, entities, rooms, worlds, ...).

Each event type maps to rows of one table. Events are grouped by table, keeping their order within
a table, and each table gets one `executemany` per batch: a message's whole run is projected in a
handful of round trips. Every statement is idempotent and uses only the event's own data, so
replaying the log gives the same rows.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from shared.events import RecordedEvent
from shared.eventstore.protocol import ProjectionStep
from shared.projections.connections import CONNECTION_ROUTES, CONNECTION_TABLES
from shared.projections.memories import MEMORY_ROUTES, MEMORY_TABLES
from shared.projections.tasks import TASK_ROUTES

Row = tuple[Any, ...]

_ENTITY_UPSERT = """
INSERT INTO entities (id, agent_id, names, metadata) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET
  names = ARRAY(SELECT n FROM unnest(entities.names || excluded.names) WITH ORDINALITY AS t(n, i)
                GROUP BY n ORDER BY min(i)),
  metadata = entities.metadata || excluded.metadata
WHERE entities.agent_id = excluded.agent_id
"""
_WORLD_INSERT = """
INSERT INTO worlds (id, agent_id, name, server_id, metadata) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO NOTHING
"""
_ROOM_INSERT = """
INSERT INTO rooms (id, agent_id, name, source, type, channel_id, server_id, world_id, metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING
"""
_PARTICIPANT_INSERT = """
INSERT INTO participants (room_id, entity_id, agent_id) VALUES ($1, $2, $3)
ON CONFLICT (room_id, entity_id) DO NOTHING
"""
_MEMORY_INSERT = """
INSERT INTO memories (id, agent_id, entity_id, room_id, world_id, table_name, content, embedding,
                      "unique", created_at, metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING
"""
_LOG_INSERT = """
INSERT INTO logs (id, agent_id, entity_id, room_id, run_id, type, body, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING
"""
_RUN_UPSERT = """
INSERT INTO runs (run_id, agent_id, message_id, room_id, entity_id, source, status, started_at,
                  ended_at, duration_ms, error)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (run_id) DO UPDATE SET
  status = excluded.status,
  entity_id = coalesce(excluded.entity_id, runs.entity_id),
  source = coalesce(excluded.source, runs.source),
  started_at = coalesce(excluded.started_at, runs.started_at),
  ended_at = coalesce(excluded.ended_at, runs.ended_at),
  duration_ms = coalesce(excluded.duration_ms, runs.duration_ms),
  error = coalesce(excluded.error, runs.error)
"""

# Order in which tables are written within one batch (rows of one table keep event order).
PROJECTION_TABLES: tuple[str, ...] = (
    "entities",
    "worlds",
    "rooms",
    "participants",
    "memories",
    "logs",
    "runs",
    "tasks",
    *CONNECTION_TABLES,
    *MEMORY_TABLES,
)
MAINTENANCE_COLUMNS: dict[str, tuple[str, ...]] = {"memories": ("indexed",)}
"""Columns of projection tables that no event writes: state of their upkeep (whether the vector
index maintainer has put a memory into its HNSW index, shared/projections/vector_index.py). A
rebuild resets them to their defaults; comparisons of projections leave them out."""


async def comparable_rows(conn: Any, table: str) -> list[str]:
    """Every row of projection `table` as JSON text with sorted keys, sorted, without its
    MAINTENANCE_COLUMNS: what a rebuild from the log must reproduce exactly (`conn`: an asyncpg
    connection or pool)."""
    drop = "".join(f" - '{c}'" for c in MAINTENANCE_COLUMNS.get(table, ()))
    rows = await conn.fetch(f"SELECT (to_jsonb(t){drop})::text AS j FROM {table} t")
    return sorted(json.dumps(json.loads(r["j"]), sort_keys=True) for r in rows)


_SQL = {
    "entities": _ENTITY_UPSERT,
    "worlds": _WORLD_INSERT,
    "rooms": _ROOM_INSERT,
    "participants": _PARTICIPANT_INSERT,
    "memories": _MEMORY_INSERT,
    "logs": _LOG_INSERT,
    "runs": _RUN_UPSERT,
}


def _u(value: Any) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _entity(e: RecordedEvent) -> Row:
    d = e.data
    return (_u(d["id"]), _u(d["agent_id"]), list(d["names"]), d.get("metadata") or {})


def _world(e: RecordedEvent) -> Row:
    d = e.data
    return (_u(d["id"]), _u(d["agent_id"]), d["name"], d["server_id"], d.get("metadata") or {})


def _room(e: RecordedEvent) -> Row:
    d = e.data
    return (
        _u(d["id"]),
        _u(d["agent_id"]),
        d.get("name"),
        d["source"],
        d["type"],
        d.get("channel_id"),
        d.get("server_id"),
        _u(d.get("world_id")),
        d.get("metadata") or {},
    )


def _participant(e: RecordedEvent) -> Row:
    d = e.data
    return (_u(d["room_id"]), _u(d["entity_id"]), _u(d["agent_id"]))


def _memory(e: RecordedEvent) -> Row:
    d = e.data
    return (
        _u(d["id"]),
        _u(d["agent_id"]),
        _u(d["entity_id"]),
        _u(d["room_id"]),
        _u(d.get("world_id")),
        d.get("table_name", "messages"),
        d["content"],
        d.get("embedding"),
        d.get("unique", True),
        d["created_at"],
        d.get("metadata") or {},
    )


def _log_row(e: RecordedEvent, log_type: str, entity: str, room: str | None, at: str) -> Row:
    d = e.data
    return (
        e.event_id,
        _u(d["agent_id"]),
        _u(d.get(entity) or d["agent_id"]),
        _u(d.get(room)) if room else None,
        _u(d.get("run_id") or e.metadata.get("run_id")),
        log_type,
        d,
        d[at],
    )


def _model_log(e: RecordedEvent) -> Row:
    return _log_row(e, f"useModel:{e.data['model_type']}", "agent_id", "room_id", "at")


def _action_log(e: RecordedEvent) -> Row:
    return _log_row(e, "action", "agent_id", "room_id", "at")


def _evaluator_log(e: RecordedEvent) -> Row:
    return _log_row(e, "evaluator", "agent_id", "room_id", "at")


def _model_failed_log(e: RecordedEvent) -> Row:
    return _log_row(e, f"modelFailed:{e.data['model_type']}", "agent_id", None, "at")


def _provider_failed_log(e: RecordedEvent) -> Row:
    return _log_row(e, "providerFailed", "agent_id", None, "at")


def _task_log(e: RecordedEvent) -> Row:
    return _log_row(e, "task", "agent_id", None, "at")


def _run_log(e: RecordedEvent) -> Row:
    at = "started_at" if e.type == "run.started" else "ended_at"
    return _log_row(e, e.type, "entity_id", "room_id", at)


def _run(e: RecordedEvent) -> Row:
    d = e.data
    if e.type == "run.started":
        return (
            _u(d["run_id"]),
            _u(d["agent_id"]),
            _u(d["message_id"]),
            _u(d["room_id"]),
            _u(d["entity_id"]),
            d["source"],
            "started",
            d["started_at"],
            None,
            None,
            None,
        )
    return (
        _u(d["run_id"]),
        _u(d["agent_id"]),
        _u(d["message_id"]),
        _u(d["room_id"]),
        None,
        None,
        d["status"],
        None,
        d["ended_at"],
        d["duration_ms"],
        d.get("error"),
    )


Builder = Callable[[RecordedEvent], Row]
ProjectionRoute = tuple[str, str, Builder]  # (table, statement, row builder)


def _routes(table: str, build: Builder) -> list[ProjectionRoute]:
    return [(table, _SQL[table], build)]


ROUTES: dict[str, list[ProjectionRoute]] = {
    "entity.created": _routes("entities", _entity),
    "entity.updated": _routes("entities", _entity),
    "world.created": _routes("worlds", _world),
    "room.created": _routes("rooms", _room),
    "participant.added": _routes("participants", _participant),
    "memory.created": _routes("memories", _memory),
    "model.used": _routes("logs", _model_log),
    "action.executed": _routes("logs", _action_log),
    "evaluator.executed": _routes("logs", _evaluator_log),
    "model.failed": _routes("logs", _model_failed_log),
    "provider.failed": _routes("logs", _provider_failed_log),
    "run.started": [*_routes("runs", _run), *_routes("logs", _run_log)],
    "run.ended": [*_routes("runs", _run), *_routes("logs", _run_log)],
    **TASK_ROUTES,
    "task.executed": _routes("logs", _task_log),
    **CONNECTION_ROUTES,
    **MEMORY_ROUTES,
}


class PostgresProjector:
    """Keeps the read-model tables in step with the log, in the append's own transaction."""

    tables = PROJECTION_TABLES

    def steps(self, events: Sequence[RecordedEvent]) -> list[ProjectionStep]:
        """The statements these events imply: tables in a fixed order; within a table rows keep
        the events' order, and each run of rows with the same statement is one step (one
        `executemany`, one round trip)."""
        per_table: dict[str, list[tuple[str, Row]]] = {}
        for event in events:
            for table, sql, build in ROUTES.get(event.type, ()):
                per_table.setdefault(table, []).append((sql, build(event)))
        return [
            ProjectionStep(sql, rows, commutes(sql))
            for table in PROJECTION_TABLES
            for sql, rows in _runs(per_table.get(table, []))
        ]

    async def run(self, conn: Any, steps: Sequence[ProjectionStep]) -> None:
        """Run `steps` in order on `conn`."""
        for step in steps:
            await conn.executemany(step.sql, step.rows)

    async def apply(self, conn: Any, events: Sequence[RecordedEvent]) -> None:
        """Write the rows these events imply."""
        await self.run(conn, self.steps(events))


_FROM = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)


def commutes(sql: str) -> bool:
    """Whether a projection statement writes only the rows its own keys name and reads no other
    row, so that it may run before the append takes the log's lock (see ProjectionStep): an
    INSERT (or upsert) whose only FROM is `unnest(...)`. UPDATE and DELETE do not: they would miss
    a row another append inserted and has not committed yet, though that append may take the
    earlier position. Anything unsure answers False and runs under the lock, as before."""
    text = sql.lstrip()
    if text[:6].upper() != "INSERT":
        return False
    return all(name.lower() == "unnest" for name in _FROM.findall(text))


def _runs(items: list[tuple[str, Row]]) -> list[tuple[str, list[Row]]]:
    grouped: list[tuple[str, list[Row]]] = []
    for sql, row in items:
        if grouped and grouped[-1][0] == sql:
            grouped[-1][1].append(row)
        else:
            grouped.append((sql, [row]))
    return grouped
