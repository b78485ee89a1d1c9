"""The stack under test, started the way a user starts it: `elizabus up` in a fresh data dir.

`UpStack` runs `elizabus up` as a subprocess (embedded NATS and Postgres on ports picked once, so
a restarted server or a second `up` comes back on the same URLs, as a deployment's would), finds
its children by their command lines in /proc (to kill one), starts extra service processes
against the stack's URLs (a second orchestrator, a faulty model worker), and stops everything it
started, by pid. Every process's output goes to a log file in the data dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from shared.bus.nats_permissions import ADMIN
from shared.embedded.nats_auth import NatsCredentials
from shared.embedded.ports import free_port
from shared.embedded.tether import tethered

CLI = [sys.executable, "-m", "services.cli.main"]
REPO = Path(__file__).resolve().parents[2]

START_TIMEOUT = 120.0
"""How long `up` may take to write runtime.json (a new `up` first waits for the leftovers of a
killed one, up to 45 s)."""

STOP_TIMEOUT = 60.0


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of `pid`, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0], int(fields[19])


def argv_of(pid: int) -> list[str]:
    """The command line of `pid` as its arguments ([] when it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1]


CHILDREN = {
    "orchestrator": lambda argv: "services.cli.main" in argv and argv[-1] == "orchestrator",
    "model worker": lambda argv: "services.cli.main" in argv and argv[-2:] == ["worker", "model"],
    "nats-server": lambda argv: bool(argv) and Path(argv[0]).name == "nats-server",
    "postgres": lambda argv: bool(argv) and Path(argv[0]).name == "postgres",
}
"""How to recognise each child of `up` by its arguments."""


def alive(process: tuple[int, int]) -> bool:
    """Whether that very process (pid, start time) still runs (a zombie does not)."""
    stat = _stat(process[0])
    return stat is not None and stat[1] != "Z" and stat[2] == process[1]


def descendants(root: int) -> dict[int, int]:
    """Every live process below `root`: pid -> start time."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) and stat[1] != "Z":
            children.setdefault(stat[0], []).append((int(entry.name), stat[2]))
    found: dict[int, int] = {}
    todo = [root]
    while todo:
        for pid, started in children.get(todo.pop(), []):
            found[pid] = started
            todo.append(pid)
    return found


async def until(condition: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; RuntimeError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if await condition():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {timeout:g} s: {what}")
        await asyncio.sleep(0.05)


def chaos_env(data_dir: Path, overrides: dict[str, str]) -> dict[str, str]:
    """The environment of every process of a scenario: this one's without ELIZABUS_* settings,
    then the scenario's (`overrides` last)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELIZABUS_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env |= {
        "ELIZABUS_DATA_DIR": str(data_dir),
        "ELIZABUS_NATS_PORT": str(free_port()),
        "ELIZABUS_POSTGRES_PORT": str(free_port()),
        "ELIZABUS_MODEL_PROVIDER": "scripted",
        "ELIZABUS_EMBEDDING_PROVIDER": "model",  # hashed embeddings: faults, not e5's CPU
        "ELIZABUS_SCRIPTED_LATENCY_MS": "80",
        "ELIZABUS_ACK_WAIT_SECONDS": "3",
        "ELIZABUS_LOG_LEVEL": "WARNING",
    }
    return env | overrides


