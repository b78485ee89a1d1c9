"""An in-memory bus: a test double that records what was published and dedupes by msg id."""

from __future__ import annotations

from shared.bus.protocol import PublishedMessage


class InMemoryBus:
    """Test double of Bus: keeps what was stored in `published` (JetStream's view: a msg id
    once) and every durable publish attempt in `sent` (the publisher's view: re-sends too)."""

    def __init__(self) -> None:
        self.published: list[PublishedMessage] = []
        self.sent: list[PublishedMessage] = []
        self._ids: set[str] = set()

    async def publish_durable(
        self, subject: str, body: bytes, msg_id: str, headers: dict[str, str] | None = None
    ) -> None:
        """Record the attempt; store the message unless its msg_id was stored before (as
        JetStream dedupes)."""
        message = PublishedMessage(subject, body, msg_id, dict(headers or {}))
        self.sent.append(message)
        if msg_id in self._ids:
            return
        self._ids.add(msg_id)
        self.published.append(message)

    async def publish(self, subject: str, body: bytes) -> None:
        """Record a plain publish."""
        self.published.append(PublishedMessage(subject, body))
