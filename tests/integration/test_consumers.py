"""The orchestrators' durable consumers on a real JetStream: created alike by every process,
taken over from an older elizabus without answering anything twice, and refused when the
partition count disagrees with the bus."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo
from nats.js.client import JetStreamContext

from services.orchestrator.consumers import ensure_partition_consumers, ensure_router_consumer
from shared import subjects
from shared.bus.nats_bus import ensure_streams
from shared.embedded.nats_server import EmbeddedNats
from shared.errors import ConfigurationError
from shared.partitions import DEFAULT_PARTITIONS

pytestmark = pytest.mark.integration


@pytest.fixture
async def js(tmp_path: Path) -> AsyncIterator[JetStreamContext]:
    server = await EmbeddedNats(tmp_path / "nats").start()
    nc = await nats.connect(server.url)
    try:
        jetstream = nc.jetstream()
        await ensure_streams(jetstream, 120)
        yield jetstream
    finally:
        await nc.close()
        await server.stop()


async def test_the_router_takes_over_where_an_old_push_consumer_stopped(
    js: JetStreamContext,
) -> None:
    old = ConsumerConfig(
        durable_name=subjects.ORCHESTRATOR_DURABLE, deliver_subject="old.inbox",
        deliver_group=subjects.ORCHESTRATOR_DURABLE, filter_subject=subjects.MESSAGE_RECEIVED,
        max_deliver=6, ack_wait=10, ack_policy=AckPolicy.EXPLICIT,
    )  # fmt: skip
    await js.add_consumer(subjects.MESSAGES_STREAM, old)
    sub = await js.subscribe(
        subjects.MESSAGE_RECEIVED, durable=subjects.ORCHESTRATOR_DURABLE, manual_ack=True,
        stream=subjects.MESSAGES_STREAM, queue=subjects.ORCHESTRATOR_DURABLE,
    )  # fmt: skip
    for i in range(3):
        await js.publish(subjects.MESSAGE_RECEIVED, f"m{i}".encode())
    for _ in range(2):  # the old orchestrator answered the first two
        msg = await sub.next_msg(timeout=5)
        await msg.ack_sync()
    await sub.unsubscribe()

    await ensure_router_consumer(js, ack_wait=6.0, replicas=1)

    with pytest.raises(nats.js.errors.NotFoundError):
        await js.consumer_info(subjects.MESSAGES_STREAM, subjects.ORCHESTRATOR_DURABLE)
    router = await js.pull_subscribe_bind(subjects.ROUTER_DURABLE, subjects.MESSAGES_STREAM)
    (first,) = await router.fetch(1, timeout=5)
    assert first.data == b"m2"  # neither re-answered nor skipped
    info = await js.consumer_info(subjects.MESSAGES_STREAM, subjects.ROUTER_DURABLE)
    assert info.config.max_ack_pending == 1 and info.config.ack_wait == 6.0


async def test_every_process_ensures_the_same_consumers_and_a_new_ack_wait_applies(
    js: JetStreamContext,
) -> None:
    for _ in range(2):  # a second orchestrator starting changes nothing
        await ensure_router_consumer(js, ack_wait=6.0, replicas=1)
        await ensure_partition_consumers(js, partitions=4, ack_wait=6.0, replicas=1)
    names = {c.name for c in await js.consumers_info(subjects.PARTITIONS_STREAM)}
    assert names == {subjects.partition_durable(n) for n in range(4)}
    await ensure_router_consumer(js, ack_wait=9.0, replicas=1)
    await ensure_partition_consumers(js, partitions=4, ack_wait=9.0, replicas=1)
    router = await js.consumer_info(subjects.MESSAGES_STREAM, subjects.ROUTER_DURABLE)
    partition = await js.consumer_info(subjects.PARTITIONS_STREAM, subjects.partition_durable(3))
    assert router.config.ack_wait == 9.0 and partition.config.ack_wait == 9.0
    assert partition.config.max_ack_pending == 1
    assert partition.config.filter_subject == subjects.partition(3)


async def test_a_partition_count_the_bus_does_not_have_is_refused(js: JetStreamContext) -> None:
    await ensure_partition_consumers(js, partitions=8, ack_wait=6.0, replicas=1)
    for other in (4, 16):  # a conversation's partition would change under a running system
        with pytest.raises(ConfigurationError, match="the bus has 8 partitions"):
            await ensure_partition_consumers(js, partitions=other, ack_wait=6.0, replicas=1)


class StartsAnotherAfterTheFirstConsumer:
    """A JetStreamContext that runs `other` right after the first consumer it creates: a second
    orchestrator starting while the first is still creating the partition consumers."""

    def __init__(self, js: JetStreamContext, other: Callable[[], Awaitable[None]]) -> None:
        self.js = js
        self.other: Callable[[], Awaitable[None]] | None = other

    async def add_consumer(self, stream: str, config: ConsumerConfig) -> object:
        created = await self.js.add_consumer(stream, config)
        other, self.other = self.other, None
        if other is not None:
            await other()
        return created

    def __getattr__(self, name: str) -> object:
        return getattr(self.js, name)


async def test_an_orchestrator_starting_while_another_creates_the_consumers_starts_too(
    js: JetStreamContext,
) -> None:
    async def second() -> None:  # found by `make chaos`: it saw partitions 0..k and refused
        await ensure_partition_consumers(js, partitions=8, ack_wait=6.0, replicas=1)

    first = StartsAnotherAfterTheFirstConsumer(js, second)
    await ensure_partition_consumers(first, partitions=8, ack_wait=6.0, replicas=1)  # type: ignore[arg-type]
    assert first.other is None  # the second one ran, and did not refuse
    names = {c.name for c in await js.consumers_info(subjects.PARTITIONS_STREAM)}
    assert names == {subjects.partition_durable(n) for n in range(8)}


class CountsConsumerWrites:
    """A JetStreamContext that counts the consumers it is asked to create or update."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self.writes: list[str] = []

    async def add_consumer(self, stream: str, config: ConsumerConfig) -> object:
        self.writes.append(config.durable_name or "")
        return await self.js.add_consumer(stream, config)

    def __getattr__(self, name: str) -> object:
        return getattr(self.js, name)


