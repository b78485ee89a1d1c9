"""The orchestrator as a FastStream app: a durable JetStream consumer of `message.received`."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import nats.js.errors
from faststream import FastStream
from faststream.middlewares import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsBroker
from faststream.nats.message import NatsMessage
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from services.orchestrator.agents import build_runtime
from services.orchestrator.delivery import Delivery, Disposition, Orchestrator, retry_delay
from services.orchestrator.message_run import AgentHost, MessageRunner
from shared import subjects
from shared.bus.nats_bus import NatsBus, ensure_streams
from shared.character import Character, load_character
from shared.eventstore.migrations import migrate
from shared.eventstore.postgres import PostgresEventStore, create_pool
from shared.projections import PostgresProjector
from shared.runtime.settings_lookup import secret_values
from shared.secrets import Scrubber, install_log_scrubber
from shared.settings import MAX_DELIVER, Settings

log = logging.getLogger(__name__)

__all__ = [
    "MAX_DELIVER", "build_app", "consumer_limits", "run_orchestrator", "update_consumer_limits",
]  # fmt: skip


def consumer_limits(settings: Settings) -> tuple[float, int]:
    """The durable consumer's ack wait and delivery limit. JetStream may deliver a message once
    more than the orchestrator's own limit (`settings.max_deliver`), so the orchestrator always
    dead-letters a failing message itself before JetStream would stop delivering it."""
    return settings.ack_wait_seconds, settings.max_deliver + 1


async def update_consumer_limits(js: JetStreamContext, ack_wait: float, max_deliver: int) -> None:
    """Bring an existing orchestrator consumer to today's ack wait and delivery limit: JetStream
    keeps a durable consumer's config when a subscriber binds to it, so a data dir from an older
    version would otherwise keep the old limits (a message could run out of deliveries before
    the orchestrator dead-letters it)."""
    try:
        info = await js.consumer_info(subjects.MESSAGES_STREAM, subjects.ORCHESTRATOR_DURABLE)
    except nats.js.errors.NotFoundError:
        return  # the subscriber creates it with these limits
    config = info.config
    if config.max_deliver != max_deliver or config.ack_wait != ack_wait:
        config.max_deliver, config.ack_wait = max_deliver, ack_wait
        await js.add_consumer(subjects.MESSAGES_STREAM, config)
        log.info("updated consumer %s: ack_wait %ss, max_deliver %d",
                 subjects.ORCHESTRATOR_DURABLE, ack_wait, max_deliver)  # fmt: skip


async def _keep_in_progress(raw: Msg, every: float) -> None:
    """Send JetStream "in progress" for `raw` every `every` seconds until cancelled."""
    while True:
        await asyncio.sleep(max(every, 0.5))
        try:
            await raw.in_progress()
        except Exception as exc:  # a lost heartbeat only risks a redelivery, which is harmless
            log.debug("in-progress heartbeat failed: %r", exc)


async def _the_message(message: NatsMessage) -> NatsMessage:
    """Decoder that hands the handler the message itself: it needs the raw body (to validate or
    dead-letter it), the JetStream metadata, and the ack."""
    return message


def build_app(settings: Settings, characters: list[Character]) -> FastStream:
    """Wire the orchestrator: bus, event store, one AgentRuntime per character, subscriber."""
    nats_url = settings.resolved_nats_url()
    database_url = settings.resolved_database_url()
    # per-message access logs at DEBUG: they are the hot path's most expensive lines at INFO
    # apply_types=False: no dependency injection per message; the handler gets the message itself
    # logger: FastStream's records go through the root handlers, where secrets are scrubbed
    broker = NatsBroker(
        nats_url,
        name="elizabus-orchestrator",
        log_level=logging.DEBUG,
        apply_types=False,
        logger=logging.getLogger("elizabus.faststream"),
    )
    scrubber = Scrubber(v for c in characters for v in secret_values(c))
    ack_wait, consumer_max_deliver = consumer_limits(settings)
    app = FastStream(broker)
    parts: dict[str, Any] = {}

    @app.on_startup
    async def start() -> None:
        install_log_scrubber(scrubber)  # the hosted characters' secrets never reach a log line
        await migrate(database_url)
        bus = await NatsBus.connect(nats_url, name="elizabus-orchestrator-bus")
        await ensure_streams(bus.js, settings.duplicate_window_seconds)
        await update_consumer_limits(bus.js, *consumer_limits(settings))
        pool = await create_pool(database_url)
        store = PostgresEventStore(pool, PostgresProjector())
        host = AgentHost([build_runtime(c, store, pool, bus, settings) for c in characters])
        await host.initialize()
        for runtime in host.by_id.values():
            runtime.start_task_scheduler()
        parts.update(bus=bus, pool=pool, host=host)
        runner = MessageRunner(store, fault=settings.fault)
        parts["service"] = Orchestrator(
            host,
            runner,
            bus,
            store,
            max_deliver=settings.max_deliver,
            fault=settings.fault,
            scrubber=scrubber,
        )
        names = ", ".join(f"{c.name} ({c.agent_id})" for c in characters)
        log.info("orchestrator ready: agents %s", names)

    @broker.subscriber(
        subjects.MESSAGE_RECEIVED,
        stream=JStream(subjects.MESSAGES_STREAM, declare=False),
        durable=subjects.ORCHESTRATOR_DURABLE,
        queue=subjects.ORCHESTRATOR_DURABLE,
        config=ConsumerConfig(ack_wait=ack_wait, max_deliver=consumer_max_deliver),
        ack_policy=AckPolicy.MANUAL,
        decoder=_the_message,
    )
    async def on_message_received(msg: NatsMessage) -> None:
        raw = msg.raw_message
        meta = raw.metadata
        delivery = Delivery(
            body=raw.data,
            subject=raw.subject,
            headers=dict(raw.headers or {}),
            stream_sequence=meta.sequence.stream,
            num_delivered=meta.num_delivered,
        )
        # a run may outlast ack_wait (several model calls): tell JetStream it is being worked on,
        # or it would deliver the message again to another orchestrator meanwhile
        beat = asyncio.create_task(_keep_in_progress(raw, ack_wait / 3))
        try:
            disposition = await parts["service"].process(delivery)
        finally:
            beat.cancel()
        if disposition is Disposition.ACK:
            await msg.ack()
        else:
            delay = retry_delay(
                meta.num_delivered, settings.retry_delay_seconds, settings.max_retry_delay_seconds
            )
            await msg.nack(delay=delay)

    @app.on_shutdown
    async def stop() -> None:
        if "host" in parts:
            await parts["host"].stop()
        if "bus" in parts:
            await parts["bus"].close()
        if "pool" in parts:
            await parts["pool"].close()

    return app


async def run_orchestrator(settings: Settings, character_paths: list[Path]) -> None:
    """Run the orchestrator until SIGINT/SIGTERM."""
    characters = [load_character(p) for p in character_paths] or [load_character(None)]
    app = build_app(settings, characters)
    await app.run()
