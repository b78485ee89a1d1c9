"""`make bench-appends`: how many run-sized appends per second the event store takes, and why.

`PostgresEventStore.append` holds one advisory lock (`APPEND_LOCK_KEY`) from reading the log's
head to its commit, so positions are gap-free and follow commit order. Appends therefore run one
at a time, whatever the number of writers: the ceiling is 1 / (how long one append holds the
lock). The projections that commute with other appends are written before the lock; the lock is
taken inside the one statement `elizabus_append` (heads read, INSERT of the events) and held to
the COMMIT, which with fsync on waits for the WAL to reach the disk.

The batches are real runs' batches: the orchestrator's message path (MessageRunner with the
bootstrap plugin and the scripted model, on the in-memory doubles) handles messages over ROOMS
GROUP rooms, and every batch it appends in the steady state (after each room's first message) is
kept. Each timed append is one of them with fresh run-scoped ids (ids seen in only one batch:
event, run, message and memory ids), so every append records all its events, as a new run does.

Then WRITERS tasks (each as many as a list, run one after the other on a fresh database) append
APPENDS batches to a fresh embedded Postgres (durable defaults: fsync on) through a pool of POOL
connections (the orchestrator's ELIZABUS_DB_POOL_SIZE default), and the run prints appends/s,
events/s and, per append, the wait for a pool connection, the projections before the lock, the
`elizabus_append` statement (lock wait included) and what follows it (projections under the lock,
COMMIT).

Knobs (environment): WRITERS=1,64 APPENDS=1500 POOL=20 ROOMS=20.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import asyncpg

from plugins.bootstrap.plugin import bootstrap_plugin
from services.orchestrator.delivery import Delivery, Disposition, Orchestrator
from services.orchestrator.message_run import AgentHost, MessageRunner
from shared.character import load_character
from shared.embedded import EmbeddedPostgres
from shared.events import NewEvent
from shared.eventstore.migrations import migrate
from shared.eventstore.postgres import APPEND_LOCK_KEY, PostgresEventStore, create_pool
from shared.eventstore.protocol import AppendResult
from shared.projections import PostgresProjector
from shared.testing import InMemoryBus, InMemoryEventStore, ScriptedModel, make_test_runtime

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_REID = uuid.UUID("5b0c1d7e-2f0a-4c1e-9a53-6e0f3d2b1a90")


class RecordingStore(InMemoryEventStore):
    """The in-memory event log, keeping each batch appended to it."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[NewEvent]] = []

    async def append(self, events: Sequence[NewEvent]) -> AppendResult:
        """Append and keep the batch."""
        self.batches.append(list(events))
        return await super().append(events)


@dataclass
class RecordedRuns:
    """Batches to replay: the set-up ones as they were, the steady-state ones as templates."""

    setup: list[list[NewEvent]]
    templates: list[list[NewEvent]]


async def record_runs(rooms: int, per_room: int = 4) -> RecordedRuns:
    """Run `rooms` x `per_room` messages through the message path on the doubles; the first
    message of each room (and the agent's start-up) is set-up, the rest are templates."""
    store = RecordingStore()
    runtime = make_test_runtime(
        load_character(None), model=ScriptedModel(), plugins=[bootstrap_plugin()], store=store
    )
    host = AgentHost([runtime])
    await host.initialize()
    orch = Orchestrator(host, MessageRunner(store), InMemoryBus(), store)
    setup_until = 0
    for i in range(rooms * per_room):
        room = i % rooms
        text = f"message {i}: how is the weather in room {room}?"
        body = {
            "id": str(uuid.uuid4()),
            "source": "bench",
            "entity": {"id": f"user-{i % 8}", "name": f"User {i % 8}", "username": f"u{i % 8}"},
            "room": {"id": f"room-{room}", "name": f"room-{room}", "type": "GROUP",
                     "server_id": "bench-server"},
            "content": {"text": f"@Eliza {text}" if i % 3 == 0 else text},
        }  # fmt: skip
        if await orch.process(Delivery(json.dumps(body).encode())) is not Disposition.ACK:
            raise RuntimeError("the message path did not handle a bench message")
        if i == rooms - 1:
            setup_until = len(store.batches)
    return RecordedRuns(store.batches[:setup_until], store.batches[setup_until:])


def shared_ids(batches: list[list[NewEvent]]) -> set[str]:
    """Ids that appear in more than one batch (agent, entities, rooms, world): kept on replay."""
    seen: Counter[str] = Counter()
    for batch in batches:
        text = json.dumps([e.model_dump(mode="json") for e in batch])
        seen.update(set(_UUID.findall(text)))
    return {u for u, n in seen.items() if n > 1}


def fresh_copy(batch: list[NewEvent], keep: set[str], copy: int) -> list[NewEvent]:
    """`batch` with every id not in `keep` replaced by one derived from it and `copy`."""
    text = json.dumps([e.model_dump(mode="json") for e in batch])
    text = _UUID.sub(lambda m: m[0] if m[0] in keep else str(uuid.uuid5(_REID, f"{m[0]}:{copy}")),
                     text)  # fmt: skip
    return [NewEvent.model_validate(e) for e in json.loads(text)]


