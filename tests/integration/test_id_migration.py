"""`elizabus ids migrate` on REAL Postgres: a log written with elizabus's first id scheme (the
real message path, run with the first scheme's id functions) is rewritten to ElizaOS's ids, the
projections follow, and the agent run with today's code finds its history and records no fact
twice."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import pytest

from plugins.bootstrap.plugin import bootstrap_plugin
from services.orchestrator.app import refuse_legacy_ids
from services.orchestrator.delivery import Delivery, Disposition, Orchestrator
from services.orchestrator.message_run import AgentHost, MessageRunner
from shared.bus.memory_bus import InMemoryBus
from shared.character import Character
from shared.errors import ConfigurationError
from shared.eventstore.id_migration import (
    legacy_agent_id,
    legacy_create_unique_uuid,
    legacy_ids_in_use,
    migrate_ids,
)
from shared.eventstore.postgres import PostgresEventStore, create_pool
from shared.ids import create_unique_uuid, derived_id, string_to_uuid
from shared.projections import PROJECTION_TABLES, PostgresProjector, rebuild_projections
from shared.readmodel.postgres import PostgresAgentReadModel
from shared.runtime.agent_runtime import AgentRuntime
from shared.runtime.database_writes import relationship_id
from shared.testing import ScriptedModel
from tests.integration.support import fresh_database

pytestmark = pytest.mark.integration

FACT_TYPES = ("entity.created", "room.created", "world.created", "participant.added")


def first_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the code compute ids as elizabus did before it used ElizaOS's."""

    def old_world(agent_id: uuid.UUID, server_id: str) -> uuid.UUID:
        return legacy_create_unique_uuid(agent_id, f"server:{server_id}")

    monkeypatch.setattr("shared.character.string_to_uuid", legacy_agent_id)
    for module in ("services.orchestrator.message_run", "services.orchestrator.replies"):
        monkeypatch.setattr(f"{module}.create_unique_uuid", legacy_create_unique_uuid)
    for module in ("services.orchestrator.message_run", "shared.runtime.database_writes"):
        monkeypatch.setattr(f"{module}.default_world_id", old_world)


async def agent(
    pool: asyncpg.Pool, character: Character | None = None
) -> tuple[Orchestrator, AgentRuntime]:
    character = character or Character(name="Eliza", bio=["An agent."])
    store = PostgresEventStore(pool, PostgresProjector())
    runtime = AgentRuntime(
        character, store, db=PostgresAgentReadModel(pool, character.agent_id),
        plugins=[ScriptedModel().as_plugin(), bootstrap_plugin()],
    )  # fmt: skip
    host = AgentHost([runtime])
    await host.initialize()
    return Orchestrator(host, MessageRunner(store), InMemoryBus(), store), runtime


def inbound(text: str) -> Delivery:
    body = {
        "id": str(uuid.uuid4()),
        "source": "discord",
        "entity": {"id": "80351110224678912", "name": "Alice", "username": "alice"},
        "room": {"id": "general-1", "name": "general", "type": "DM", "server_id": "guild-7"},
        "content": {"text": text},
    }
    return Delivery(json.dumps(body).encode())


async def count(pool: asyncpg.Pool, sql: str, *args: Any) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval(sql, *args))


async def dump(pool: asyncpg.Pool) -> dict[str, list[str]]:
    async with pool.acquire() as conn:
        return {
            t: sorted(
                json.dumps(dict(r), default=str) for r in await conn.fetch(f"SELECT * FROM {t}")
            )
            for t in PROJECTION_TABLES
        }


