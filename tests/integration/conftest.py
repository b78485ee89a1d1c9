"""Per-test stacks on the session's real servers: a fresh database and a fresh nats-server each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import nats
import pytest_asyncio
from nats.aio.client import Client as NatsClient

from services.cli.client import BusClient
from services.model_worker.app import build_worker_app
from shared.bus.nats_bus import ensure_streams
from shared.embedded.nats_server import EmbeddedNats
from shared.eventstore.postgres import PostgresEventStore, create_pool
from shared.settings import Settings
from shared.testing import ScriptedModel
from tests.integration.support import Servers, Stack, fresh_database


@pytest_asyncio.fixture
async def stack(tmp_path: Path, database_url: str) -> AsyncIterator[Stack]:
    nats = await EmbeddedNats(tmp_path / "nats").start()
    db_url = await fresh_database(database_url)
    settings = Settings(
        nats_url=nats.url, database_url=db_url, ack_wait_seconds=2.0, data_dir=tmp_path
    )
    _, worker = build_worker_app(settings, ScriptedModel())
    await worker.start()
    pool = await create_pool(db_url)
    s = Stack(
        settings,
        nats,
        PostgresEventStore(pool),
        pool,
        await BusClient.connect(nats.url, source="test"),
        None,
        worker,
    )
    await s.start_orchestrator()
    try:
        yield s
    finally:
        await s.client.close()
        await s.stop_orchestrator()
        await worker.stop()
        await pool.close()
        await nats.stop()


@pytest_asyncio.fixture
async def servers(tmp_path: Path, database_url: str) -> AsyncIterator[Servers]:
    """A fresh nats-server (its streams created, as an operator or `elizabus up` would) and a
    fresh database; the test starts the services it needs, and they are all stopped after it."""
    nats = await EmbeddedNats(tmp_path / "nats").start()
    client: BusClient | None = None
    pool = None
    try:
        db_url = await fresh_database(database_url)
        pool = await create_pool(db_url)
        client = await BusClient.connect(nats.url, source="test")
        await ensure_streams(client.js, Settings().duplicate_window_seconds)
    except BaseException:
        if client is not None:
            await client.close()
        if pool is not None:
            await pool.close()
        await nats.stop()
        raise
    s = Servers(tmp_path, nats, db_url, pool, client)
    try:
        yield s
    finally:
        await s.close()


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[EmbeddedNats]:
    """A nats-server of the test's own (no users), for tests of the bus alone."""
    async with EmbeddedNats(tmp_path / "nats") as nats_server:
        yield nats_server


@pytest_asyncio.fixture
async def nc(server: EmbeddedNats) -> AsyncIterator[NatsClient]:
    """A plain client of `server`."""
    client = await nats.connect(server.url)
    yield client
    await client.close()


@pytest_asyncio.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A connection pool on a fresh, migrated database of the session's Postgres."""
    made = await create_pool(await fresh_database(database_url))
    try:
        yield made
    finally:
        await made.close()