class PhaseTimer:
    """An asyncpg connection that notes when the append's `elizabus_append` statement (the lock,
    the heads read and the INSERT of the events) started and ended; everything else is passed
    through. Calls before it are the projections written before the lock, calls after it those
    written under it."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self.called_at: float | None = None
        self.returned_at: float | None = None

    async def fetchrow(self, query: str, *args: Any) -> Any:
        """`fetchrow`, timed when it is the append statement."""
        if "elizabus_append" not in query:
            return await self._conn.fetchrow(query, *args)
        self.called_at = time.perf_counter()
        row = await self._conn.fetchrow(query, *args)
        self.returned_at = time.perf_counter()
        return row

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@dataclass
class AppendTimes:
    """Per-append durations (ms) of one run."""

    pool_wait: list[float] = field(default_factory=list)
    before_lock: list[float] = field(default_factory=list)
    """Begin and the projections written before the lock."""
    append_statement: list[float] = field(default_factory=list)
    """`elizabus_append`: waiting for the lock, then the heads read and the INSERT under it."""
    after: list[float] = field(default_factory=list)
    """Projections written under the lock (UPDATE/DELETE; usually none), then COMMIT."""
    total: list[float] = field(default_factory=list)
    events: int = 0
    log_events_before: int = 0
    log_events_after: int = 0


class TimedEventStore(PostgresEventStore):
    """A bench double of the Postgres store: the same `append`, timed by phase (`PhaseTimer`)."""

    def __init__(self, pool: asyncpg.Pool, times: AppendTimes) -> None:
        super().__init__(pool, PostgresProjector())
        self.times = times

    async def append(self, events: Sequence[NewEvent]) -> AppendResult:
        """`PostgresEventStore.append`, one attempt (bench batches never race), timed."""
        t = self.times
        requested = time.perf_counter()
        async with self.pool.acquire() as conn:
            acquired = time.perf_counter()
            timer = PhaseTimer(conn)
            async with conn.transaction():
                result = await self._append(
                    cast(asyncpg.Connection, timer), events, project_first=True
                )
            done = time.perf_counter()
        assert timer.called_at is not None and timer.returned_at is not None
        t.pool_wait.append((acquired - requested) * 1000)
        t.before_lock.append((timer.called_at - acquired) * 1000)
        t.append_statement.append((timer.returned_at - timer.called_at) * 1000)
        t.after.append((done - timer.returned_at) * 1000)
        t.total.append((done - requested) * 1000)
        t.events += len(result.recorded)
        return result


async def one_run(runs: RecordedRuns, writers: int, appends: int, pool_size: int) -> None:
    """A fresh Postgres; set-up batches, then `appends` fresh copies from `writers` tasks."""
    keep = shared_ids(runs.setup + runs.templates)
    work = [fresh_copy(runs.templates[n % len(runs.templates)], keep, n) for n in range(appends)]
    with tempfile.TemporaryDirectory(prefix="elizabus-appends-") as tmp:
        async with EmbeddedPostgres(Path(tmp)) as pg:
            await migrate(pg.url)
            pool = await create_pool(pg.url, max_size=pool_size)
            try:
                times = AppendTimes()
                store = TimedEventStore(pool, times)
                for batch in runs.setup:
                    await PostgresEventStore(pool, PostgresProjector()).append(batch)
                times.log_events_before = await store.head()
                queue = iter(work)

                async def writer() -> None:
                    for events in queue:  # a shared iterator: each writer takes the next batch
                        await store.append(events)

                t0 = time.perf_counter()
                await asyncio.gather(*(writer() for _ in range(writers)))
                wall = time.perf_counter() - t0
                times.log_events_after = await store.head()
            finally:
                await pool.close()
    report(writers, pool_size, appends, wall, times)


def _stat(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.fmean(values):.2f}/{statistics.median(values):.2f}/{p95:.2f}"


def report(writers: int, pool: int, appends: int, wall: float, t: AppendTimes) -> None:
    """Print one run's figures."""
    print(
        f"{writers} writers (pool {min(writers, pool)} connections): {appends / wall:.0f} "
        f"appends/s, {t.events / wall:.0f} events/s ({t.events / appends:.1f} events per append)"
    )
    print(
        f"   ms per append, mean/p50/p95: total {_stat(t.total)} = pool wait {_stat(t.pool_wait)}"
        f" + begin and projections before the lock {_stat(t.before_lock)} + elizabus_append "
        f"(lock wait, heads, INSERT) {_stat(t.append_statement)} + projections under the lock "
        f"and COMMIT {_stat(t.after)}"
    )
    after = sum(t.after) / 1000
    print(
        f"   the lock is held for part of elizabus_append plus the rest: at least "
        f"{after / wall:.0%} of the wall time; the log held {t.log_events_before} events before, "
        f"{t.log_events_after} after"
    )


def main() -> None:
    """Record the runs once, then one measurement per WRITERS value."""
    writers = [int(w) for w in os.environ.get("WRITERS", "1,64").split(",")]
    appends = int(os.environ.get("APPENDS", "1500"))
    pool = int(os.environ.get("POOL", "20"))
    rooms = int(os.environ.get("ROOMS", "20"))
    runs = asyncio.run(record_runs(rooms))
    sizes = [len(b) for b in runs.templates]
    print(
        f"elizabus append bench: {appends} run batches per measurement, copies of "
        f"{len(runs.templates)} recorded runs ({statistics.fmean(sizes):.1f} events per batch, "
        f"{min(sizes)}-{max(sizes)}), embedded Postgres fsync on, advisory append lock "
        f"{APPEND_LOCK_KEY:#x}"
    )
    for w in writers:
        asyncio.run(one_run(runs, w, appends, pool))


if __name__ == "__main__":
    main()
