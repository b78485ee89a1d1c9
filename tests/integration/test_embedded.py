"""The embedded servers and migrations, on real nats-server and Postgres processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from pathlib import Path

import asyncpg
import nats
import pytest

from services.cli import stack
from services.cli.supervisor import RestartPolicy
from shared.embedded import EmbeddedNats, EmbeddedPostgres
from shared.errors import ConfigurationError, EmbeddedServerError
from shared.eventstore.migrations import migrate
from shared.settings import Settings

pytestmark = pytest.mark.integration

REPO_MIGRATIONS = Path(__file__).resolve().parents[2] / "schemas" / "migrations"


async def test_nats_jetstream_keeps_messages_across_restart(tmp_path: Path) -> None:
    async with EmbeddedNats(tmp_path) as server:
        assert server.url.startswith("nats://127.0.0.1:")
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(name="T", subjects=["t.>"])
        await js.publish("t.one", b"hello")
        await nc.close()

    async with EmbeddedNats(tmp_path) as server:
        nc = await nats.connect(server.url)
        msg = await nc.jetstream().get_msg("T", 1)
        await nc.close()
    assert msg.data == b"hello"
    assert (tmp_path / "nats.log").stat().st_size > 0
    assert (os.stat(tmp_path / "nats.log").st_mode & 0o777) == 0o600


async def test_second_nats_on_same_data_dir_is_refused(tmp_path: Path) -> None:
    async with EmbeddedNats(tmp_path):
        with pytest.raises(EmbeddedServerError, match="already runs"):
            await EmbeddedNats(tmp_path).start()


async def test_postgres_has_pgvector_and_keeps_data_across_restart(tmp_path: Path) -> None:
    async with EmbeddedPostgres(tmp_path, fast=True) as server:
        assert server.url.endswith("/elizabus")
        conn = await asyncpg.connect(server.url)
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        await conn.execute("CREATE TABLE kept (v vector(3))")
        await conn.execute("INSERT INTO kept VALUES ('[1,2,3]')")
        await conn.close()

    async with EmbeddedPostgres(tmp_path, fast=True) as server:
        conn = await asyncpg.connect(server.url)
        assert await conn.fetchval("SELECT v::text FROM kept") == "[1,2,3]"
        await conn.close()


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == pid:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """Whether `pid` still runs (a zombie has exited: it holds nothing any more)."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


async def _refuses_without_password(port: int, tmp_path: Path) -> None:
    """A local client naming the superuser, with no password, is turned away."""
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await asyncpg.connect(
            host="127.0.0.1",
            port=port,
            user="postgres",
            database="postgres",
            passfile=str(tmp_path / "no-pgpass"),
        )


async def test_postgres_requires_passwords_and_serves_a_non_superuser_owner(
    tmp_path: Path,
) -> None:
    async with EmbeddedPostgres(tmp_path, fast=True) as server:
        assert server.port is not None
        await _refuses_without_password(server.port, tmp_path)
        conn = await asyncpg.connect(server.url)
        try:
            assert await conn.fetchval("SELECT current_user") == "elizabus"
            assert not await conn.fetchval(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            )
            owner = await conn.fetchval(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
            )
            assert owner == "elizabus"
        finally:
            await conn.close()
        assert await migrate(server.url)  # the app role runs the migrations (pgvector included)
    assert (os.stat(tmp_path).st_mode & 0o777) == 0o700
    assert (os.stat(server.credentials_file).st_mode & 0o777) == 0o600
    assert (os.stat(server.log_file).st_mode & 0o777) == 0o600
    assert server.url.split(":")[2].split("@")[0] not in server.log_file.read_text()


async def test_a_cluster_that_trusted_local_users_gets_passwords_in_place(tmp_path: Path) -> None:
    async with EmbeddedPostgres(tmp_path, fast=True) as server:
        conn = await asyncpg.connect(server.superuser_url_for("elizabus"))
        await conn.execute("CREATE TABLE legacy (id serial PRIMARY KEY, v int)")  # the superuser's
        await conn.close()
    # as the cluster was made before passwords: trust rules, no credentials file
    hba = tmp_path / "pg" / "pg_hba.conf"
    hba.write_text(hba.read_text().replace("scram-sha-256", "trust"))
    server.credentials_file.unlink()

    async with EmbeddedPostgres(tmp_path, fast=True) as server:
        assert server.port is not None
        await _refuses_without_password(server.port, tmp_path)
        conn = await asyncpg.connect(server.url)
        try:
            await conn.execute("INSERT INTO legacy (v) VALUES (1)")  # its owner now
            assert await conn.fetchval("SELECT pg_get_userbyid(relowner) FROM pg_class "
                                       "WHERE relname = 'legacy'") == "elizabus"  # fmt: skip
        finally:
            await conn.close()
    assert "trust" not in "".join(line.split("#", 1)[0] for line in hba.read_text().splitlines())


