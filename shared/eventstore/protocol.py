"""The event store boundary: append idempotently with optimistic concurrency, read in order."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from shared.events import NewEvent, RecordedEvent


@dataclass(frozen=True)
class AppendResult:
    """What an append did: the events it recorded, and the ids it skipped as already recorded."""

    recorded: list[RecordedEvent] = field(default_factory=list)
    duplicates: list[uuid.UUID] = field(default_factory=list)


class EventStore(Protocol):
    """Append-only log of events with a gap-free global order.

    `append` is atomic: all new events of the call are recorded, with their projections, or none.
    An event whose `event_id` is already recorded is skipped, so a redelivered command appends
    nothing twice. An `expected_version` that does not match raises ConcurrencyError. An event
    that states an `expected_version` (a claim, such as a run's start) and is already recorded
    makes the whole call a no-op, every id reported as a duplicate: the batch was committed
    before, or another writer won the claim, and none of this batch may mix with it.
    """

    async def append(self, events: Sequence[NewEvent]) -> AppendResult: ...

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]: ...

    async def read_stream(self, stream_id: str) -> list[RecordedEvent]: ...

    async def read_run(self, run_id: uuid.UUID) -> list[RecordedEvent]: ...

    async def get(self, event_ids: Sequence[uuid.UUID]) -> list[RecordedEvent]: ...

    async def head(self) -> int: ...


class ProjectionStep(NamedTuple):
    """One projection statement and its rows (one `executemany`). `commutes`: the statement
    writes only the rows its own keys name, reading no other row (an INSERT, an upsert of its
    own row), so it may run before the append takes the log's lock: a concurrent append touching
    the same row waits for this one's commit, so row changes still land in position order."""

    sql: str
    rows: list[tuple[Any, ...]]
    commutes: bool


class Projector(Protocol):
    """Writes read models from events, inside the transaction that appends them.

    The same code rebuilds the read models from the log alone, so the two always agree.
    """

    tables: tuple[str, ...]

    def steps(self, events: Sequence[RecordedEvent]) -> list[ProjectionStep]:
        """The statements these events imply, in the order they must run."""
        ...

    async def run(self, conn: Any, steps: Sequence[ProjectionStep]) -> None:
        """Run `steps` in order on `conn`."""
        ...

    async def apply(self, conn: Any, events: Sequence[RecordedEvent]) -> None: ...
