"""The Bus contract: one suite every implementation passes (NatsBus on JetStream and the
InMemoryBus double alike).

Subclass `BusContract` in a `Test...` class and give it a `probe` fixture that yields a `BusProbe`:
the bus under test, fresh subjects, and ways to see what the bus stored durably and what a
subscriber heard (see tests/contracts/test_bus.py).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from shared.bus import Bus, PublishedMessage


class Heard(Protocol):
    """What a subscriber to one subject receives."""

    async def bodies(self, count: int) -> list[bytes]:
        """The first `count` bodies heard, in order (waits for them, within a bound)."""
        ...


class BusProbe(Protocol):
    """The bus under test and what a test observes of it."""

    @property
    def bus(self) -> Bus: ...

    def durable_subject(self, token: str) -> str:
        """A fresh subject that durable publishes are stored on."""
        ...

    def plain_subject(self, token: str) -> str:
        """A fresh subject for plain publishes."""
        ...

    async def stored(self) -> list[PublishedMessage]:
        """Every message stored durably on this probe's subjects, in order (the msg id apart
        from the other headers)."""
        ...

    def listening(self, subject: str) -> AbstractAsyncContextManager[Heard]:
        """Subscribe to `subject` for the duration of the block."""
        ...


class BusContract:
    """Durable publishes stored once per msg id with their headers; plain publishes heard in
    order by subscribers."""

    async def test_a_durable_message_is_stored_with_its_id_and_headers(
        self, probe: BusProbe
    ) -> None:
        subject = probe.durable_subject("one")
        await probe.bus.publish_durable(subject, b"first", "id-1", {"Run-Id": "r1"})
        await probe.bus.publish_durable(subject, b"second", "id-2")
        assert await probe.stored() == [
            PublishedMessage(subject, b"first", "id-1", {"Run-Id": "r1"}),
            PublishedMessage(subject, b"second", "id-2", {}),
        ]

    async def test_a_msg_id_published_again_is_stored_once(self, probe: BusProbe) -> None:
        first, other = probe.durable_subject("a"), probe.durable_subject("b")
        await probe.bus.publish_durable(first, b"original", "same-id")
        await probe.bus.publish_durable(first, b"resent after a crash", "same-id")
        await probe.bus.publish_durable(other, b"another", "other-id")
        await probe.bus.publish_durable(other, b"on another subject", "same-id")
        assert [(m.subject, m.body, m.msg_id) for m in await probe.stored()] == [
            (first, b"original", "same-id"),
            (other, b"another", "other-id"),
        ]

    async def test_plain_publishes_reach_a_subscriber_in_order(self, probe: BusProbe) -> None:
        subject = probe.plain_subject("ping")
        async with probe.listening(subject) as heard:
            for body in (b"one", b"two", b"three"):
                await probe.bus.publish(subject, body)
            assert await heard.bodies(3) == [b"one", b"two", b"three"]