async def test_a_first_scheme_log_is_moved_to_elizaos_ids(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_scheme(monkeypatch)
    orch, runtime = await agent(pool)
    old_agent = runtime.agent_id
    assert old_agent == legacy_agent_id("Eliza")
    assert await orch.process(inbound("remember the blue door")) is Disposition.ACK
    old_user = legacy_create_unique_uuid(old_agent, "80351110224678912")
    await runtime.create_relationship(old_user, old_agent, tags=["met"])
    monkeypatch.undo()  # from here on, today's ids

    new_agent = string_to_uuid("Eliza")
    assert str(new_agent) == "b850bc30-45f8-0041-a00a-83df46d8555d"  # ElizaOS's default Eliza
    new_user = create_unique_uuid(new_agent, "80351110224678912")
    new_room = create_unique_uuid(new_agent, "general-1")
    new_world = create_unique_uuid(new_agent, "guild-7")
    assert await legacy_ids_in_use(pool, [("Eliza", new_agent, False)])
    with pytest.raises(ConfigurationError, match="elizabus ids migrate"):
        await refuse_legacy_ids(pool, [Character(name="Eliza")])

    dry = await migrate_ids(pool, dry_run=True)
    assert dry.rewritten and await count(pool, "SELECT count(*) FROM entities WHERE id = $1",
                                         old_agent) == 1  # fmt: skip
    plan = await migrate_ids(pool)
    assert plan.agents == {old_agent: new_agent}
    assert plan.ids[old_user] == new_user
    assert plan.ids[legacy_create_unique_uuid(old_agent, "general-1")] == new_room
    assert plan.ids[legacy_create_unique_uuid(old_agent, "server:guild-7")] == new_world
    assert await legacy_ids_in_use(pool, [("Eliza", new_agent, False)]) == []
    await refuse_legacy_ids(pool, [Character(name="Eliza")])  # starts

    # no first-scheme id is left anywhere in the log
    async with pool.acquire() as conn:
        text = " ".join(
            str(tuple(r))
            for r in await conn.fetch("SELECT event_id, stream_id, data, metadata FROM events")
        )
    for old in plan.ids:
        assert str(old) not in text
    # the projections follow the log
    assert await count(pool, "SELECT count(*) FROM rooms WHERE id = $1 AND agent_id = $2",
                       new_room, new_agent) == 1  # fmt: skip
    assert await count(pool, "SELECT count(*) FROM worlds WHERE id = $1", new_world) == 1
    assert (
        await count(
            pool,
            "SELECT count(*) FROM memories WHERE room_id = $1 AND agent_id = $2",
            new_room,
            new_agent,
        )
        >= 2
    )  # fmt: skip  (the message and the reply)
    assert await count(pool, "SELECT count(*) FROM relationships WHERE id = $1",
                       relationship_id(new_agent, new_user, new_agent)) == 1  # fmt: skip
    assert await count(pool, "SELECT count(*) FROM events WHERE metadata->>'run_id' = $1",
                       str(derived_id(new_agent, "startup"))) >= 1  # fmt: skip
    before = await dump(pool)
    await rebuild_projections(pool)
    assert await dump(pool) == before

    # today's agent starts on the migrated log: no fact recorded twice, its history found
    events_before = await count(pool, "SELECT count(*) FROM events")
    orch, runtime = await agent(pool)
    assert runtime.agent_id == new_agent
    assert await count(pool, "SELECT count(*) FROM events") == events_before  # nothing re-stated
    facts = await count(pool, "SELECT count(*) FROM events WHERE type = any($1)", list(FACT_TYPES))
    assert await orch.process(inbound("what was the door like?")) is Disposition.ACK
    assert await count(pool, "SELECT count(*) FROM events WHERE type = any($1)",
                       list(FACT_TYPES)) == facts  # fmt: skip
    assert await runtime.create_relationship(new_user, new_agent) is False  # it is there already
    texts = [m.text for m in await runtime.get_memories(room_id=new_room, count=10)]
    assert "remember the blue door" in texts and "what was the door like?" in texts


async def test_a_log_with_elizaos_ids_needs_no_migration(pool: asyncpg.Pool) -> None:
    orch, runtime = await agent(pool)
    assert await orch.process(inbound("hello")) is Disposition.ACK
    assert await legacy_ids_in_use(pool, [("Eliza", runtime.agent_id, False)]) == []
    events = await count(pool, "SELECT count(*) FROM events")
    plan = await migrate_ids(pool)
    assert not plan.needed and plan.rewritten == []
    assert await count(pool, "SELECT count(*) FROM events") == events


async def test_the_cli_command_migrates_and_says_what_it_did(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from services.cli.main import app

    url = await fresh_database(database_url)
    pool = await create_pool(url)
    try:
        first_scheme(monkeypatch)
        orch, _ = await agent(pool)
        assert await orch.process(inbound("hi")) is Disposition.ACK
        monkeypatch.undo()
    finally:
        await pool.close()
    monkeypatch.setenv("ELIZABUS_DATABASE_URL", url)
    runner = CliRunner()
    dry = await asyncio.to_thread(runner.invoke, app, ["ids", "migrate", "--dry-run"])
    assert dry.exit_code == 0 and "would rewrite" in dry.output
    done = await asyncio.to_thread(runner.invoke, app, ["ids", "migrate"])
    assert done.exit_code == 0 and "rewrote" in done.output and "projections rebuilt" in done.output
    again = await asyncio.to_thread(runner.invoke, app, ["ids", "migrate"])
    assert again.exit_code == 0 and "nothing to do" in again.output


async def test_an_agent_with_its_own_id_keeps_it_and_its_rooms_move(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = Character(name="Ada", id=uuid.UUID("6f0c43d2-1a8e-4c4b-9e11-0b8f2a7d9c01"), bio=["x"])
    first_scheme(monkeypatch)
    orch, _ = await agent(pool, ada)
    assert await orch.process(inbound("hi")) is Disposition.ACK
    monkeypatch.undo()
    [problem] = await legacy_ids_in_use(pool, [("Ada", ada.agent_id, True)])
    assert "room ids" in problem
    plan = await migrate_ids(pool)
    assert plan.agents == {}
    assert plan.ids[legacy_create_unique_uuid(ada.agent_id, "general-1")] == create_unique_uuid(
        ada.agent_id, "general-1"
    )
    assert await legacy_ids_in_use(pool, [("Ada", ada.agent_id, True)]) == []
