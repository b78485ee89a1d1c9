"""The load: messages to DM rooms (always answered), published at a steady rate, as an adapter
would publish them, retried through a NATS outage with the same `Nats-Msg-Id`.

Every message is recorded as a `Sent`: when it was first published, its stream sequence, and what
must become of it (a reply, or a dead letter for a body built to be refused).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient

from shared import subjects
from shared.messages import EntityRef, InboundContent, MessageReceived, RoomRef
from shared.records import ChannelType

SOURCE = "chaos"
PUBLISH_DEADLINE = 180.0
"""How long one publish is retried (NATS down, JetStream electing) before the load gives up."""


@dataclass
class Sent:
    """One published body and what must become of it."""

    key: str
    """The message id (a UUID) for a message, a label of its own for a body built to be refused."""
    body: bytes
    expect: Literal["reply", "dlq"]
    kind: str = "load"
    room: str | None = None
    text: str | None = None
    """The text to find stored verbatim, for a valid message."""
    published_at: float = 0.0
    """Wall-clock time of the first publish attempt."""
    acked_at: float = 0.0
    sequence: int | None = None
    """Its sequence in stream ELIZABUS_MESSAGES (what a dead letter names it by)."""
    attempts: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def message_id(self) -> uuid.UUID:
        """The message id of a valid message."""
        return uuid.UUID(self.key)


def room_name(index: int) -> str:
    """The platform id of load room `index`."""
    return f"chaos-room-{index}"


def dm_message(text: str, room: int, message_id: uuid.UUID | None = None) -> MessageReceived:
    """A message in DM room `room` from its one user."""
    return MessageReceived(
        id=message_id or uuid.uuid4(),
        source=SOURCE,
        entity=EntityRef(id=f"chaos-user-{room}", name=f"User {room}", username=f"user{room}"),
        room=RoomRef(id=room_name(room), name=f"dm {room}", type=ChannelType.DM),
        content=InboundContent(text=text),
    )


def load_messages(count: int, rooms: int) -> list[Sent]:
    """`count` messages spread round-robin over `rooms` DM rooms."""
    plan = []
    for i in range(count):
        room = i % rooms
        text = f"message {i} in room {room}: what do you think about the weather today?"
        msg = dm_message(text, room)
        plan.append(
            Sent(
                key=str(msg.id),
                body=msg.model_dump_json(exclude_none=True).encode(),
                expect="reply",
                room=room_name(room),
                text=text,
            )
        )
    return plan


CONNECTION_ERRORS: list[str] = []
"""What the harness's NATS connection reported (a restart of NATS is one of the faults), kept
here instead of printed."""


async def _note_error(exc: Exception) -> None:
    CONNECTION_ERRORS.append(f"{time.time():.3f} {type(exc).__name__}: {exc}")


async def connect(url: str, login: dict[str, str] | None = None) -> NatsClient:
    """A client connection that reconnects for ever (a NATS restart is one of the faults),
    logged in with `login` (nats-py's user and password options)."""
    return await nats.connect(
        url, name="elizabus-chaos", max_reconnect_attempts=-1, reconnect_time_wait=0.2,
        connect_timeout=2, allow_reconnect=True, error_cb=_note_error, **(login or {}),
    )  # fmt: skip


class Publisher:
    """Publishes bodies to `message.received` in order, each retried until JetStream stores it."""

    def __init__(self, nc: NatsClient) -> None:
        self.nc = nc
        self.js = nc.jetstream(timeout=2.0)
        self.published: list[Sent] = []
        self.progress = asyncio.Condition()
        """Notified after each publish of the load (`wait_published`)."""

    async def publish(self, sent: Sent) -> None:
        """Publish one body (Nats-Msg-Id = its key, so a retry is stored once)."""
        sent.published_at = time.time()
        self.published.append(sent)
        deadline = time.monotonic() + PUBLISH_DEADLINE
        while True:
            sent.attempts += 1
            try:
                ack = await self.js.publish(
                    subjects.MESSAGE_RECEIVED, sent.body, headers={"Nats-Msg-Id": sent.key}
                )
            except (nats.errors.Error, nats.js.errors.Error, OSError, TimeoutError) as exc:
                sent.errors.append(f"{type(exc).__name__}: {exc}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"could not publish {sent.key}: {sent.errors[-3:]}") from exc
                await asyncio.sleep(0.2)
                continue
            sent.sequence = ack.seq
            sent.acked_at = time.time()
            return

    async def run(self, plan: Iterable[Sent], rate: float) -> None:
        """Publish `plan` in order at `rate` bodies per second (later ones wait if a publish
        had to be retried: the order within a room is kept)."""
        start = time.monotonic()
        for index, sent in enumerate(plan):
            due = start + index / rate
            if (pause := due - time.monotonic()) > 0:
                await asyncio.sleep(pause)
            await self.publish(sent)
            async with self.progress:
                self.progress.notify_all()

    async def wait_published(self, count: int) -> None:
        """Return once `count` bodies of the load have been published."""
        async with self.progress:
            await self.progress.wait_for(lambda: len(self.published) >= count)
