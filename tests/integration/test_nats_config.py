"""`elizabus nats config`: the users of the roles for a NATS server the operator runs."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest

from services.model_worker.app import build_worker_app
from shared import subjects
from shared.bus.nats_connect import connect_nats
from shared.bus.nats_permissions import ORCHESTRATOR, RoleSet, model_worker_user
from shared.embedded import find_nats_server, free_port
from shared.embedded.nats_auth import NatsCredentials
from shared.embedded.ports import accepts_connections
from shared.errors import ConfigurationError
from shared.model_types import ModelType
from shared.model_wire import request_model
from shared.settings import Settings
from shared.testing import ScriptedModel

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "services.cli.main"]
WORKER = model_worker_user("scripted")


def run(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELIZABUS_")}
    done = subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_written_config_is_accepted_by_nats_server_and_keeps_its_passwords(
    tmp_path: Path,
) -> None:
    out = tmp_path / "auth"
    said = run("nats", "config", "--out", str(out), "--adapter", "telegram", "--worker", "openai")
    assert "ELIZABUS_NATS_USER=adapter-telegram" in said
    passwords = NatsCredentials.read(out)
    assert passwords is not None
    expected = RoleSet.of(
        worker_providers=["openai"], model_timeout_seconds=60, adapters=["telegram"]
    ).users
    assert sorted(passwords) == sorted(expected)
    assert not any(p in said for p in passwords.values())  # no secret printed
    for path in (out / "nats-auth.conf", NatsCredentials.path(out)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    main = tmp_path / "server.conf"
    main.write_text("jetstream: enabled\ninclude auth/nats-auth.conf\n")  # relative to it
    server = str(find_nats_server())
    checked = subprocess.run([server, "-c", str(main), "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr + checked.stdout
    # run again (another adapter): the passwords given out stay valid
    run("nats", "config", "--out", str(out), "--adapter", "telegram", "--adapter", "discord")
    again = NatsCredentials.read(out)
    assert again is not None and "adapter-discord" in again
    assert all(again[user] == password for user, password in passwords.items())


def test_nsc_commands_name_every_role() -> None:
    said = run("nats", "config", "--nsc", "--adapter", "telegram")
    users = [line.split("--name ")[1].split()[0] for line in said.splitlines()]
    assert (
        users
        == RoleSet.of(
            worker_providers=["scripted"], model_timeout_seconds=60, adapters=["telegram"]
        ).users
    )
    assert "--allow-pub-response=" in said


@pytest.fixture
async def nkeys_server(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A nats-server configured with `elizabus nats config --nkeys`: its URL and the seeds'
    directory."""
    out = tmp_path / "auth"
    said = run("nats", "config", "--out", str(out), "--nkeys", "--adapter", "telegram")
    assert f"ELIZABUS_NATS_NKEY_SEED={out / (WORKER + '.nk')}" in said
    assert stat.S_IMODE((out / f"{WORKER}.nk").stat().st_mode) == 0o600
    port = free_port()
    main = tmp_path / "server.conf"
    main.write_text(
        f'listen: "127.0.0.1:{port}"\njetstream {{ store_dir: "{tmp_path / "js"}" }}\n'
        "include auth/nats-auth.conf\n"
    )
    log = tmp_path / "nats.log"
    proc = await asyncio.create_subprocess_exec(
        str(find_nats_server()), "-c", str(main), "-l", str(log)
    )
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while not await accepts_connections("127.0.0.1", port):
            assert proc.returncode is None, log.read_text()
            assert asyncio.get_running_loop().time() < deadline, "nats-server did not start"
            await asyncio.sleep(0.05)
        yield f"nats://127.0.0.1:{port}", out
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


def seed_login(url: str, out: Path, user: str) -> Settings:
    """The settings of a process logging in with `user`'s seed."""
    return Settings(nats_url=url, nats_user=user, nats_nkey_seed=out / f"{user}.nk", _env_file=None)


async def test_an_nkeys_deployment_logs_each_role_in_with_its_own_permissions(
    nkeys_server: tuple[str, Path],
) -> None:
    url, out = nkeys_server
    with pytest.raises(ConfigurationError, match="refused the login"):
        await connect_nats(url, "no-login", first_connect_timeout=2)
    # the model worker serves its queue groups, logged in with its seed (FastStream's client)
    worker_settings = seed_login(url, out, WORKER)
    broker, app = build_worker_app(worker_settings, ScriptedModel(), announce=False)
    await app.start()
    orchestrator_settings = seed_login(url, out, ORCHESTRATOR)
    nc = await connect_nats(
        url, "orchestrator", auth=orchestrator_settings.resolved_nats_auth(ORCHESTRATOR)
    )
    try:
        answer = await request_model(
            nc, subjects.model("TEXT_EMBEDDING"), ModelType.TEXT_EMBEDDING, {"text": "hi"},
            timeout=10,
        )  # fmt: skip
        assert answer.provider == "scripted" and len(answer.result) == 384  # an embedding
        # the worker's seed gives the worker's permissions, no more
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        auth = worker_settings.resolved_nats_auth(WORKER)
        assert auth is not None and auth.inbox == f"_INBOX.{WORKER}"
        stolen = await nats.connect(url, error_cb=on_error, **auth.connect_options())
        await stolen.subscribe(subjects.MESSAGE_RECEIVED)
        deadline = asyncio.get_running_loop().time() + 10
        while not any("message.received" in e for e in errors):
            assert asyncio.get_running_loop().time() < deadline, "the subscription was allowed"
            await asyncio.sleep(0.02)
        await stolen.close()
    finally:
        await nc.close()
        await app.stop()
        del broker
