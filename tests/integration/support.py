"""Test support: a full stack per test on real servers, and polling helpers."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import asyncpg
from faststream import FastStream
from nats.js.client import JetStreamContext

from services.cli.client import BusClient
from services.orchestrator.app import OrchestratorApp, build_app
from shared import subjects
from shared.character import load_character
from shared.embedded.nats_server import EmbeddedNats
from shared.eventstore.migrations import migrate
from shared.eventstore.postgres import PostgresEventStore
from shared.ids import create_unique_uuid
from shared.messages import EntityRef, InboundContent, MessageReceived, RoomRef
from shared.records import ChannelType
from shared.settings import Settings


async def fresh_database(server_url: str) -> str:
    """A new, migrated database on the session's Postgres; returns its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    url = server_url.rsplit("/", 1)[0] + f"/{name}"
    await migrate(url)
    return url


@dataclass
class Stack:
    """A running orchestrator and model worker on real NATS and Postgres, and a client."""

    settings: Settings
    nats: EmbeddedNats
    store: PostgresEventStore
    pool: asyncpg.Pool
    client: BusClient
    orchestrator: OrchestratorApp | None
    worker: FastStream

    async def start_orchestrator(self) -> None:
        self.orchestrator = build_app(self.settings, [load_character(None)])
        await self.orchestrator.start()

    async def stop_orchestrator(self) -> None:
        if self.orchestrator is not None:
            await self.orchestrator.stop()
            self.orchestrator = None


async def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05) -> None:  # type: ignore[no-untyped-def]
    """Poll an async predicate until it is true, failing the test after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def inbound_settled(js: JetStreamContext) -> bool:
    """Whether every `message.received` has been routed and every routed copy handled: the
    router's consumer has nothing pending and the partitions' work queue is empty."""
    router = await js.consumer_info(subjects.MESSAGES_STREAM, subjects.ROUTER_DURABLE)
    if router.num_pending or router.num_ack_pending:
        return False
    partitions = await js.stream_info(subjects.PARTITIONS_STREAM)
    return partitions.state.messages == 0


async def at_least(value: Awaitable[int], expected: int) -> bool:
    """Whether the awaited count reached `expected` (a `wait_for` predicate's body)."""
    return await value >= expected


def dm(room: str, text: str) -> MessageReceived:
    """A message in a DM room (always answered), from the room's own user."""
    return MessageReceived(
        id=uuid.uuid4(),
        source="test",
        entity=EntityRef(id=f"user-{room}", name=f"User {room}"),
        room=RoomRef(id=room, name=room, type=ChannelType.DM),
        content=InboundContent(text=text),
    )


async def orchestrator_process(env: dict[str, str]) -> asyncio.subprocess.Process:
    """An orchestrator process (`elizabus orchestrator`) with this environment."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli.main", "orchestrator", env=env
    )


async def stop_all(procs: list[asyncio.subprocess.Process]) -> None:
    """SIGTERM the processes still running and wait for them (SIGKILL after 20 s)."""
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def completed_runs(pool: asyncpg.Pool) -> int:
    """How many runs ended in the log."""
    return int(await pool.fetchval("SELECT count(*) FROM events WHERE type = 'run.ended'"))


async def runs_by_message(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    """Every run.started / run.ended of the log, by message memory id, in commit order."""
    rows = await pool.fetch(
        "SELECT position, type, data FROM events WHERE type IN ('run.started', 'run.ended') "
        "ORDER BY position"
    )
    runs: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        runs.setdefault(row["data"]["message_id"], []).append(
            {"position": row["position"], "type": row["type"], **row["data"]}
        )
    return runs


def assert_each_room_in_publish_order(
    published: dict[str, list[MessageReceived]], runs: dict[str, list[dict[str, Any]]]
) -> None:
    """Each message ran once; per room, runs committed in publish order, each after the last."""
    agent = load_character(None).agent_id
    for room, messages in published.items():
        previous_end: dict[str, Any] | None = None
        for message in messages:
            memory_id = str(create_unique_uuid(agent, str(message.id)))
            events = runs.get(memory_id, [])
            assert [e["type"] for e in events] == ["run.started", "run.ended"], (room, events)
            started, ended = events
            if previous_end is not None:
                assert started["position"] > previous_end["position"], f"{room} out of order"
                assert started["started_at"] >= previous_end["ended_at"], (
                    f"{room}: a run started before the previous message's run had ended"
                )
            previous_end = ended
