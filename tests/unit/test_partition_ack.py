"""A partition loop's ack: a message held past the ack wait is acknowledged only while it is still
this process's delivery; one held briefly is acknowledged without asking (JetStream cannot have
given it away yet). Doubles for the JetStream context and the message."""

from __future__ import annotations

import time
from types import SimpleNamespace

from services.orchestrator.pull_loops import PullLoops


class JetStreamDouble:
    """Answers `consumer_info` with the consumer's last delivery; counts the questions."""

    def __init__(self, last_delivery: int) -> None:
        self.last_delivery = last_delivery
        self.asked = 0

    async def consumer_info(self, stream: str, durable: str, timeout: float) -> SimpleNamespace:
        self.asked += 1
        return SimpleNamespace(delivered=SimpleNamespace(consumer_seq=self.last_delivery))


class MessageDouble:
    """A held partition message (delivery `consumer_seq` of its consumer) that records its ack."""

    def __init__(self, consumer_seq: int) -> None:
        self.metadata = SimpleNamespace(sequence=SimpleNamespace(consumer=consumer_seq))
        self.acked = False

    async def ack(self) -> None:
        self.acked = True


def loops(js: JetStreamDouble, ack_wait: float = 30.0) -> PullLoops:
    async def handle(msg: object) -> None:
        return None

    return PullLoops(js, handle, partitions=1, max_concurrent_runs=1, ack_wait=ack_wait)  # type: ignore[arg-type]


async def test_a_message_held_past_the_ack_wait_and_given_away_is_not_acknowledged() -> None:
    js = JetStreamDouble(last_delivery=8)  # JetStream delivered it again (to another process)
    msg = MessageDouble(consumer_seq=7)
    long_ago = time.monotonic() - 31.0
    await loops(js).ack_if_still_ours(msg, "partition-0", held_since=long_ago)  # type: ignore[arg-type]
    assert js.asked == 1 and not msg.acked


async def test_a_message_held_past_the_ack_wait_and_still_ours_is_acknowledged() -> None:
    js = JetStreamDouble(last_delivery=7)
    msg = MessageDouble(consumer_seq=7)
    long_ago = time.monotonic() - 31.0
    await loops(js).ack_if_still_ours(msg, "partition-0", held_since=long_ago)  # type: ignore[arg-type]
    assert js.asked == 1 and msg.acked


async def test_a_message_held_briefly_is_acknowledged_without_asking() -> None:
    js = JetStreamDouble(last_delivery=8)
    msg = MessageDouble(consumer_seq=7)
    await loops(js).ack_if_still_ours(msg, "partition-0", held_since=time.monotonic())  # type: ignore[arg-type]
    assert js.asked == 0 and msg.acked
