"""Shared fixtures: real nats-server and Postgres on free loopback ports, one pair per session.

They start only when a test asks for them (`nats_url`, `database_url`, or the server objects
`embedded_nats` / `embedded_postgres`) and stop when the session ends. Postgres runs with
`fast=True` (no fsync) and has the repo's schemas/migrations applied.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from shared.embedded import EmbeddedNats, EmbeddedPostgres
from shared.eventstore.migrations import migrate


@pytest.fixture(scope="session")
def embedded_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's data dir for the shared servers (logs: nats.log, postgres.log)."""
    return tmp_path_factory.mktemp("embedded")


@pytest_asyncio.fixture(scope="session")
async def embedded_nats(embedded_data_dir: Path) -> AsyncIterator[EmbeddedNats]:
    """A nats-server with JetStream, shared by the whole session."""
    async with EmbeddedNats(embedded_data_dir) as server:
        yield server


@pytest_asyncio.fixture(scope="session")
async def embedded_postgres(embedded_data_dir: Path) -> AsyncIterator[EmbeddedPostgres]:
    """A Postgres 18 + pgvector with the repo's migrations applied, shared by the session."""
    async with EmbeddedPostgres(embedded_data_dir, fast=True) as server:
        await migrate(server.url)
        yield server


@pytest.fixture(scope="session")
def nats_url(embedded_nats: EmbeddedNats) -> str:
    """`nats://127.0.0.1:PORT` of the session's nats-server."""
    return embedded_nats.url


@pytest.fixture(scope="session")
def database_url(embedded_postgres: EmbeddedPostgres) -> str:
    """`postgresql://elizabus:PASSWORD@127.0.0.1:PORT/elizabus` (the app role, not a superuser) of
    the session's migrated Postgres."""
    return embedded_postgres.url
