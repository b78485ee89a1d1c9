"""Collects a run's events and outbound messages in memory, for one atomic append."""

from __future__ import annotations

import uuid

from shared.events import EventData, EventMetadata, NewEvent
from shared.ids import derived_id
from shared.runtime.run_scope import Outbox
from shared.secrets import Scrubber


class RunRecorder:
    """The events of one run, in order, and what it will publish. Nothing is written or
    published until the orchestrator appends the events and then flushes the outbox."""

    def __init__(self, run_id: uuid.UUID, agent_id: uuid.UUID, correlation_id: uuid.UUID) -> None:
        self.run_id = run_id
        self.agent_id = agent_id
        self.correlation_id = correlation_id
        self.events: list[NewEvent] = []
        self.outbox = Outbox()

    def add(
        self,
        payload: EventData,
        stream_id: str,
        *,
        event_id: uuid.UUID | None = None,
        expected_version: int | None = None,
    ) -> NewEvent:
        """Queue an event of this run. Its id is derived from the run unless given."""
        event = NewEvent.of(
            payload,
            event_id=event_id
            or derived_id(self.run_id, f"{len(self.events)}:{payload.event_type}"),
            stream_id=stream_id,
            metadata=EventMetadata(
                agent_id=self.agent_id,
                run_id=self.run_id,
                correlation_id=self.correlation_id,
                causation_id=self.events[-1].event_id if self.events else None,
            ),
            expected_version=expected_version,
        )
        self.events.append(event)
        return event

    def scrub(self, scrubber: Scrubber) -> None:
        """Remove the agent's secrets from every queued event and outbound message (before the
        append: nothing secret reaches the log or the bus)."""
        if not scrubber:
            return
        for event in self.events:
            event.data = scrubber.data(event.data)
        for outbound in self.outbox.messages:
            outbound.body = scrubber.data(outbound.body)

    def add_all(self, events: list[NewEvent]) -> None:
        """Queue events built elsewhere (connections), stamping them with this run."""
        for event in events:
            event.metadata = EventMetadata(
                agent_id=self.agent_id, run_id=self.run_id, correlation_id=self.correlation_id
            )
            self.events.append(event)
