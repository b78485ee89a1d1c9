"""The user's path: `elizabus up`, `elizabus send`, `elizabus events`, Ctrl-C, and up again."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

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


async def send(env: dict[str, str], text: str) -> tuple[str, str]:
    """`elizabus send`, retried while the services are still starting."""
    for _ in range(30):
        code, out, err = await run_cli(env, "send", text, "--timeout", "5")
        if code == 0:
            run = re.search(r"run ([0-9a-f-]{36})", err)
            assert run, err
            return out.strip(), run.group(1)
        await asyncio.sleep(0.5)
    raise AssertionError(f"send kept failing: {err}")


async def test_up_send_events_stop_and_up_again_keeps_the_data(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELIZABUS_")}
    env |= {"ELIZABUS_DATA_DIR": str(tmp_path), "ELIZABUS_LOG_LEVEL": "WARNING"}

    up = await start_up(env, tmp_path)
    try:
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
        reply, _ = await send(env, "still here?")
        assert "still here" in reply
    finally:
        up.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(up.wait(), 60) == 0
