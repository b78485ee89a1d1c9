"""`ListSink`: the EventSink double."""

from __future__ import annotations

import uuid

from shared.events import EventData


class ListSink:
    """EventSink test double: keeps the payloads in order in `recorded`."""

    def __init__(self) -> None:
        self.recorded: list[EventData] = []

    async def record(
        self, payload: EventData, stream_id: str | None = None, event_id: uuid.UUID | None = None
    ) -> None:
        """Keep the payload."""
        self.recorded.append(payload)
