"""The Postgres recorder of the event log, with projections written in the append transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pydantic_core
from pgvector.asyncpg import register_vector

from shared.errors import ConcurrencyError, EventStoreError
from shared.events import NewEvent, RecordedEvent
from shared.eventstore.protocol import AppendResult, ProjectionStep, Projector

# Held from the heads read (in elizabus_append) to commit: positions are assigned in commit order.
APPEND_LOCK_KEY = 0x656C697A61627573  # "elizabus"

EVENT_COLUMNS = "position, event_id, stream_id, stream_version, type, data, metadata, recorded_at"

_APPEND_SQL = """
SELECT * FROM elizabus_append($1, $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[],
                              $7::int[])
"""
# schemas/migrations/0005_append_function.sql: takes the lock, reads the heads (each stream's
# head one index probe), checks and inserts, in one statement.


_NOT_RECORDED_YET = datetime.fromtimestamp(0, UTC)


class _Raced(Exception):
    """Under the lock, events already projected turned out recorded (a racing append committed
    them first): the transaction is rolled back, projections included, and the rest retried."""

    def __init__(self, duplicates: list[uuid.UUID], claimed: bool) -> None:
        super().__init__("events recorded by a concurrent append")
        self.duplicates = duplicates
        self.claimed = claimed


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
        """Record the events not recorded yet, atomically, with their projections.

        The projection statements that commute with other appends (`ProjectionStep.commutes`)
        run first, outside the log's lock; `elizabus_append` then takes the lock, assigns the
        positions and inserts in one statement, and the lock is held only for it, the remaining
        projection statements (UPDATE/DELETE, usually none) and the COMMIT. When the lock shows
        events already recorded (a concurrent append won), everything is rolled back and the rest
        retried: each retry has fewer events, so it ends."""
        if not events:
            return AppendResult()
        ids = [e.event_id for e in events]
        pending, duplicates = _unique(events)
        while pending:
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    result = await self._append(conn, pending, project_first=True)
            except _Raced as raced:
                if raced.claimed:
                    return AppendResult(duplicates=ids)  # this batch's claim is recorded
                gone = set(raced.duplicates)
                duplicates += [e.event_id for e in pending if e.event_id in gone]
                pending = [e for e in pending if e.event_id not in gone]
                continue
            return AppendResult(recorded=result.recorded, duplicates=duplicates)
        return AppendResult(duplicates=duplicates)

    async def append_in(self, conn: asyncpg.Connection, events: Sequence[NewEvent]) -> AppendResult:
        """Append inside a transaction the caller holds (for callers that also read in it): the
        lock is taken first and the projections written under it (the caller's transaction
        cannot be rolled back here, so nothing is written before the duplicates are known)."""
        return await self._append(conn, events, project_first=False)

    async def _append(
        self, conn: asyncpg.Connection, events: Sequence[NewEvent], *, project_first: bool
    ) -> AppendResult:
        projector = self.projector
        metadata = [e.metadata.model_dump(mode="json", exclude_none=True) for e in events]
        late: list[ProjectionStep] = []
        if projector is not None and project_first:
            # positions are not known yet: projections use only the events' own data
            steps = projector.steps(
                [_unpositioned(e, meta) for e, meta in zip(events, metadata, strict=True)]
            )
            split = next((i for i, step in enumerate(steps) if not step.commutes), len(steps))
            await projector.run(conn, steps[:split])
            late = steps[split:]
        row = await conn.fetchrow(
            _APPEND_SQL,
            APPEND_LOCK_KEY,
            [e.event_id for e in events],
            [e.stream_id for e in events],
            [e.type for e in events],
            [e.data for e in events],
            metadata,
            [e.expected_version for e in events],
        )
        assert row is not None
        if row["outcome"] == "conflict":
            raise ConcurrencyError(
                row["conflict_stream"], row["conflict_expected"], row["conflict_actual"]
            )
        if row["outcome"] == "claimed":
            if project_first:
                raise _Raced(list(row["duplicates"]), claimed=True)
            return AppendResult(duplicates=list(row["duplicates"]))
        duplicates: list[uuid.UUID] = list(row["duplicates"])
        if duplicates and project_first:
            raise _Raced(duplicates, claimed=False)
        recorded_at = row["recorded_at"]
        recorded = [
            RecordedEvent.model_construct(
                position=position,
                event_id=e.event_id,
                stream_id=e.stream_id,
                stream_version=version,
                type=e.type,
                data=e.data,
                metadata=meta,
                recorded_at=recorded_at,
            )
            for e, meta, position, version in zip(
                events, metadata, row["positions"], row["versions"], strict=True
            )
            if position is not None
        ]
        if projector is not None:
            if project_first:
                await projector.run(conn, late)
            else:
                await projector.apply(conn, recorded)
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


def _unique(events: Sequence[NewEvent]) -> tuple[list[NewEvent], list[uuid.UUID]]:
    """The events with each id once (the first), and the ids of the repeats."""
    seen: set[uuid.UUID] = set()
    unique: list[NewEvent] = []
    repeats: list[uuid.UUID] = []
    for event in events:
        if event.event_id in seen:
            repeats.append(event.event_id)
        else:
            seen.add(event.event_id)
            unique.append(event)
    return unique, repeats


def _unpositioned(event: NewEvent, metadata: dict[str, Any]) -> RecordedEvent:
    """`event` as projections see it before the log assigns its position and version (they use
    only the event's own data: shared/projections)."""
    return RecordedEvent.model_construct(
        position=0,
        event_id=event.event_id,
        stream_id=event.stream_id,
        stream_version=0,
        type=event.type,
        data=event.data,
        metadata=metadata,
        recorded_at=_NOT_RECORDED_YET,
    )
