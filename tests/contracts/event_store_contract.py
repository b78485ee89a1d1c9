"""The EventStore contract: one suite every implementation passes (the Postgres recorder and the
in-memory double alike), so the double cannot drift from the real store.

Subclass `EventStoreContract` in a `Test...` class and give it a `store` fixture that yields a
fresh, empty EventStore for each test (see tests/contracts/test_event_store.py).
"""

from __future__ import annotations

import uuid

import pytest

from shared.errors import ConcurrencyError
from shared.events import EventMetadata, NewEvent, TaskDeleted
from shared.eventstore import EventStore

AGENT = uuid.uuid4()


def event(
    stream: str,
    expected: int | None = None,
    event_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
) -> NewEvent:
    """A small event on `stream` (optionally a claim: `expected`, and of a run: `run_id`)."""
    payload = TaskDeleted(id=uuid.uuid4(), agent_id=AGENT, deleted_at=1)
    return NewEvent.of(payload, event_id=event_id or uuid.uuid4(), stream_id=stream,
                       metadata=EventMetadata(agent_id=AGENT, run_id=run_id),
                       expected_version=expected)  # fmt: skip


class EventStoreContract:
    """Idempotent appends, optimistic concurrency, claims that keep a lost race out of the log,
    gap-free positions, and reads in log order."""

    async def test_re_appending_an_event_is_a_no_op(self, store: EventStore) -> None:
        first = event("s-1")
        assert len((await store.append([first])).recorded) == 1
        again = await store.append([first, event("s-1")])
        assert again.duplicates == [first.event_id] and len(again.recorded) == 1
        assert [e.stream_version for e in await store.read_stream("s-1")] == [1, 2]

    async def test_a_wrong_expected_version_raises_and_records_nothing(
        self, store: EventStore
    ) -> None:
        await store.append([event("s-2")])
        head = await store.head()
        with pytest.raises(ConcurrencyError):
            await store.append([event("other"), event("s-2", expected=0)])
        assert await store.head() == head

    async def test_a_claim_already_recorded_keeps_the_whole_batch_out(
        self, store: EventStore
    ) -> None:
        claim = uuid.uuid4()
        winner = await store.append([event("run-1", expected=0, event_id=claim), event("memory-a")])
        assert len(winner.recorded) == 2
        # a second delivery of the same run, racing the first: its own new events must not mix in
        loser = [event("run-1", expected=0, event_id=claim), event("memory-b"), event("memory-c")]
        result = await store.append(loser)
        assert result.recorded == [] and result.duplicates == [e.event_id for e in loser]
        assert await store.read_stream("memory-b") == []

    async def test_positions_are_gap_free_and_in_append_order(self, store: EventStore) -> None:
        for i in range(5):
            await store.append([event(f"p-{i}"), event(f"p-{i}")])
        positions = [e.position for e in await store.read_all(0, 100)]
        assert positions == list(range(1, len(positions) + 1)) and len(positions) == 10

    async def test_reads_return_the_recorded_events_in_log_order(self, store: EventStore) -> None:
        run = uuid.uuid4()
        batch = [event("a", run_id=run), event("b"), event("a", run_id=run), event("b")]
        appended = await store.append(batch)
        assert [e.event_id for e in appended.recorded] == [e.event_id for e in batch]
        assert appended.recorded[-1].position == await store.head() == 4
        assert [e.event_id for e in await store.read_stream("a")] == [
            batch[0].event_id, batch[2].event_id]  # fmt: skip
        assert [e.event_id for e in await store.read_run(run)] == [
            batch[0].event_id, batch[2].event_id]  # fmt: skip
        assert [e.position for e in await store.read_all(after=1, limit=2)] == [2, 3]
        wanted = [batch[3].event_id, uuid.uuid4(), batch[1].event_id]
        assert [e.event_id for e in await store.get(wanted)] == [
            batch[1].event_id, batch[3].event_id]  # fmt: skip
        [first] = await store.get([batch[0].event_id])
        assert (first.stream_id, first.stream_version, first.type) == ("a", 1, "task.deleted")
        assert first.data == batch[0].data
        assert first.metadata["run_id"] == str(run)