async def test_postgres_restarts_after_being_killed(tmp_path: Path) -> None:
    server = await EmbeddedPostgres(tmp_path, fast=True).start()
    assert server.pid is not None
    backends = children_of(server.pid)
    assert backends  # checkpointer, writers, launchers: they hold the shared memory
    os.kill(server.pid, signal.SIGKILL)
    await server.stop()
    deadline = asyncio.get_running_loop().time() + 30
    while any(running(pid) for pid in backends):  # they notice the postmaster's death and exit
        assert asyncio.get_running_loop().time() < deadline, "backends outlived the postmaster"
        await asyncio.sleep(0.05)
    async with EmbeddedPostgres(tmp_path, fast=True) as again:
        conn = await asyncpg.connect(again.url)
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()


def _write_migrations(directory: Path) -> Path:
    directory.mkdir()
    (directory / "0001_first.sql").write_text(
        "CREATE TABLE things (id int PRIMARY KEY);\nINSERT INTO things VALUES (1);"
    )
    (directory / "0002_second.sql").write_text("INSERT INTO things VALUES (2);")
    return directory


async def _fresh_db(server_url: str) -> str:
    name = f"m_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(server_url)
    await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


async def test_migrate_applies_each_file_once(database_url: str, tmp_path: Path) -> None:
    url = await _fresh_db(database_url)
    migrations = _write_migrations(tmp_path / "migrations")
    assert await migrate(url, migrations) == ["0001_first", "0002_second"]
    assert await migrate(url, migrations) == []
    (migrations / "0003_third.sql").write_text("INSERT INTO things VALUES (3);")
    assert await migrate(url, migrations) == ["0003_third"]
    conn = await asyncpg.connect(url)
    assert [r["id"] for r in await conn.fetch("SELECT id FROM things ORDER BY id")] == [1, 2, 3]
    await conn.close()


async def test_concurrent_migrations_apply_each_file_once(
    database_url: str, tmp_path: Path
) -> None:
    url = await _fresh_db(database_url)
    migrations = _write_migrations(tmp_path / "migrations")
    results = await asyncio.gather(*(migrate(url, migrations) for _ in range(3)))
    assert sorted(v for r in results for v in r) == ["0001_first", "0002_second"]
    conn = await asyncpg.connect(url)
    assert await conn.fetchval("SELECT count(*) FROM things") == 2
    await conn.close()


async def test_session_database_has_the_repo_migrations(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
    await conn.close()
    assert versions == sorted(p.stem for p in REPO_MIGRATIONS.glob("*.sql"))


async def test_run_stack_stops_everything_when_a_service_keeps_crashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = {
        "sleeper": [sys.executable, "-c", "import time; time.sleep(60)"],
        "crasher": [sys.executable, "-c", "import time; time.sleep(0.3); raise SystemExit(3)"],
    }
    monkeypatch.setattr(stack, "child_commands", lambda character: commands)
    settings = Settings(data_dir=tmp_path, _env_file=None)
    policy = RestartPolicy(first_delay=0.01, max_crashes=3)
    assert await stack.run_stack(settings, None, policy) == 1
    assert not settings.runtime_file().exists()
    assert (tmp_path / "pg" / "PG_VERSION").exists()
    assert not (tmp_path / "pg" / "postmaster.pid").exists()  # postgres shut down cleanly


async def test_run_stack_on_external_servers_stops_on_sigterm(
    tmp_path: Path, nats_url: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = {"sleeper": [sys.executable, "-c", "import time; time.sleep(60)"]}
    monkeypatch.setattr(stack, "child_commands", lambda character: commands)
    settings = Settings(
        data_dir=tmp_path, nats_url=nats_url, database_url=database_url, _env_file=None
    )
    running = asyncio.create_task(stack.run_stack(settings, None))
    while not settings.runtime_file().exists():
        assert not running.done(), running
        await asyncio.sleep(0.02)
    runtime = json.loads(settings.runtime_file().read_text())
    assert runtime == {"nats_url": nats_url, "database_url": database_url, "pid": os.getpid()}

    with pytest.raises(ConfigurationError, match="another `elizabus up`"):
        await stack.run_stack(settings, None)

    os.kill(os.getpid(), signal.SIGTERM)  # run_stack's handler turns this into a clean stop
    assert await asyncio.wait_for(running, 15) == 0
    assert not settings.runtime_file().exists()
