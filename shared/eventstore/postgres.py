"""The Postgres recorder of the event log, with projections written in the append transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import pydantic_core
from pgvector.asyncpg import register_vector

from shared.errors import ConcurrencyError, EventStoreError
from shared.events import NewEvent, RecordedEvent
from shared.eventstore.protocol import AppendResult, Projector

# Held from the first read of the head to commit: positions are assigned in commit order.
APPEND_LOCK_KEY = 0x656C697A61627573  # "elizabus"

EVENT_COLUMNS = "position, event_id, stream_id, stream_version, type, data, metadata, recorded_at"

_HEADS_SQL = """
SELECT
  (SELECT coalesce(max(position), 0) FROM events) AS head,
  (SELECT coalesce(array_agg(event_id), '{}') FROM events WHERE event_id = any($1::uuid[]))
    AS existing,
  (SELECT coalesce(jsonb_object_agg(s.stream_id, v.stream_version), '{}'::jsonb)
     FROM unnest($2::text[]) AS s(stream_id)
     CROSS JOIN LATERAL (
       SELECT stream_version FROM events e WHERE e.stream_id = s.stream_id
       ORDER BY stream_version DESC LIMIT 1) v) AS versions
"""
# Each stream's head is one index probe (the (stream_id, stream_version) unique index read
# backwards), not a scan of the stream: this runs under the append lock, and an agent's stream
# grows with its history.

_INSERT_SQL = """
INSERT INTO events (position, event_id, stream_id, stream_version, type, data, metadata)
SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::int[], $5::text[],
                     $6::jsonb[], $7::jsonb[])
RETURNING recorded_at
"""


def _json_text(value: Any) -> str:
    return pydantic_core.to_json(value).decode()


async def init_connection(conn: asyncpg.Connection) -> None:
    """Codecs every elizabus connection uses: jsonb as Python objects, vector as lists."""
    await conn.set_type_codec(
        "jsonb", encoder=_json_text, decoder=pydantic_core.from_json, schema="pg_catalog"
    )
    await register_vector(conn)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool release hook that sends nothing: our code leaves no session state behind (only
    transaction-scoped locks, no LISTEN, no SET), so asyncpg's default reset query would be a
    wasted round trip on every query made through the pool."""


async def create_pool(url: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A connection pool with elizabus's codecs; the caller closes it."""
    pool = await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, init=init_connection, reset=_keep_session
    )
    if pool is None:  # pragma: no cover - asyncpg returns None only when not awaited
        raise EventStoreError(f"could not open a pool to {url}: check ELIZABUS_DATABASE_URL")
    return pool


def row_to_event(row: asyncpg.Record) -> RecordedEvent:
    """A database row of `events` as a RecordedEvent (no re-validation: the log is trusted)."""
    return RecordedEvent.model_construct(
        position=row["position"],
        event_id=row["event_id"],
        stream_id=row["stream_id"],
        stream_version=row["stream_version"],
        type=row["type"],
        data=row["data"],
        metadata=row["metadata"],
        recorded_at=row["recorded_at"],
    )


class PostgresEventStore:
    """The event log in Postgres; a `projector` updates the read models in the same commit."""

    def __init__(self, pool: asyncpg.Pool, projector: Projector | None = None) -> None:
        self.pool = pool
        self.projector = projector

    async def append(self, events: Sequence[NewEvent]) -> AppendResult:
        """Record the events not recorded yet, atomically, with their projections."""
        if not events:
            return AppendResult()
        async with self.pool.acquire() as conn, conn.transaction():
            return await self.append_in(conn, events)

    async def append_in(self, conn: asyncpg.Connection, events: Sequence[NewEvent]) -> AppendResult:
        """Append inside a transaction the caller holds (for callers that also read in it)."""
        await conn.execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK_KEY)
        ids = [e.event_id for e in events]
        streams = sorted({e.stream_id for e in events})
        row = await conn.fetchrow(_HEADS_SQL, ids, streams)
        assert row is not None
        existing: set[uuid.UUID] = set(row["existing"])
        versions: dict[str, int] = dict(row["versions"])
        position: int = row["head"]

        new: list[NewEvent] = []
        duplicates: list[uuid.UUID] = []
        seen: set[uuid.UUID] = set()
        stream_versions: list[int] = []
        if any(e.expected_version is not None and e.event_id in existing for e in events):
            return AppendResult(duplicates=ids)  # this batch's claim is already recorded
        for event in events:
            if event.event_id in existing or event.event_id in seen:
                duplicates.append(event.event_id)
                continue
            seen.add(event.event_id)
            current = versions.get(event.stream_id, 0)
            if event.expected_version is not None and event.expected_version != current:
                raise ConcurrencyError(event.stream_id, event.expected_version, current)
            versions[event.stream_id] = current + 1
            stream_versions.append(current + 1)
            new.append(event)
        if not new:
            return AppendResult(duplicates=duplicates)

        positions = list(range(position + 1, position + 1 + len(new)))
        metadata = [e.metadata.model_dump(mode="json", exclude_none=True) for e in new]
        recorded_at = await conn.fetchval(
            _INSERT_SQL,
            positions,
            [e.event_id for e in new],
            [e.stream_id for e in new],
            stream_versions,
            [e.type for e in new],
            [e.data for e in new],
            metadata,
        )
        recorded = [
            RecordedEvent.model_construct(
                position=pos,
                event_id=e.event_id,
                stream_id=e.stream_id,
                stream_version=version,
                type=e.type,
                data=e.data,
                metadata=meta,
                recorded_at=recorded_at,
            )
            for pos, e, version, meta in zip(positions, new, stream_versions, metadata, strict=True)
        ]
        if self.projector is not None:
            await self.projector.apply(conn, recorded)
        return AppendResult(recorded=recorded, duplicates=duplicates)

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Events after a global position, in order: how projections and followers catch up."""
        rows = await self.pool.fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2",
            after,
            limit,
        )
        return [row_to_event(r) for r in rows]

    async def read_stream(self, stream_id: str) -> list[RecordedEvent]:
        """One stream's events in version order."""
        rows = await self.pool.fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = $1 ORDER BY stream_version",
            stream_id,
        )
        return [row_to_event(r) for r in rows]

    async def read_run(self, run_id: uuid.UUID) -> list[RecordedEvent]:
        """Every event of one run, in the order they were recorded: the replay of a run."""
        rows = await self.pool.fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE metadata ? 'run_id' "
            "AND metadata ->> 'run_id' = $1 ORDER BY position",
            str(run_id),
        )
        return [row_to_event(r) for r in rows]

    async def get(self, event_ids: Sequence[uuid.UUID]) -> list[RecordedEvent]:
        """The recorded events among these ids, in log order."""
        rows = await self.pool.fetch(
            f"SELECT {EVENT_COLUMNS} FROM events "
            "WHERE event_id = any($1::uuid[]) ORDER BY position",
            list(event_ids),
        )
        return [row_to_event(r) for r in rows]

    async def head(self) -> int:
        """The position of the last recorded event (0 for an empty log)."""
        value: Any = await self.pool.fetchval("SELECT coalesce(max(position), 0) FROM events")
        return int(value)
