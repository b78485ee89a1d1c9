"""The real bus: nats-py core NATS and JetStream, and the streams elizabus needs."""

from __future__ import annotations

import nats
from nats.aio.client import Client
from nats.js.api import StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from shared import subjects


class NatsBus:
    """Bus over one NATS connection."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()

    @classmethod
    async def connect(cls, url: str, name: str = "elizabus") -> NatsBus:
        """Connect to NATS; the caller closes with `close()`."""
        return cls(await nats.connect(url, name=name, max_reconnect_attempts=-1))

    async def publish_durable(
        self, subject: str, body: bytes, msg_id: str, headers: dict[str, str] | None = None
    ) -> None:
        """Store in JetStream, deduplicated by msg_id within the stream's duplicate window."""
        await self.js.publish(subject, body, headers={**(headers or {}), "Nats-Msg-Id": msg_id})

    async def publish(self, subject: str, body: bytes) -> None:
        """Fire-and-forget core NATS publish."""
        await self.nc.publish(subject, body)

    async def close(self) -> None:
        """Flush and close the connection."""
        await self.nc.drain()


async def ensure_streams(js: JetStreamContext, duplicate_window_seconds: float) -> None:
    """Create or update the JetStream streams elizabus uses (idempotent, safe at every start)."""
    config = StreamConfig(
        name=subjects.MESSAGES_STREAM,
        subjects=list(subjects.MESSAGES_STREAM_SUBJECTS),
        duplicate_window=duplicate_window_seconds,
    )
    try:
        await js.stream_info(subjects.MESSAGES_STREAM)
    except NotFoundError:
        await js.add_stream(config)
    else:
        await js.update_stream(config)
