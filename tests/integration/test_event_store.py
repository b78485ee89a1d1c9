"""The event store contract, on the Postgres recorder and on its in-memory double alike:
idempotent appends, optimistic concurrency, claims that keep a lost race out of the log, and
gap-free positions; then what only Postgres can show: appends that really run at once, a
transaction that commits late, and a claim raced by two transactions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.errors import ConcurrencyError
from shared.events import NewEvent, TaskDeleted
from shared.eventstore import EventStore
from shared.eventstore.memory import InMemoryEventStore
from shared.eventstore.postgres import PostgresEventStore, create_pool
from shared.projections import PostgresProjector
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
