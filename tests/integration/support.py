"""Test support: a full stack per test on real servers, and polling helpers."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

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
