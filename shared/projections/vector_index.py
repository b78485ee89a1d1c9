"""The vector index maintainer: puts newly stored memories into their HNSW index, off the append.

Inserting into an HNSW graph is the slow part of storing a memory (hundreds of rows/s on two
cores, against thousands without it: docs/benchmarks.md). So the append's projection writes each
memory with `indexed = false`, which keeps it out of the partial HNSW indexes
(schemas/migrations/0007_memory_index_maintenance.sql), and this maintainer sets `indexed = true`
on batches of such rows: the UPDATE is what inserts them into the graph. Searches stay complete
meanwhile (shared/readmodel/vector_search.py merges the index with an exact scan of the rows not
yet indexed).

One maintainer per database keeps up; several (one per orchestrator) are safe: each batch takes
its rows with `FOR UPDATE SKIP LOCKED`, so two never take the same row and never wait for each
other, and a row whose memory is being changed by an append is taken by a later batch. Rows
without an embedding, or of a size without an index, are marked too (nothing to insert): the
flag means "seen by the maintainer", and the exact scan of rows not yet indexed stays small.

`indexed` is maintenance state, not part of the projection (MAINTENANCE_COLUMNS): a rebuild from
the log replays without the HNSW indexes, marks every memory indexed and builds them again in
bulk (shared/projections/rebuild.py), cheaper than this maintainer's row-by-row inserts.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import asyncpg

from shared.batch_loop import BatchLoop

log = logging.getLogger(__name__)

DEFAULT_BATCH = 500
DEFAULT_IDLE_SECONDS = 0.5

_INDEX_BATCH = """
WITH batch AS (
    SELECT id FROM memories WHERE NOT indexed LIMIT $1 FOR UPDATE SKIP LOCKED
), done AS (
    UPDATE memories m SET indexed = true FROM batch WHERE m.id = batch.id RETURNING 1
)
SELECT count(*) FROM done
"""
_BACKLOG = "SELECT count(*) FROM memories WHERE NOT indexed"


@dataclass
class IndexingStats:
    """What a maintainer has done since it started: rows indexed, in how many batches, and the
    seconds spent in them (rows / busy seconds is its sustained rate)."""

    rows: int = 0
    batches: int = 0
    busy_seconds: float = 0.0

    @property
    def rows_per_second(self) -> float | None:
        """Rows indexed per second of work (None before any work)."""
        return self.rows / self.busy_seconds if self.busy_seconds > 0 else None


async def index_batch(pool: asyncpg.Pool, batch: int = DEFAULT_BATCH) -> int:
    """Put up to `batch` memories not yet indexed into their HNSW index, in one transaction;
    returns how many (rows other maintainers hold are skipped, never waited for)."""
    return int(await pool.fetchval(_INDEX_BATCH, batch))


async def index_backlog(pool: asyncpg.Pool) -> int:
    """How many memories (of every agent) wait for the maintainer."""
    return int(await pool.fetchval(_BACKLOG))


class VectorIndexMaintainer:
    """Runs `index_batch` in the background: batch after batch while rows wait, then every
    `idle_seconds` a look for new ones (one probe of a small partial index) until `stop`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        batch: int = DEFAULT_BATCH,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
    ) -> None:
        self.pool, self.batch, self.idle_seconds = pool, batch, idle_seconds
        self.stats = IndexingStats()
        self._loop = BatchLoop(
            self.run_once, full=batch, pause=idle_seconds, name="vector-index-maintainer",
            failure="vector index maintainer: a batch failed; the next round tries again",
        )  # fmt: skip

    def start(self) -> None:
        """Start indexing in the background."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop (a batch in progress is rolled back; the next maintainer takes its rows)."""
        await self._loop.stop()

    async def run_once(self) -> int:
        """Index one batch now and count it in `stats`; returns the rows indexed."""
        started = time.perf_counter()
        done = await index_batch(self.pool, self.batch)
        if done:
            self.stats.rows += done
            self.stats.batches += 1
            self.stats.busy_seconds += time.perf_counter() - started
        return done
