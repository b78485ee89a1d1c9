"""Where runtime components record what they did: the `EventSink` Protocol, and `StoreSink`, the
sink used outside a message's run."""

from __future__ import annotations

import uuid
from typing import Protocol

from shared.events import EventData, EventMetadata, NewEvent
from shared.eventstore import EventStore
from shared.runtime.run_scope import current_run_id
from shared.secrets import Scrubber


class EventSink(Protocol):
    """Where runtime components record what they did.

    Inside a message's run the events join the run's single atomic append; outside a run they are
    appended at once. Components never write to the store directly. `event_id` (derived from what
    the event states) makes re-recording the same fact a no-op; without it the id is fresh.
    `ListSink` (shared.testing) is the test double.
    """

    async def record(
        self, payload: EventData, stream_id: str | None = None, event_id: uuid.UUID | None = None
    ) -> None: ...


def default_stream(payload: EventData, agent_id: uuid.UUID) -> str:
    """`<kind>-<id>` for payloads about one thing (a task, an entity), else `agent-<agent id>`."""
    kind = payload.event_type.split(".", 1)[0]
    subject = getattr(payload, "id", None)
    return f"{kind}-{subject}" if subject is not None else f"agent-{agent_id}"


class StoreSink:
    """EventSink that appends each event at once, in its own transaction."""

    def __init__(
        self, store: EventStore, agent_id: uuid.UUID, scrubber: Scrubber | None = None
    ) -> None:
        self.store = store
        self.agent_id = agent_id
        self.scrubber = scrubber or Scrubber()

    async def record(
        self, payload: EventData, stream_id: str | None = None, event_id: uuid.UUID | None = None
    ) -> None:
        """Append one event now, with the agent's secrets scrubbed from it."""
        event = NewEvent.of(
            payload,
            event_id=event_id or uuid.uuid4(),
            stream_id=stream_id or default_stream(payload, self.agent_id),
            metadata=EventMetadata(agent_id=self.agent_id, run_id=current_run_id()),
        )
        event.data = self.scrubber.event_data(event.type, event.data)
        await self.store.append([event])
