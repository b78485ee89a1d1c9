"""Rebuild every read model from the event log alone.

The memories' HNSW indexes are dropped for the replay and built again in bulk at its end, with
every memory marked indexed (shared/projections/vector_index.py): cheaper than inserting into the
graph row by row, and searches are fast again as soon as the rebuild commits."""

from __future__ import annotations

import logging

import asyncpg

from shared.eventstore.postgres import APPEND_LOCK_KEY, EVENT_COLUMNS, row_to_event
from shared.projections.postgres import PROJECTION_TABLES, PostgresProjector

PAGE_SIZE = 2000
BULK_INDEX_MEMORY = "512MB"
"""maintenance_work_mem of the HNSW builds after a replay: pgvector builds fastest when the
graph fits (about 200 MB for 100,000 memories of 384 dimensions)."""
REBUILD_ATTEMPTS = 5

log = logging.getLogger(__name__)


async def rebuild_projections(pool: asyncpg.Pool, page_size: int = PAGE_SIZE) -> int:
    """Empty the projection tables and replay the whole log into them, in one transaction.

    Appends wait meanwhile (for the tables, or for the append lock), so the rebuilt tables match
    the log exactly. The tables are locked before the append lock: an append writes its commuting
    projection rows before it takes the append lock, so the other order would wait for it while
    it waits for us. An append that already holds the append lock and then needs a table can
    still meet us the other way round: Postgres ends such a deadlock by failing one side; the
    append is retried by its orchestrator, and the rebuild here. Returns the events replayed.
    """
    for attempt in range(1, REBUILD_ATTEMPTS + 1):
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    f"LOCK TABLE {', '.join(PROJECTION_TABLES)} IN ACCESS EXCLUSIVE MODE"
                )
                await conn.execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK_KEY)
                return await rebuild_in(conn, page_size)
        except asyncpg.DeadlockDetectedError:
            if attempt == REBUILD_ATTEMPTS:
                raise
            log.warning("the rebuild met an append in a deadlock; trying again (%d/%d)",
                        attempt, REBUILD_ATTEMPTS)  # fmt: skip
    raise AssertionError("unreachable")  # pragma: no cover


async def rebuild_in(conn: asyncpg.Connection, page_size: int = PAGE_SIZE) -> int:
    """Rebuild the projections on `conn`, inside the caller's transaction, which must hold the
    append lock (as `rebuild_projections` and the id migration do). Returns the events replayed."""
    projector = PostgresProjector()
    replayed = 0
    vector_indexes = await _drop_vector_indexes(conn)
    await conn.execute(f"TRUNCATE {', '.join(PROJECTION_TABLES)}")
    after = 0
    while True:
        rows = await conn.fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2",
            after,
            page_size,
        )
        if not rows:
            break
        events = [row_to_event(r) for r in rows]
        await projector.apply(conn, events)
        replayed += len(events)
        after = events[-1].position
    await _index_in_bulk(conn, vector_indexes)
    return replayed


async def _drop_vector_indexes(conn: asyncpg.Connection) -> list[str]:
    """Drop the memories' HNSW indexes for the replay; returns their definitions."""
    rows = await conn.fetch(
        "SELECT schemaname, indexname, indexdef FROM pg_indexes WHERE tablename = 'memories' "
        "AND indexdef ILIKE '% USING hnsw %' ORDER BY indexname"
    )
    for r in rows:
        await conn.execute(f'DROP INDEX "{r["schemaname"]}"."{r["indexname"]}"')
    return [r["indexdef"] for r in rows]


async def _index_in_bulk(conn: asyncpg.Connection, definitions: list[str]) -> None:
    """Mark every replayed memory indexed and build the HNSW indexes again, in bulk. A replay
    writes memories as the append does, waiting for the index maintainer, which would take
    minutes for a large log (it indexed 356 rows/s at 100,000 memories here), every search
    scanning the rows not yet indexed meanwhile; a bulk build is several times cheaper per row
    (100,000 memories of 384 dimensions in about 26 s), and the rebuild holds the tables'
    locks anyway."""
    await conn.execute("UPDATE memories SET indexed = true WHERE NOT indexed")
    await conn.execute(f"SET LOCAL maintenance_work_mem = '{BULK_INDEX_MEMORY}'")
    for definition in definitions:
        await conn.execute(definition)
