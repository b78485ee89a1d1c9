"""The event store contract, on the Postgres recorder and on its in-memory double alike:
idempotent appends, optimistic concurrency, claims that keep a lost race out of the log, and
gap-free positions; then what only Postgres can show: appends that really run at once, a
transaction that commits late, and a claim raced by two transactions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest

from shared.connection_events import ComponentCreated, ComponentUpdated
from shared.errors import ConcurrencyError
from shared.events import NewEvent, RecordedEvent, TaskDeleted
from shared.eventstore import EventStore
from shared.eventstore.memory import InMemoryEventStore
from shared.eventstore.postgres import PostgresEventStore, create_pool
from shared.eventstore.protocol import ProjectionStep
from shared.projections import PostgresProjector, rebuild_projections
from tests.integration.support import fresh_database, wait_for

pytestmark = pytest.mark.integration

AGENT = uuid.uuid4()


@pytest.fixture(params=["postgres", "memory"])
async def store(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[EventStore]:
    if request.param == "memory":
        yield InMemoryEventStore()
        return
    pool = await create_pool(await fresh_database(database_url))
    try:
        yield PostgresEventStore(pool, PostgresProjector())
    finally:
        await pool.close()


def event(stream: str, expected: int | None = None, event_id: uuid.UUID | None = None) -> NewEvent:
    payload = TaskDeleted(id=uuid.uuid4(), agent_id=AGENT, deleted_at=1)
    return NewEvent.of(payload, event_id=event_id or uuid.uuid4(), stream_id=stream,
                       expected_version=expected)  # fmt: skip


async def test_re_appending_an_event_is_a_no_op(store: EventStore) -> None:
    first = event("s-1")
    assert len((await store.append([first])).recorded) == 1
    again = await store.append([first, event("s-1")])
    assert again.duplicates == [first.event_id] and len(again.recorded) == 1
    assert [e.stream_version for e in await store.read_stream("s-1")] == [1, 2]


async def test_a_wrong_expected_version_raises_and_records_nothing(store: EventStore) -> None:
    await store.append([event("s-2")])
    head = await store.head()
    with pytest.raises(ConcurrencyError):
        await store.append([event("other"), event("s-2", expected=0)])
    assert await store.head() == head


async def test_a_claim_already_recorded_keeps_the_whole_batch_out(store: EventStore) -> None:
    claim = uuid.uuid4()
    winner = await store.append([event("run-1", expected=0, event_id=claim), event("memory-a")])
    assert len(winner.recorded) == 2
    # a second delivery of the same run, racing the first: its own new events must not mix in
    loser = [event("run-1", expected=0, event_id=claim), event("memory-b"), event("memory-c")]
    result = await store.append(loser)
    assert result.recorded == [] and result.duplicates == [e.event_id for e in loser]
    assert await store.read_stream("memory-b") == []


async def test_positions_are_gap_free_and_in_append_order(store: EventStore) -> None:
    for i in range(5):
        await store.append([event(f"p-{i}"), event(f"p-{i}")])
    positions = [e.position for e in await store.read_all(0, 100)]
    assert positions == list(range(1, len(positions) + 1)) and len(positions) == 10


@pytest.fixture
async def postgres(database_url: str) -> AsyncIterator[PostgresEventStore]:
    pool = await create_pool(await fresh_database(database_url), max_size=12)
    try:
        yield PostgresEventStore(pool, PostgresProjector())
    finally:
        await pool.close()


async def waiting_on_a_lock(pool: asyncpg.Pool) -> bool:
    """Whether some session of this database is blocked waiting for a lock."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return bool(await pool.fetchval(sql))


async def test_concurrent_appends_get_gap_free_positions_in_contiguous_blocks(
    postgres: PostgresEventStore,
) -> None:
    batches = [[event(f"c-{i}"), event(f"c-{i}"), event(f"c-{i}")] for i in range(40)]
    results = await asyncio.gather(*(postgres.append(b) for b in batches))
    positions = sorted(e.position for r in results for e in r.recorded)
    assert positions == list(range(1, 121))
    for result in results:  # one append, one block: nothing interleaved with it
        mine = [e.position for e in result.recorded]
        assert mine == list(range(mine[0], mine[0] + 3))
    stored = {e.event_id: e.position for e in await postgres.read_all(0, 200)}
    assert stored == {e.event_id: e.position for r in results for e in r.recorded}


async def test_a_follower_never_skips_a_transaction_that_commits_late(
    postgres: PostgresEventStore,
) -> None:
    late, early = event("late"), event("early")
    async with postgres.pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await postgres.append_in(conn, [late])  # recorded, not yet committed
        other = asyncio.create_task(postgres.append([early]))
        # the second append must wait for the first: either it is blocked, or it already
        # finished (and then the follower must not see it ahead of the late one)
        await wait_for(lambda: _done_or_blocked(other, postgres.pool), timeout=10)
        seen = await postgres.read_all(0)  # a follower reads while the late one is open
        await transaction.commit()
    await other
    last = seen[-1].position if seen else 0
    seen += await postgres.read_all(last)  # ... and follows `position > last_seen`
    assert [e.event_id for e in seen] == [late.event_id, early.event_id]
    assert [e.position for e in seen] == [1, 2]


