"""The `elizabus` commands besides `up`/`send`/`events` (tests/integration/test_cli_up.py), each run
as the user runs it, a child process, against real servers."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import pytest

from shared import subjects
from shared.character import Character
from shared.messages import MessageSent
from shared.schema_export import SCHEMA_DIR
from tests.integration.support import (
    Servers,
    dump_projections,
    empty_database,
    exit_code,
)

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).resolve().parents[2] / "schemas" / "migrations"


async def test_migrate_applies_every_migration_once(servers: Servers, database_url: str) -> None:
    url = await empty_database(database_url)
    expected = sorted(p.stem for p in MIGRATIONS.glob("*.sql"))

    code, out, err = await servers.run("migrate", database_url=url)
    assert code == 0, err
    assert out.strip() == f"applied {len(expected)} migration(s): {', '.join(expected)}"
    code, out, err = await servers.run("migrate", database_url=url)
    assert code == 0, err
    assert out.strip() == "applied 0 migration(s): none needed"

    conn = await asyncpg.connect(url)
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
    finally:
        await conn.close()
    assert sorted(versions) == expected


async def test_projections_rebuild_restores_every_table_from_the_log(servers: Servers) -> None:
    await servers.start_worker()
    await servers.start_orchestrator()
    for text, user in [("hello", "ann"), ("hi there", "bob"), ("me again", "ann")]:
        assert (await servers.client.send(text, user=user, timeout=30)).content.text
    live = await dump_projections(servers.pool)
    await servers.pool.execute("DELETE FROM memories; DELETE FROM entities; DELETE FROM runs")

    code, out, err = await servers.run("projections", "rebuild")

    assert code == 0, err
    assert out.strip() == f"rebuilt projections from {await servers.count_events()} events"
    assert await dump_projections(servers.pool) == live


async def test_chat_talks_to_the_agent_through_the_bus(servers: Servers) -> None:
    await servers.start_worker()
    await servers.start_orchestrator()

    code, out, err = await servers.run(
        "chat", "--room", "chat-room", "--user", "carol", stdin="what is the bus?\n"
    )

    assert code == 0, err
    reply = await servers.client.js.get_last_msg(
        subjects.MESSAGES_STREAM, subjects.message_sent("cli")
    )
    text = MessageSent.model_validate_json(reply.data or b"").content.text
    assert text and f"agent> {text}" in out
    rooms = "SELECT count(*) FROM rooms WHERE channel_id = 'chat-room'"  # --room reached it
    assert await servers.pool.fetchval(rooms) == 1


async def test_schemas_export_writes_the_committed_schemas(
    tmp_path: Path, servers: Servers
) -> None:
    target = tmp_path / "json"

    code, out, err = await servers.run("schemas", "export", "--directory", str(target))

    assert code == 0, err
    written = sorted(str(p.relative_to(target)) for p in target.rglob("*.json"))
    committed = sorted(str(p.relative_to(SCHEMA_DIR)) for p in SCHEMA_DIR.rglob("*.json"))
    assert out.strip() == f"wrote {len(committed)} schema files"
    assert written == committed
    for name in written:
        assert (target / name).read_text() == (SCHEMA_DIR / name).read_text(), name


async def test_orchestrator_hosts_every_character_it_is_given(
    tmp_path: Path, servers: Servers
) -> None:
    ada, bob = Character(name="Ada"), Character(name="Bob")
    paths = []
    for character in (ada, bob):
        path = tmp_path / f"{character.name}.json"
        path.write_text(json.dumps({"name": character.name, "bio": [f"{character.name} helps."]}))
        paths += ["--character", str(path)]
    await servers.start_worker()
    orchestrator = await servers.spawn("orchestrator", *paths)

    to_ada = await servers.client.send("hello Ada", agent_id=ada.agent_id, timeout=60)
    to_bob = await servers.client.send("hello Bob", agent_id=bob.agent_id, timeout=60)

    assert (to_ada.agent_id, to_bob.agent_id) == (ada.agent_id, bob.agent_id)
    rows = await servers.pool.fetch("SELECT data FROM events WHERE type = 'run.ended'")
    assert sorted(r["data"]["agent_id"] for r in rows) == sorted([str(ada.agent_id),
                                                                  str(bob.agent_id)])  # fmt: skip
    orchestrator.terminate()
    assert await exit_code(orchestrator) == 0
