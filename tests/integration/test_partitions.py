"""Many rooms at once, each room in order, on several orchestrator processes (real NATS + Postgres).

Order is checked from the log, which records what really happened: for each room, the runs of its
messages were committed in publish order, and each run started only after the run of the room's
previous message had ended (so it saw that run's writes).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import nats
import nats.js.errors
import pytest
from nats.aio.client import Client as NatsClient

from services.model_worker.app import build_worker_app
from services.model_worker.latency import WithLatency
from shared import subjects
from shared.bus.nats_bus import ensure_streams
from shared.embedded.nats_server import EmbeddedNats
from shared.eventstore.postgres import create_pool
from shared.messages import (
    MessageReceived,
    ModelRequest,
)
from shared.partitions import conversation_key, partition_of
from shared.settings import Settings
from shared.testing import ScriptedModel
from tests.integration.support import (
    assert_each_room_in_publish_order,
    at_least,
    completed_runs,
    dm,
    fresh_database,
    inbound_settled,
    orchestrator_process,
    runs_by_message,
    stop_all,
    wait_for,
)

pytestmark = pytest.mark.integration

PARTITIONS = 8  # fewer partitions than rooms: rooms also share partitions


@dataclass
class Bus:
    """A fresh nats-server and database, a model worker, and a client connection."""

    nats: EmbeddedNats
    database_url: str
    nc: NatsClient
    pool: asyncpg.Pool

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of an orchestrator process on this bus."""
        return os.environ | {
            "ELIZABUS_NATS_URL": self.nats.url,
            "ELIZABUS_DATABASE_URL": self.database_url,
            "ELIZABUS_ACK_WAIT_SECONDS": "2",
            "ELIZABUS_PARTITIONS": str(PARTITIONS),
            "ELIZABUS_LOG_LEVEL": "WARNING",
            **extra,
        }


@pytest.fixture
async def bus(tmp_path: Path, database_url: str) -> AsyncIterator[Bus]:
    server = await EmbeddedNats(tmp_path / "nats").start()
    db_url = await fresh_database(database_url)
    settings = Settings(nats_url=server.url, database_url=db_url)
    # every text call takes a while, so runs overlap and a killed process holds some
    _, worker = build_worker_app(settings, WithLatency(ScriptedModel(), 0.15))
    await worker.start()
    nc = await nats.connect(server.url)
    await ensure_streams(nc.jetstream(), settings.duplicate_window_seconds)  # adapters can publish
    pool = await create_pool(db_url, max_size=4)
    try:
        yield Bus(server, db_url, nc, pool)
    finally:
        await pool.close()
        await nc.close()
        await worker.stop()
        await server.stop()


async def start_orchestrator(bus: Bus, **extra: str) -> asyncio.subprocess.Process:
    """An orchestrator process (`elizabus orchestrator`) on the bus."""
    return await orchestrator_process(bus.env(**extra))


async def publish(nc: NatsClient, message: MessageReceived) -> None:
    await nc.jetstream().publish(
        subjects.MESSAGE_RECEIVED,
        message.model_dump_json().encode(),
        headers={"Nats-Msg-Id": str(message.id)},
    )


async def test_three_orchestrators_keep_each_room_in_order_through_a_kill_9(bus: Bus) -> None:
    rooms = [f"room-{i}" for i in range(12)]
    per_room = 6
    published: dict[str, list[MessageReceived]] = {room: [] for room in rooms}

    async def publish_round(k: int) -> None:
        for room in rooms:  # interleaved: one message of every room, then the next
            message = dm(room, f"{room} message {k}")
            published[room].append(message)
            await publish(bus.nc, message)

    victim = await start_orchestrator(bus)
    others: list[asyncio.subprocess.Process] = []
    try:
        for k in range(per_room // 2):
            await publish_round(k)
        # the victim alone takes work: wait until it holds messages in several partitions
        js = bus.nc.jetstream()

        async def held_messages() -> int:
            held = 0
            for number in range(PARTITIONS):
                try:
                    info = await js.consumer_info(
                        subjects.PARTITIONS_STREAM, subjects.partition_durable(number)
                    )
                except nats.js.errors.NotFoundError:
                    return 0  # the orchestrator has not created its consumers yet
                held += info.num_ack_pending
            return held

        await wait_for(lambda: at_least(held_messages(), 2), timeout=60)
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
        # nobody else runs yet: what is still held was held by the dead process, and only the
        # other processes can answer it now
        held_by_the_dead = await held_messages()
        assert held_by_the_dead >= 1
        others = [await start_orchestrator(bus), await start_orchestrator(bus)]
        for k in range(per_room // 2, per_room):
            await publish_round(k)

        total = len(rooms) * per_room
        await wait_for(lambda: at_least(completed_runs(bus.pool), total), timeout=120)
        await wait_for(lambda: inbound_settled(js), timeout=60)
    finally:
        await stop_all([victim, *others])

    assert await completed_runs(bus.pool) == total  # nothing lost, nothing run twice
    assert_each_room_in_publish_order(published, await runs_by_message(bus.pool))
    info = await js.stream_info(subjects.MESSAGES_STREAM, subjects_filter="message.sent.test")
    assert (info.state.subjects or {}).get("message.sent.test") == total  # one reply each


class StallingModel(ScriptedModel):
    """The scripted model, except that text calls about the stuck room wait for `release`; like
    an LLM provider (and unlike the CPU-bound double) it answers many calls at once."""

    max_concurrency = 64

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.stalled = asyncio.Event()

    async def handle(self, request: ModelRequest) -> Any:
        if "STUCK ROOM" in str(request.params.get("prompt", "")):
            self.stalled.set()
            await self.release.wait()
        return await super().handle(request)


async def test_a_model_call_stalled_in_one_room_does_not_delay_another(
    tmp_path: Path, database_url: str
) -> None:
    from services.orchestrator.app import build_app
    from shared.character import load_character

    server = await EmbeddedNats(tmp_path / "nats").start()
    db_url = await fresh_database(database_url)
    settings = Settings(nats_url=server.url, database_url=db_url, ack_wait_seconds=2.0)
    model = StallingModel()
    _, worker = build_worker_app(settings, model)
    await worker.start()
    app = build_app(settings, [load_character(None)])
    await app.start()
    nc = await nats.connect(server.url)
    try:
        stuck, free = dm("stuck", "STUCK ROOM: please wait"), dm("free", "hello from the free room")
        assert app.loops is not None
        count = app.loops.partitions
        key = partition_of(conversation_key(stuck.model_dump_json().encode()), count)
        assert key != partition_of(conversation_key(free.model_dump_json().encode()), count), (
            "the two rooms must be in different partitions for this test"
        )
        replies = await nc.subscribe("message.sent.test")
        await publish(nc, stuck)
        await asyncio.wait_for(model.stalled.wait(), 30)  # the stuck room's run is waiting
        await publish(nc, free)
        reply = await replies.next_msg(timeout=30)
        assert str(free.id) in reply.data.decode()  # the free room answered first ...
        assert not model.release.is_set()  # ... while the stuck room's model call still waits
        model.release.set()
        late = await replies.next_msg(timeout=30)
        assert str(stuck.id) in late.data.decode()
    finally:
        model.release.set()
        await nc.close()
        await app.stop()
        await worker.stop()
        await server.stop()
