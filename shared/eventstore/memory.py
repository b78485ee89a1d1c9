"""An in-memory event store: a test double with the same semantics as the Postgres recorder."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from shared.errors import ConcurrencyError
from shared.events import NewEvent, RecordedEvent
from shared.eventstore.protocol import AppendResult


class InMemoryEventStore:
    """Test double of EventStore: idempotent, versioned, gap-free, and gone with the process."""

    def __init__(self) -> None:
        self.events: list[RecordedEvent] = []
        self._ids: set[uuid.UUID] = set()
        self._versions: dict[str, int] = {}

    async def append(self, events: Sequence[NewEvent]) -> AppendResult:
        """Record the events not recorded yet, all or none."""
        versions = dict(self._versions)
        staged: list[RecordedEvent] = []
        duplicates: list[uuid.UUID] = []
        seen: set[uuid.UUID] = set()
        if any(e.expected_version is not None and e.event_id in self._ids for e in events):
            return AppendResult(duplicates=[e.event_id for e in events])
        for event in events:
            if event.event_id in self._ids or event.event_id in seen:
                duplicates.append(event.event_id)
                continue
            seen.add(event.event_id)
            current = versions.get(event.stream_id, 0)
            if event.expected_version is not None and event.expected_version != current:
                raise ConcurrencyError(event.stream_id, event.expected_version, current)
            versions[event.stream_id] = current + 1
            staged.append(
                RecordedEvent(
                    position=len(self.events) + len(staged) + 1,
                    event_id=event.event_id,
                    stream_id=event.stream_id,
                    stream_version=current + 1,
                    type=event.type,
                    data=event.data,
                    metadata=event.metadata.model_dump(mode="json", exclude_none=True),
                    recorded_at=datetime.now(UTC),
                )
            )
        self.events.extend(staged)
        self._ids.update(e.event_id for e in staged)
        self._versions = versions
        return AppendResult(recorded=staged, duplicates=duplicates)

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Events after a global position, in order."""
        return self.events[after : after + limit]

    async def read_stream(self, stream_id: str) -> list[RecordedEvent]:
        """One stream's events in version order."""
        return [e for e in self.events if e.stream_id == stream_id]

    async def read_run(self, run_id: uuid.UUID) -> list[RecordedEvent]:
        """Every event of one run, in order."""
        return [e for e in self.events if e.metadata.get("run_id") == str(run_id)]

    async def get(self, event_ids: Sequence[uuid.UUID]) -> list[RecordedEvent]:
        """The recorded events among these ids, in log order."""
        wanted = set(event_ids)
        return [e for e in self.events if e.event_id in wanted]

    async def head(self) -> int:
        """The position of the last recorded event."""
        return len(self.events)
