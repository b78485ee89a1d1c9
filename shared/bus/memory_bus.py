"""An in-memory bus: a test double that records what was published and dedupes by msg id."""

from __future__ import annotations

from shared.bus.protocol import PublishedMessage


class InMemoryBus:
    """Test double of Bus: keeps published messages in `published`, in order."""

    def __init__(self) -> None:
        self.published: list[PublishedMessage] = []
        self._ids: set[str] = set()

    async def publish_durable(
        self, subject: str, body: bytes, msg_id: str, headers: dict[str, str] | None = None
    ) -> None:
        """Record the message unless its msg_id was published before (as JetStream dedupes)."""
        if msg_id in self._ids:
            return
        self._ids.add(msg_id)
        self.published.append(PublishedMessage(subject, body, msg_id, dict(headers or {})))

    async def publish(self, subject: str, body: bytes) -> None:
        """Record a plain publish."""
        self.published.append(PublishedMessage(subject, body))
