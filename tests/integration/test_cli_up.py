"""The user's path: `elizabus up`, `elizabus send`, `elizabus events`, Ctrl-C, and up again."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.js.client import JetStreamContext

from shared import subjects
from shared.bus.nats_permissions import ADMIN, ORCHESTRATOR, model_worker_user
from shared.embedded.nats_auth import NatsCredentials

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "services.cli.main"]


async def run_cli(env: dict[str, str], *args: str, timeout: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def start_up(env: dict[str, str], data_dir: Path) -> asyncio.subprocess.Process:
    up = await asyncio.create_subprocess_exec(*CLI, "up", env=env)
    for _ in range(600):
        if (data_dir / "runtime.json").exists():
            return up
        assert up.returncode is None, "elizabus up exited during start-up"
        await asyncio.sleep(0.1)
    raise AssertionError("elizabus up did not write runtime.json within 60 s")


async def serving(data_dir: Path, timeout: float = 60.0) -> None:
    """Wait until the stack serves: the orchestrators' router consumer of message.received and
    the last partition consumer exist, and a model worker announced TEXT_LARGE. (A message sent
    before would wait in the stream.)"""
    url = json.loads((data_dir / "runtime.json").read_text())["nats_url"]
    nc = await nats.connect(url, **admin_login(data_dir))
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        while not await _serving(nc.jetstream()):
            assert asyncio.get_running_loop().time() < deadline, "the stack did not start"
            await asyncio.sleep(0.1)
    finally:
        await nc.close()


def admin_login(data_dir: Path) -> dict[str, str]:
    """nats-py connect options of the stack's `admin` user (the operator's tools)."""
    passwords = NatsCredentials.read(data_dir)
    assert passwords is not None, "elizabus up wrote no NATS credentials"
    return {"user": ADMIN, "password": passwords[ADMIN]}


def permission_violations(data_dir: Path) -> list[str]:
    """The lines of nats.log where the server refused a client something: a role missing a
    grant its service uses."""
    log = (data_dir / "nats.log").read_text(errors="replace")
    return [line for line in log.splitlines() if "Violation" in line]


async def _serving(js: JetStreamContext) -> bool:
    try:
        await js.consumer_info(subjects.MESSAGES_STREAM, subjects.ROUTER_DURABLE)
        await js.consumer_info(subjects.PARTITIONS_STREAM, subjects.partition_durable(0))
        kv = await js.key_value(subjects.MODELS_BUCKET)
        keys = await kv.keys()
    except (nats.js.errors.NotFoundError, nats.js.errors.NoKeysError):
        return False
    return any(k.startswith("TEXT_LARGE.") for k in keys)


def child_environments(up_pid: int) -> dict[str, dict[str, str]]:
    """The environment of each service `up` runs ("orchestrator", "worker model"), from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or _parent(entry) != up_pid:
                continue
            argv = (entry / "cmdline").read_bytes().decode().split("\0")
            environ = (entry / "environ").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        for service in ("orchestrator", "worker model"):
            if " ".join(argv).rstrip().endswith(f"services.cli.main {service}"):
                found[service] = dict(v.split("=", 1) for v in environ if "=" in v)
    return found


def _parent(proc: Path) -> int:
    return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])


async def send(env: dict[str, str], text: str) -> tuple[str, str]:
    """`elizabus send`, once: its reply and run id."""
    code, out, err = await run_cli(env, "send", text, "--timeout", "60")
    assert code == 0, err
    run = re.search(r"run ([0-9a-f-]{36})", err)
    assert run, err
    return out.strip(), run.group(1)


async def test_up_send_events_stop_and_up_again_keeps_the_data(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELIZABUS_")}
    env |= {"ELIZABUS_DATA_DIR": str(tmp_path), "ELIZABUS_LOG_LEVEL": "WARNING"}

    up = await start_up(env, tmp_path)
    try:
        await serving(tmp_path)
        # NATS refuses a local client without credentials
        url = json.loads((tmp_path / "runtime.json").read_text())["nats_url"]
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(url, allow_reconnect=False, connect_timeout=5)
        # each service was given its own role's login, and no other's
        passwords = NatsCredentials.read(tmp_path)
        assert passwords is not None
        envs = child_environments(up.pid)
        assert envs["orchestrator"]["ELIZABUS_NATS_USER"] == ORCHESTRATOR
        assert envs["worker model"]["ELIZABUS_NATS_USER"] == model_worker_user("scripted")
        for service, service_env in envs.items():
            others = set(passwords.values()) - {service_env["ELIZABUS_NATS_PASSWORD"]}
            assert not others & set(service_env.values()), f"the {service} has another's login"
        reply, run_id = await send(env, "hello")
        assert "hello" in reply
        code, out, _ = await run_cli(env, "events", "--run", run_id)
        assert code == 0
        kinds = [line.split()[2] for line in out.splitlines()]
        assert kinds[0] == "run.started" and kinds[-2:] == ["run.ended", "run.outbox"]
        assert "memory.created" in kinds and "model.used" in kinds
    finally:
        up.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(up.wait(), 60) == 0
    assert not (tmp_path / "runtime.json").exists()

    up = await start_up(env, tmp_path)
    try:
        # the first run is still in the log after the restart
        code, out, _ = await run_cli(env, "events", "--run", run_id)
        assert code == 0 and "run.ended" in out
        await serving(tmp_path)
        reply, _ = await send(env, "still here?")
        assert "still here" in reply
    finally:
        up.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(up.wait(), 60) == 0
    # every service had the grants it uses: nats-server refused none of them anything
    assert permission_violations(tmp_path) == []
