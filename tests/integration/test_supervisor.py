"""`elizabus up` as a supervisor, on real processes: children killed with SIGKILL come back, `up`
killed with SIGKILL takes its children along, a child that keeps crashing makes `up` give up."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.embedded.tether import parent_death_supported

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc"),
]

CLI = [sys.executable, "-m", "services.cli.main"]


# --- processes, from /proc -------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of `pid`, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0], int(fields[19])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def descendants(root: int) -> dict[int, int]:
    """Every live process below `root` (children, their children...): pid -> start time."""
    parents: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) and stat[1] != "Z":
            parents.setdefault(stat[0], []).append((int(entry.name), stat[2]))
    found: dict[int, int] = {}
    todo = [root]
    while todo:
        for pid, started in parents.get(todo.pop(), []):
            found[pid] = started
            todo.append(pid)
    return found


def alive(pid: int, started: int) -> bool:
    """Whether that very process (same pid and start time) still runs (zombies do not)."""
    stat = _stat(pid)
    return stat is not None and stat[2] == started and stat[1] != "Z"


def child_pid(up: asyncio.subprocess.Process, marker: str) -> int | None:
    """The pid of `up`'s direct child whose command line contains `marker`."""
    assert up.pid is not None
    for pid in descendants(up.pid):
        stat = _stat(pid)
        if stat is not None and stat[0] == up.pid and marker in _cmdline(pid):
            return pid
    return None


async def poll(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait until `condition()` holds, failing after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.1)


# --- the stack under test --------------------------------------------------------------------


@dataclass
class Up:
    """One `elizabus up` process on a data dir, its output in a file."""

    proc: asyncio.subprocess.Process
    env: dict[str, str]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def new_child(self, marker: str, old: int | None = None) -> int:
        """The pid of the child matching `marker` once it runs (and is not `old`)."""
        found: list[int] = []

        def started() -> bool:
            pid = child_pid(self.proc, marker)
            found[:] = [pid] if pid is not None and pid != old else []
            return bool(found)

        await poll(started, f"a {marker} process under elizabus up")
        return found[0]

    async def send(self, text: str) -> tuple[str, str]:
        """`elizabus send`, retried while services are (re)starting: (reply, run id)."""
        err = ""
        for _ in range(40):
            code, out, err = await run_cli(self.env, "send", text, "--timeout", "5")
            if code == 0:
                run = re.search(r"run ([0-9a-f-]{36})", err)
                assert run, err
                return out.strip(), run.group(1)
            assert self.proc.returncode is None, self.output()
            await asyncio.sleep(0.5)
        raise AssertionError(f"send kept failing: {err}\n{self.output()}")

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), 120)


async def run_cli(env: dict[str, str], *args: str, timeout: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def up_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELIZABUS_")}
    return env | {"ELIZABUS_DATA_DIR": str(data_dir), "ELIZABUS_LOG_LEVEL": "WARNING", **extra}


async def start_up(data_dir: Path, log: Path, **extra: str) -> Up:
    """Start `elizabus up`; returns once it has written runtime.json (services may still start)."""
    env = up_env(data_dir, **extra)
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(*CLI, "up", env=env, stdout=out, stderr=out)
    up = Up(proc, env, log)

    def ready() -> bool:
        assert proc.returncode is None, f"elizabus up exited during start-up:\n{up.output()}"
        return (data_dir / "runtime.json").exists() and json.loads(
            (data_dir / "runtime.json").read_text()
        )["pid"] == proc.pid

    await poll(ready, "elizabus up writes runtime.json", timeout=90)
    return up


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Up]:
    up = await start_up(tmp_path / "data", tmp_path / "up.log")
    try:
        yield up
    finally:
        assert await up.stop() == 0, up.output()


# --- the tests -------------------------------------------------------------------------------


async def test_killed_services_are_restarted_and_answer(stack: Up) -> None:
    reply, _ = await stack.send("hello")
    assert "hello" in reply

    worker = await stack.new_child("worker model")
    os.kill(worker, signal.SIGKILL)
    await stack.new_child("worker model", old=worker)
    reply, _ = await stack.send("after the worker")
    assert "after the worker" in reply
    assert f"the model worker (pid {worker}) was killed by SIGKILL; restarting it in" in (
        stack.output()
    )

    orchestrator = await stack.new_child("orchestrator")
    os.kill(orchestrator, signal.SIGKILL)
    await stack.new_child("orchestrator", old=orchestrator)
    reply, _ = await stack.send("after the orchestrator")
    assert "after the orchestrator" in reply
    assert f"the orchestrator (pid {orchestrator}) was killed by SIGKILL" in stack.output()


async def test_killed_embedded_servers_come_back_on_their_ports(stack: Up) -> None:
    await stack.send("hello")
    for marker, name in (("nats-server", "nats-server"), ("bin/postgres", "postgres")):
        server = await stack.new_child(marker)
        os.kill(server, signal.SIGKILL)
        await stack.new_child(marker, old=server)
        reply, _ = await stack.send(f"after {name}")
        assert f"after {name}" in reply
        assert f"the {name} (pid {server}) was killed by SIGKILL" in stack.output()


@pytest.mark.skipif(not parent_death_supported(), reason="no parent-death signal here")
async def test_killing_up_takes_its_children_along_and_the_next_up_keeps_the_data(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    first = await start_up(data_dir, tmp_path / "up.log")
    try:
        _, run_id = await first.send("remember me")
        assert first.proc.pid is not None
        children = descendants(first.proc.pid)  # services, servers, postgres backends
        names = " ".join(_cmdline(pid) for pid in children)
        assert all(m in names for m in ("orchestrator", "worker model", "nats-server", "postgres"))
    finally:
        first.proc.kill()
        await first.proc.wait()

    # Started at once: it must wait for the leftovers (they hold the data dir's lock) to exit.
    second = await start_up(data_dir, tmp_path / "up2.log")
    try:
        left = [pid for pid, started in children.items() if alive(pid, started)]
        assert not left, f"processes of the killed up still run beside the new one: {left}"
        code, out, _ = await run_cli(second.env, "events", "--run", run_id)
        assert code == 0 and "run.ended" in out  # the first stack's log is still there
        reply, _ = await second.send("still there?")
        assert "still there?" in reply
    finally:
        assert await second.stop() == 0, second.output()


async def test_a_service_that_keeps_crashing_makes_up_give_up(tmp_path: Path) -> None:
    up = await start_up(tmp_path / "data", tmp_path / "up.log", ELIZABUS_FAULT="exit_at_start")
    code = await asyncio.wait_for(up.proc.wait(), 120)
    output = up.output()
    assert code == 1, output
    assert output.count("the orchestrator (pid") == 5, output
    assert re.search(r"restarting it in 4 s \(crash 4 within 60 s", output), output
    assert re.search(
        r"the orchestrator \(pid \d+\) exited with code 3, its crash number 5 within 60 s: "
        r"giving up, stopping the stack",
        output,
    ), output
    assert not (tmp_path / "data" / "runtime.json").exists()
    assert not (tmp_path / "data" / "pg" / "postmaster.pid").exists()  # postgres stopped cleanly
