"""The real bus: nats-py core NATS and JetStream, and the streams elizabus needs."""

from __future__ import annotations

import asyncio
import contextlib

import nats.errors
from nats.aio.client import Client
from nats.js.api import DiscardPolicy, RetentionPolicy, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from shared import subjects
from shared.bus.nats_connect import NatsAuth, connect_nats

CLOSE_FLUSH_TIMEOUT = 5
"""Seconds `NatsBus.close` waits for the server to confirm what was published."""


class NatsBus:
    """Bus over one NATS connection (to one server, or to any node of a cluster)."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self._lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @classmethod
    async def connect(
        cls, url: str, name: str = "elizabus", auth: NatsAuth | None = None
    ) -> NatsBus:
        """Connect to the NATS server(s) in `url` (comma-separated for a cluster), logged in with
        `auth`, reconnecting forever; the caller closes with `close()`."""
        bus: NatsBus | None = None

        async def disconnected() -> None:
            if bus is not None:
                bus.connection_dropped()

        bus = cls(await connect_nats(url, name, on_disconnect=disconnected, auth=auth))
        return bus

    def connection_lost(self) -> asyncio.Future[None]:
        """A future that completes when the connection next drops. Core NATS requests pending
        then are lost (the server kept no copy): a caller racing its request against this knows
        at once instead of after its timeout. Do not cancel it: it is shared."""
        return self._lost

    def connection_dropped(self) -> None:
        """Tell the waiters of `connection_lost` (called by the client when it disconnects)."""
        lost, self._lost = self._lost, asyncio.get_running_loop().create_future()
        if not lost.done():
            lost.set_result(None)

    async def publish_durable(
        self, subject: str, body: bytes, msg_id: str, headers: dict[str, str] | None = None
    ) -> None:
        """Store in JetStream, deduplicated by msg_id within the stream's duplicate window.
        Fails at once when no stream answers; callers that must ride out a cluster's leader
        election retry it (`shared.bus.jetstream_retry`)."""
        await self.js.publish(subject, body, headers={**(headers or {}), "Nats-Msg-Id": msg_id})

    async def publish(self, subject: str, body: bytes) -> None:
        """Fire-and-forget core NATS publish."""
        await self.nc.publish(subject, body)

    async def close(self) -> None:
        """Flush and close the connection; the owner stopped its subscribers before.

        Not `drain()`: it waits for every subscription's queue to empty, and a JetStream pull
        subscription whose fetch was cancelled (a stopping orchestrator's pull loops) keeps the
        server's request-expired notices queued unread, so drain always ran into its 30 s timeout.
        """
        if self.nc.is_closed:
            return
        # disconnected: nothing more can be sent
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await self.nc.flush(timeout=CLOSE_FLUSH_TIMEOUT)
        await self.nc.close()


EVENTS_MAX_AGE_SECONDS = 7 * 24 * 3600.0
"""How long the events stream keeps runtime events by default (7 days)."""

MESSAGES_MAX_AGE_SECONDS = 30 * 24 * 3600.0
"""How long the messages stream keeps bus messages and dead letters by default (30 days)."""

MESSAGES_MAX_BYTES = 10 * 1024**3
"""Size at which the messages stream drops its oldest messages by default (10 GiB)."""


async def ensure_streams(
    js: JetStreamContext,
    duplicate_window_seconds: float,
    events_max_age_seconds: float = EVENTS_MAX_AGE_SECONDS,
    replicas: int = 1,
    messages_max_age_seconds: float = MESSAGES_MAX_AGE_SECONDS,
    messages_max_bytes: int = MESSAGES_MAX_BYTES,
) -> None:
    """Create or update the JetStream streams elizabus uses (idempotent, safe at every start).

    `ELIZABUS_MESSAGES` carries the bus messages and the dead letters (`message.dlq`, which
    hold rejected bodies); it keeps them `messages_max_age_seconds` and drops the oldest once
    it holds `messages_max_bytes`, so neither grows without bound. `ELIZABUS_PARTITIONS` is the
    work queue of inbound messages routed to their partitions (a message leaves it once handled);
    `ELIZABUS_EVENTS` carries the runtime events (`event.>`) with limits retention, kept for
    `events_max_age_seconds`. Each is stored on `replicas` servers of a cluster.
    """
    await _create_or_update(
        js,
        StreamConfig(
            name=subjects.MESSAGES_STREAM,
            subjects=list(subjects.MESSAGES_STREAM_SUBJECTS),
            retention=RetentionPolicy.LIMITS,
            max_age=messages_max_age_seconds,
            max_bytes=messages_max_bytes,
            discard=DiscardPolicy.OLD,
            duplicate_window=min(duplicate_window_seconds, messages_max_age_seconds),
            num_replicas=replicas,
        ),
    )
    await _create_or_update(
        js,
        StreamConfig(
            name=subjects.PARTITIONS_STREAM,
            subjects=list(subjects.PARTITIONS_STREAM_SUBJECTS),
            retention=RetentionPolicy.WORK_QUEUE,
            duplicate_window=duplicate_window_seconds,
            num_replicas=replicas,
        ),
    )
    await _create_or_update(
        js,
        StreamConfig(
            name=subjects.EVENTS_STREAM,
            subjects=list(subjects.EVENTS_STREAM_SUBJECTS),
            retention=RetentionPolicy.LIMITS,
            max_age=events_max_age_seconds,
            # the server refuses a duplicate window longer than the max age
            duplicate_window=min(duplicate_window_seconds, events_max_age_seconds),
            num_replicas=replicas,
        ),
    )


async def _create_or_update(js: JetStreamContext, config: StreamConfig) -> None:
    """Add the stream named in `config`, or update it when it already exists."""
    try:
        await js.stream_info(str(config.name))
    except NotFoundError:
        await js.add_stream(config)
    else:
        await js.update_stream(config)
