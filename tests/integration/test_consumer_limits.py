"""An orchestrator consumer left by an older version gets today's limits at start-up."""

from __future__ import annotations

import nats
from nats.js.api import AckPolicy, ConsumerConfig

from services.orchestrator.app import update_consumer_limits
from shared import subjects
from shared.bus.nats_bus import ensure_streams


async def test_an_old_consumers_limits_are_updated(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        await ensure_streams(js, 120)
        old = ConsumerConfig(
            durable_name=subjects.ORCHESTRATOR_DURABLE, deliver_subject="old.inbox",
            deliver_group=subjects.ORCHESTRATOR_DURABLE, filter_subject=subjects.MESSAGE_RECEIVED,
            max_deliver=6, ack_wait=10, ack_policy=AckPolicy.EXPLICIT,
        )  # fmt: skip
        await js.add_consumer(subjects.MESSAGES_STREAM, old)
        await update_consumer_limits(js, 30.0, 9)
        info = await js.consumer_info(subjects.MESSAGES_STREAM, subjects.ORCHESTRATOR_DURABLE)
        assert info.config.max_deliver == 9 and info.config.ack_wait == 30.0
    finally:
        await js.delete_consumer(subjects.MESSAGES_STREAM, subjects.ORCHESTRATOR_DURABLE)
        await nc.close()
