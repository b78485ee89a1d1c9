"""The JetStream pull consumers an orchestrator reads: the router's and one per partition.

All are durable and shared by every orchestrator process, so a process that starts pulls its
share and one that dies leaves nothing behind but its unacknowledged messages, which JetStream
gives to another process after the ack wait. Each allows ONE unacknowledged message at a time
(`max_ack_pending=1`): JetStream hands out the next message of a consumer only once the previous
one is acknowledged, which is what keeps the router's copies and each partition in publish order
however many processes pull.
"""

from __future__ import annotations

import asyncio
import logging

import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy
from nats.js.client import JetStreamContext

from shared import subjects
from shared.errors import ConfigurationError
from shared.partitions import DEFAULT_PARTITIONS

log = logging.getLogger(__name__)


def partition_consumer(number: int, ack_wait: float, replicas: int) -> ConsumerConfig:
    """The durable consumer of partition `number`: in order, one message at a time."""
    return ConsumerConfig(
        durable_name=subjects.partition_durable(number),
        filter_subject=subjects.partition(number),
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        max_ack_pending=1,
        ack_wait=ack_wait,
        max_deliver=-1,  # the orchestrator dead-letters; JetStream never drops a message
        num_replicas=replicas,
    )


CREATE_CONCURRENCY = 32
"""Partition consumers created at once (after the highest, which is created alone first)."""


def _differs(current: ConsumerConfig, wanted: ConsumerConfig) -> bool:
    return (
        current.filter_subject != wanted.filter_subject
        or current.max_ack_pending != wanted.max_ack_pending
        or current.ack_wait != wanted.ack_wait
        or current.max_deliver != wanted.max_deliver
        or (current.num_replicas or 1) != (wanted.num_replicas or 1)
    )


async def ensure_partition_consumers(
    js: JetStreamContext, partitions: int | None, ack_wait: float, replicas: int
) -> int:
    """Create or update the consumers of partitions 0 .. n-1 and return n.

    `partitions=None` (ELIZABUS_PARTITIONS not set) takes the count the bus already has, or
    `DEFAULT_PARTITIONS` on a new bus, so a bus set up with another count keeps working after
    an upgrade. A count given explicitly that differs from the bus's is refused: messages waiting
    in a partition no process reads would never be answered, and a conversation's partition would
    change under a running system. Consumers that exist with the wanted configuration are left
    alone, so a restart costs one listing."""
    existing = {
        info.name: info.config
        for info in await _consumer_infos(js, subjects.PARTITIONS_STREAM)
        if info.name.startswith("partition-")
    }
    numbers = sorted(int(n.split("-", 1)[1]) for n in existing if n.split("-", 1)[1].isdigit())
    on_bus = numbers[-1] + 1 if numbers else None
    if partitions is None:
        partitions = on_bus or DEFAULT_PARTITIONS
    if on_bus is not None and on_bus != partitions:
        raise ConfigurationError(
            f"the bus has {on_bus} partitions but ELIZABUS_PARTITIONS is {partitions}: "
            "run every orchestrator with the same number (or leave ELIZABUS_PARTITIONS unset to "
            "follow the bus); to change it, stop them all, wait until "
            f"stream {subjects.PARTITIONS_STREAM} is empty and delete its consumers"
        )
    wanted = [partition_consumer(n, ack_wait, replicas) for n in reversed(range(partitions))]
    missing = [
        c for c in wanted if c.durable_name not in existing or _differs(existing[c.durable_name], c)
    ]
    if not missing:
        return partitions
    # highest first, alone: an orchestrator starting meanwhile sees the whole range at once, not
    # the few created so far (which it would take for a bus set up with fewer partitions)
    if missing[0].durable_name == wanted[0].durable_name:
        await js.add_consumer(subjects.PARTITIONS_STREAM, missing.pop(0))
    gate = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def create(config: ConsumerConfig) -> None:
        async with gate:
            await js.add_consumer(subjects.PARTITIONS_STREAM, config)

    await asyncio.gather(*(create(c) for c in missing))
    return partitions


async def ensure_router_consumer(js: JetStreamContext, ack_wait: float, replicas: int) -> None:
    """Create or update the router's consumer of `message.received`.

    A store set up by an older elizabus has the push consumer `orchestrator` instead: the router
    starts after the last message that consumer acknowledged (so nothing is answered twice or
    skipped), and the old consumer is deleted.
    """
    config = ConsumerConfig(
        durable_name=subjects.ROUTER_DURABLE,
        filter_subject=subjects.MESSAGE_RECEIVED,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        max_ack_pending=1,
        ack_wait=ack_wait,
        max_deliver=-1,
        num_replicas=replicas,
    )
    try:
        await js.consumer_info(subjects.MESSAGES_STREAM, subjects.ROUTER_DURABLE)
    except nats.js.errors.NotFoundError:
        try:
            old = await js.consumer_info(subjects.MESSAGES_STREAM, subjects.ORCHESTRATOR_DURABLE)
        except nats.js.errors.NotFoundError:
            old = None
        if old is not None and old.ack_floor is not None:
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = (old.ack_floor.stream_seq or 0) + 1
            log.info("routing message.received from sequence %d, where the old consumer %s "
                     "stopped", config.opt_start_seq, subjects.ORCHESTRATOR_DURABLE)  # fmt: skip
        try:
            await js.add_consumer(subjects.MESSAGES_STREAM, config)
        except nats.js.errors.BadRequestError:  # another orchestrator created it meanwhile
            await js.consumer_info(subjects.MESSAGES_STREAM, subjects.ROUTER_DURABLE)
    else:  # keep where it is; update the limits only (the start is fixed at creation)
        info = await js.consumer_info(subjects.MESSAGES_STREAM, subjects.ROUTER_DURABLE)
        current = info.config
        current.ack_wait, current.max_ack_pending = ack_wait, 1
        await js.add_consumer(subjects.MESSAGES_STREAM, current)
    try:
        await js.delete_consumer(subjects.MESSAGES_STREAM, subjects.ORCHESTRATOR_DURABLE)
        log.info("deleted the old push consumer %s", subjects.ORCHESTRATOR_DURABLE)
    except nats.js.errors.NotFoundError:
        pass


async def _consumer_infos(js: JetStreamContext, stream: str) -> list[ConsumerInfo]:
    """The stream's consumers, every page of them (the API answers at most 256 at a time)."""
    infos: list[ConsumerInfo] = []
    while True:
        page = await js.consumers_info(stream, offset=len(infos) or None)
        infos += page
        if len(page) < 256 or not page:
            return infos