class UpStack:
    """One `elizabus up` on `data_dir` (started by `start`), and the extra processes of a
    scenario; `close` stops all of them."""

    def __init__(self, data_dir: Path, overrides: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.env = chaos_env(data_dir, overrides or {})
        self.up: asyncio.subprocess.Process | None = None
        self.extras: dict[str, asyncio.subprocess.Process] = {}
        self._seen: set[tuple[int, int]] = set()  # (pid, start time) of each process seen under
        # an `up`, so that `close` can make sure none is left (and kill no other process)
        self._logs: list[object] = []

    # --- urls ------------------------------------------------------------------------------

    def runtime(self) -> dict[str, str]:
        """runtime.json of the running `up`."""
        data: dict[str, str] = json.loads((self.data_dir / "runtime.json").read_text())
        return data

    @property
    def nats_url(self) -> str:
        """The stack's NATS URL (the same after a restart: the port is fixed)."""
        return f"nats://127.0.0.1:{self.env['ELIZABUS_NATS_PORT']}"

    @property
    def database_url(self) -> str:
        """The stack's Postgres URL, as `up` wrote it."""
        return self.runtime()["database_url"]

    def admin_login(self) -> dict[str, str]:
        """nats-py connect options of the stack's `admin` NATS user (the harness is the
        operator's tool: it reads every subject and runs workers of any provider)."""
        passwords = NatsCredentials.read(self.data_dir) or {}
        return {"user": ADMIN, "password": passwords[ADMIN]}

    def service_env(self, **overrides: str) -> dict[str, str]:
        """The environment of a process run against this stack's servers (logged in to NATS as
        `admin`)."""
        login = self.admin_login()
        return self.env | {
            "ELIZABUS_NATS_URL": self.nats_url,
            "ELIZABUS_NATS_USER": login["user"],
            "ELIZABUS_NATS_PASSWORD": login["password"],
            "ELIZABUS_DATABASE_URL": self.database_url,
            **overrides,
        }

    # --- elizabus up -----------------------------------------------------------------------

    def _log(self, name: str) -> int:
        handle = (self.data_dir / f"{name}.log").open("ab")
        self._logs.append(handle)
        return handle.fileno()

    async def start(self) -> None:
        """Start `elizabus up` and return once it has written runtime.json (its servers run
        and its services were started; they may still be connecting)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        out = self._log("up")
        self.up = up = await asyncio.create_subprocess_exec(
            *CLI, "up", env=self.env, cwd=REPO, stdin=asyncio.subprocess.DEVNULL,
            stdout=out, stderr=out, **tethered(signal.SIGTERM),
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with contextlib.suppress(OSError, ValueError, KeyError):
                if int(self.runtime()["pid"]) == up.pid:
                    return
            if up.returncode is not None:
                raise RuntimeError(f"elizabus up exited with {up.returncode}: {self.tail('up')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"elizabus up did not start in time: {self.tail('up')}")
            await asyncio.sleep(0.1)

    def tail(self, name: str, lines: int = 25) -> str:
        """The last lines of a process's log."""
        path = self.data_dir / f"{name}.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def child(self, name: str) -> int:
        """The pid of `up`'s child `name` (a key of CHILDREN); waits for it (it may be
        restarting)."""
        assert self.up is not None
        matches = CHILDREN[name]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.remember_processes()
            for pid in descendants(self.up.pid):
                stat = _stat(pid)
                if stat is not None and stat[0] == self.up.pid and matches(argv_of(pid)):
                    return pid
            await asyncio.sleep(0.05)
        raise RuntimeError(f"no {name} process under elizabus up")

    async def postgres_pids(self) -> list[int]:
        """The postmaster under `up` and all its backends."""
        postmaster = await self.child("postgres")
        return [postmaster, *descendants(postmaster)]

    def remember_processes(self) -> None:
        """Note every process under `up` now (`close` makes sure each has exited)."""
        if self.up is not None:
            self._seen.update(descendants(self.up.pid).items())

    async def kill_up(self) -> None:
        """SIGKILL `elizabus up` itself (its children are told to stop by the kernel)."""
        assert self.up is not None
        self.remember_processes()
        self.up.kill()
        await self.up.wait()

    # --- extra processes -------------------------------------------------------------------

    async def start_extra(self, name: str, argv: list[str], **env: str) -> int:
        """Start one more process against the stack (an orchestrator, a worker): its pid."""
        out = self._log(name)
        proc = await asyncio.create_subprocess_exec(
            *argv, env=self.service_env(**env), cwd=REPO, stdin=asyncio.subprocess.DEVNULL,
            stdout=out, stderr=out, **tethered(signal.SIGTERM),
        )  # fmt: skip
        self.extras[name] = proc
        return proc.pid

    async def stop_extra(self, name: str, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop an extra process (SIGTERM, then SIGKILL after STOP_TIMEOUT)."""
        proc = self.extras.pop(name, None)
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    # --- the end ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop the extras, then `up` (SIGTERM: it stops its children in order); any process
        seen under an `up` that is still there after that is killed by its pid."""
        for name in list(self.extras):
            await self.stop_extra(name)
        if self.up is not None and self.up.returncode is None:
            self.remember_processes()
            self.up.terminate()
            try:
                await asyncio.wait_for(self.up.wait(), STOP_TIMEOUT)
            except TimeoutError:
                self.up.kill()
                await self.up.wait()

        async def all_gone() -> bool:
            return not any(alive(p) for p in self._seen)

        with contextlib.suppress(RuntimeError):
            await until(all_gone, STOP_TIMEOUT, "every process of the stack exited")
        for pid, _ in [p for p in self._seen if alive(p)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for handle in self._logs:
            with contextlib.suppress(OSError):
                handle.close()  # type: ignore[attr-defined]
