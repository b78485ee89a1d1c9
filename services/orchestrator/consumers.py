"""The JetStream pull consumers an orchestrator reads: the router's and one per partition.

All are durable and shared by every orchestrator process, so a process that starts pulls its
share and one that dies leaves nothing behind but its unacknowledged messages, which JetStream
gives to another process after the ack wait. Each allows ONE unacknowledged message at a time
(`max_ack_pending=1`): JetStream hands out the next message of a consumer only once the previous
one is acknowledged, which is what keeps the router's copies and each partition in publish order
however many processes pull.
"""

from __future__ import annotations

import logging

import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from shared import subjects
from shared.errors import ConfigurationError

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


async def ensure_partition_consumers(
    js: JetStreamContext, partitions: int, ack_wait: float, replicas: int
) -> None:
    """Create or update the consumers of partitions 0 .. partitions-1; refuse to run when the bus
    was set up with a different number of partitions (messages waiting in a partition no process
    reads would never be answered)."""
    existing = [
        name
        for name in await _consumer_names(js, subjects.PARTITIONS_STREAM)
        if name.startswith("partition-")
    ]
    numbers = sorted(int(n.split("-", 1)[1]) for n in existing if n.split("-", 1)[1].isdigit())
    if numbers and numbers[-1] + 1 != partitions:
        raise ConfigurationError(
            f"the bus has {numbers[-1] + 1} partitions but ELIZABUS_PARTITIONS is {partitions}: "
            "run every orchestrator with the same number; to change it, stop them all, wait until "
            f"stream {subjects.PARTITIONS_STREAM} is empty and delete its consumers"
        )
    # the highest first: a process starting while another is still creating them then sees the
    # same count at once (in ascending order it saw "0 .. k" and refused to start)
    for number in [partitions - 1, *range(partitions - 1)]:
        await js.add_consumer(
            subjects.PARTITIONS_STREAM, partition_consumer(number, ack_wait, replicas)
        )


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


async def _consumer_names(js: JetStreamContext, stream: str) -> list[str]:
    """The names of the stream's consumers."""
    infos = await js.consumers_info(stream)
    return [i.name for i in infos]
