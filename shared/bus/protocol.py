"""What services need from the bus to send: durable publish with dedupe, and plain publish."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class PublishedMessage:
    """A message as it was handed to the bus."""

    subject: str
    body: bytes
    msg_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Bus(Protocol):
    """Sending side of the bus.

    `publish_durable` stores the message in JetStream and waits for the stream's ack; a `msg_id`
    seen within the stream's duplicate window is stored once, so re-sending after a crash is safe.
    """

    async def publish_durable(
        self, subject: str, body: bytes, msg_id: str, headers: dict[str, str] | None = None
    ) -> None: ...

    async def publish(self, subject: str, body: bytes) -> None: ...
