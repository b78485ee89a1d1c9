"""`elizabus nats config`: the users of the roles for a NATS server the operator runs."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from shared.bus.nats_permissions import RoleSet
from shared.embedded import find_nats_server
from shared.embedded.nats_auth import NatsCredentials

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "services.cli.main"]


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