async def test_unset_partitions_follow_the_bus_and_a_new_bus_gets_the_default(
    js: JetStreamContext,
) -> None:
    assert await ensure_partition_consumers(js, None, ack_wait=6.0, replicas=1) == (
        DEFAULT_PARTITIONS
    )
    names = {c.name for c in await _all_consumers(js)}
    assert names == {subjects.partition_durable(n) for n in range(DEFAULT_PARTITIONS)}


async def test_a_bus_set_up_with_another_count_keeps_it_when_the_setting_is_unset(
    js: JetStreamContext,
) -> None:
    # an upgrade: the bus was set up with 8 partitions by an older default
    await ensure_partition_consumers(js, partitions=8, ack_wait=6.0, replicas=1)
    assert await ensure_partition_consumers(js, None, ack_wait=6.0, replicas=1) == 8


async def test_a_restart_rewrites_only_consumers_that_changed(js: JetStreamContext) -> None:
    await ensure_partition_consumers(js, partitions=8, ack_wait=6.0, replicas=1)
    again = CountsConsumerWrites(js)
    await ensure_partition_consumers(again, partitions=8, ack_wait=6.0, replicas=1)  # type: ignore[arg-type]
    assert again.writes == []
    await js.delete_consumer(subjects.PARTITIONS_STREAM, subjects.partition_durable(5))
    await ensure_partition_consumers(again, partitions=8, ack_wait=9.0, replicas=1)  # type: ignore[arg-type]
    assert sorted(again.writes) == sorted(subjects.partition_durable(n) for n in range(8))
    assert again.writes[0] == subjects.partition_durable(7)  # the highest first
    for n in range(8):
        info = await js.consumer_info(subjects.PARTITIONS_STREAM, subjects.partition_durable(n))
        assert info.config.ack_wait == 9.0


async def _all_consumers(js: JetStreamContext) -> list[ConsumerInfo]:
    infos: list[ConsumerInfo] = []
    while True:
        page = await js.consumers_info(subjects.PARTITIONS_STREAM, offset=len(infos) or None)
        infos += page
        if len(page) < 256 or not page:
            return infos
