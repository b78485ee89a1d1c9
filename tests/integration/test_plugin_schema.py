"""Plugin migrations: a plugin's `schema` statements are applied at initialize, once each."""

from __future__ import annotations

import pytest

from shared.character import Character
from shared.errors import EventStoreError
from shared.eventstore.postgres import PostgresEventStore, create_pool
from shared.plugin import Plugin
from shared.projections import PostgresProjector
from shared.runtime.agent_runtime import AgentRuntime
from shared.testing import ScriptedModel
from tests.integration.support import fresh_database

pytestmark = pytest.mark.integration

SCHEMA = [
    "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)",
    "INSERT INTO notes (body) VALUES ('seeded once')",
]


async def test_plugin_schema_is_applied_once_across_restarts(database_url: str) -> None:
    pool = await create_pool(await fresh_database(database_url))
    try:
        for _ in range(2):  # two starts of the agent: the second applies nothing
            runtime = AgentRuntime(
                Character(name="Notes"), PostgresEventStore(pool, PostgresProjector()),
                pool=pool, plugins=[ScriptedModel().as_plugin(), Plugin("notes", schema=SCHEMA)],
            )  # fmt: skip
            await runtime.initialize()
            await runtime.stop()
        assert await pool.fetchval("SELECT count(*) FROM notes") == 1
        versions = await pool.fetch(
            "SELECT version FROM schema_migrations WHERE version LIKE 'plugin:notes:%' "
            "ORDER BY version"
        )
        assert [r["version"] for r in versions] == ["plugin:notes:0", "plugin:notes:1"]

        broken = AgentRuntime(
            Character(name="Broken"), PostgresEventStore(pool, PostgresProjector()), pool=pool,
            plugins=[Plugin("broken", schema=["CREATE TABLE nope (x nosuchtype)"])],
        )  # fmt: skip
        with pytest.raises(EventStoreError, match="plugin broken's schema statement 0"):
            await broken.initialize()
    finally:
        await pool.close()
