"""The event store contract, on the Postgres recorder and on its in-memory double alike:
idempotent appends, optimistic concurrency, claims that keep a lost race out of the log, and
gap-free positions."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from shared.errors import ConcurrencyError
from shared.events import NewEvent, TaskDeleted
from shared.eventstore import EventStore
from shared.eventstore.postgres import PostgresEventStore, create_pool
from shared.projections import PostgresProjector
from shared.testing import InMemoryEventStore
from tests.integration.support import fresh_database

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