async def _done_or_blocked(task: asyncio.Task[object], pool: asyncpg.Pool) -> bool:
    return task.done() or await waiting_on_a_lock(pool)


async def test_a_claim_raced_by_two_transactions_records_one_batch(
    postgres: PostgresEventStore,
) -> None:
    claim = uuid.uuid4()
    winner = [event("run-x", expected=0, event_id=claim), event("won")]
    loser = [event("run-x", expected=0, event_id=claim), event("lost")]
    async with postgres.pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await postgres.append_in(conn, winner)
        racing = asyncio.create_task(postgres.append(loser))
        await wait_for(lambda: waiting_on_a_lock(postgres.pool), timeout=10)
        await transaction.commit()
    result = await racing
    assert result.recorded == [] and result.duplicates == [e.event_id for e in loser]
    assert [e.event_id for e in await postgres.read_stream("won")] == [winner[1].event_id]
    assert await postgres.read_stream("lost") == []
    assert [e.event_id for e in await postgres.read_stream("run-x")] == [claim]


# --- projections written before the append lock (shared/eventstore/postgres.py: append) ---------


class PausesAfterFirstRun:
    """A PostgresProjector that, in one append, stops after its first batch of statements (the
    ones written before the log's lock) until `go` is set: a test double that holds an append
    between its early projections and its lock."""

    def __init__(self) -> None:
        self.inner = PostgresProjector()
        self.tables = self.inner.tables
        self.paused = asyncio.Event()
        self.go = asyncio.Event()
        self._first = True

    def steps(self, events: Sequence[RecordedEvent]) -> list[ProjectionStep]:
        return self.inner.steps(events)

    async def run(self, conn: object, steps: Sequence[ProjectionStep]) -> None:
        await self.inner.run(conn, steps)
        if self._first:
            self._first = False
            self.paused.set()
            await self.go.wait()

    async def apply(self, conn: object, events: Sequence[RecordedEvent]) -> None:
        await self.inner.apply(conn, events)


def component_event(component: uuid.UUID, text: str, *, created: bool) -> NewEvent:
    fields = {"id": component, "agent_id": AGENT, "entity_id": AGENT, "type": "card"}
    payload: ComponentCreated | ComponentUpdated = (
        ComponentCreated(**fields, data={"text": text}, created_at=1)
        if created
        else ComponentUpdated(**fields, data={"text": text})
    )
    return NewEvent.of(payload, event_id=uuid.uuid4(), stream_id=f"component-{component}")


async def components(pool: asyncpg.Pool) -> list[tuple[uuid.UUID, object]]:
    return [(r["id"], r["data"]) for r in await pool.fetch("SELECT id, data FROM components")]


async def test_rows_written_before_the_lock_equal_a_rebuild_when_appends_interleave(
    postgres: PostgresEventStore,
) -> None:
    # A creates a card and stops before the lock; B updates that card and stops there too; A
    # commits first (the earlier position), then B. B's UPDATE must run under the lock, after
    # A's commit: run before it, it would miss A's uncommitted row, and the live table would
    # keep the old text while a rebuild (A's insert, then B's update) shows the new one.
    card = uuid.uuid4()
    first, second = PausesAfterFirstRun(), PausesAfterFirstRun()
    a_store = PostgresEventStore(postgres.pool, first)
    b_store = PostgresEventStore(postgres.pool, second)
    a = asyncio.create_task(a_store.append([component_event(card, "old", created=True)]))
    await asyncio.wait_for(first.paused.wait(), 10)
    b = asyncio.create_task(b_store.append([component_event(card, "new", created=False)]))
    await asyncio.wait_for(second.paused.wait(), 10)
    first.go.set()
    assert [e.position for e in (await a).recorded] == [1]
    second.go.set()
    assert [e.position for e in (await b).recorded] == [2]
    live = await components(postgres.pool)
    assert live == [(card, {"text": "new"})]
    assert await rebuild_projections(postgres.pool) == 2
    assert await components(postgres.pool) == live


async def test_an_event_recorded_meanwhile_is_left_out_and_the_rest_recorded(
    postgres: PostgresEventStore,
) -> None:
    card, other = uuid.uuid4(), uuid.uuid4()
    shared = component_event(card, "once", created=True)
    first = PausesAfterFirstRun()
    a = asyncio.create_task(PostgresEventStore(postgres.pool, first).append([shared]))
    await asyncio.wait_for(first.paused.wait(), 10)
    # B carries the same event (its projection waits for A's uncommitted row) and one more
    b = asyncio.create_task(postgres.append([shared, component_event(other, "b", created=True)]))
    await wait_for(lambda: waiting_on_a_lock(postgres.pool), timeout=10)
    first.go.set()
    await a
    result = await b
    assert result.duplicates == [shared.event_id]
    assert [e.data["id"] for e in result.recorded] == [str(other)]
    assert [e.position for e in await postgres.read_all(0)] == [1, 2]
    live = sorted(await components(postgres.pool), key=str)
    assert len(live) == 2
    await rebuild_projections(postgres.pool)
    assert sorted(await components(postgres.pool), key=str) == live
