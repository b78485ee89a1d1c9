"""The Bus contract on the InMemoryBus double and on NatsBus (a real nats-server with JetStream)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
import pytest_asyncio
from nats.aio.subscription import Subscription
from nats.js.api import StreamConfig

from shared.bus import PublishedMessage
from shared.bus.nats_bus import NatsBus
from shared.testing import InMemoryBus
from tests.contracts.bus_contract import BusContract

WAIT = 10.0  # upper bound on waiting for a delivery, not a timing assertion
DUPLICATE_WINDOW_SECONDS = 120.0


@dataclass
class InMemoryHeard:
    bus: InMemoryBus
    subject: str
    start: int

    async def bodies(self, count: int) -> list[bytes]:
        heard = [m.body for m in self.bus.published[self.start :] if m.subject == self.subject]
        assert len(heard) >= count, f"heard {len(heard)} of {count} messages on {self.subject}"
        return heard[:count]


@dataclass
class InMemoryProbe:
    bus: InMemoryBus

    def durable_subject(self, token: str) -> str:
        return f"durable.{token}"

    def plain_subject(self, token: str) -> str:
        return f"plain.{token}"

    async def stored(self) -> list[PublishedMessage]:
        return [m for m in self.bus.published if m.msg_id is not None]

    @asynccontextmanager
    async def listening(self, subject: str) -> AsyncIterator[InMemoryHeard]:
        yield InMemoryHeard(self.bus, subject, len(self.bus.published))


class TestInMemoryBus(BusContract):
    @pytest.fixture
    def probe(self) -> InMemoryProbe:
        return InMemoryProbe(InMemoryBus())


@dataclass
class NatsHeard:
    sub: Subscription

    async def bodies(self, count: int) -> list[bytes]:
        return [(await self.sub.next_msg(timeout=WAIT)).data for _ in range(count)]


@dataclass
class NatsProbe:
    """A NatsBus with a stream of its own (`<prefix>.durable.>`), so tests share no state."""

    bus: NatsBus
    stream: str
    prefix: str

    def durable_subject(self, token: str) -> str:
        return f"{self.prefix}.durable.{token}"

    def plain_subject(self, token: str) -> str:
        return f"{self.prefix}.plain.{token}"

    async def stored(self) -> list[PublishedMessage]:
        info = await self.bus.js.stream_info(self.stream)
        stored = []
        for seq in range(1, info.state.last_seq + 1):
            msg = await self.bus.js.get_msg(self.stream, seq)
            headers = dict(msg.headers or {})
            msg_id = headers.pop("Nats-Msg-Id", None)
            stored.append(PublishedMessage(str(msg.subject), msg.data or b"", msg_id, headers))
        return stored

    @asynccontextmanager
    async def listening(self, subject: str) -> AsyncIterator[NatsHeard]:
        sub = await self.bus.nc.subscribe(subject)
        await self.bus.nc.flush()  # the server has the interest before anything is published
        try:
            yield NatsHeard(sub)
        finally:
            await sub.unsubscribe()


@pytest.mark.integration
class TestNatsBus(BusContract):
    @pytest_asyncio.fixture
    async def probe(self, nats_url: str) -> AsyncIterator[NatsProbe]:
        bus = await NatsBus.connect(nats_url, name="bus-contract")
        token = uuid.uuid4().hex[:12]
        stream, prefix = f"CONTRACT_{token}", f"contract_{token}"
        await bus.js.add_stream(
            StreamConfig(name=stream, subjects=[f"{prefix}.durable.>"],
                         duplicate_window=DUPLICATE_WINDOW_SECONDS)
        )  # fmt: skip
        try:
            yield NatsProbe(bus, stream, prefix)
        finally:
            await bus.js.delete_stream(stream)
            await bus.close()
