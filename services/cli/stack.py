"""`elizabus up`: NATS + Postgres (embedded unless configured), migrations, then the services.

The embedded servers keep their data under `settings.data_dir` (`nats/`, `pg/`), so a second
`up` on the same data dir picks up where the first stopped. While the stack runs, its URLs are
in `data_dir/runtime.json` for the other `elizabus` commands; an exclusive lock on
`data_dir/up.lock` keeps a second `up` off the same data dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from shared.embedded import EmbeddedNats, EmbeddedPostgres
from shared.errors import ConfigurationError
from shared.eventstore.migrations import migrate
from shared.settings import Settings

LOCK_FILE = "up.lock"
CHILD_STOP_TIMEOUT = 10.0


@dataclass
class _Child:
    name: str
    proc: asyncio.subprocess.Process


def child_commands(character: Path | None) -> dict[str, list[str]]:
    """The service processes `up` runs, by name: the orchestrator and one model worker."""
    cli = [sys.executable, "-m", "services.cli.main"]
    orchestrator = [*cli, "orchestrator"]
    if character is not None:
        orchestrator += ["--character", str(character)]
    return {"orchestrator": orchestrator, "model worker": [*cli, "worker", "model"]}


async def run_stack(settings: Settings, character: Path | None) -> int:
    """Run the whole stack until Ctrl-C/SIGTERM (returns 0) or a service dies (returns 1).

    Whatever was started is stopped again on the way out, in reverse order, and
    `runtime.json` is removed. Startup errors are raised after that cleanup.
    """
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    runtime_file = settings.runtime_file()
    with _exclusive_lock(data_dir / LOCK_FILE, runtime_file):
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        signals = _install_signal_handlers(loop, stop)
        nats: EmbeddedNats | None = None
        postgres: EmbeddedPostgres | None = None
        children: list[_Child] = []
        try:
            nats_url = settings.nats_url
            if nats_url is None:
                nats = await EmbeddedNats(data_dir, settings.nats_port).start()
                nats_url = nats.url
            database_url = settings.database_url
            if database_url is None:
                postgres = await EmbeddedPostgres(data_dir, settings.postgres_port).start()
                database_url = postgres.url
            applied = await migrate(database_url)
            _write_runtime_file(runtime_file, nats_url, database_url)
            env = {
                **os.environ,
                "ELIZABUS_NATS_URL": nats_url,
                "ELIZABUS_DATABASE_URL": database_url,
                "ELIZABUS_DATA_DIR": str(data_dir),
            }
            for name, argv in child_commands(character).items():
                proc = await asyncio.create_subprocess_exec(
                    *argv, env=env, stdin=asyncio.subprocess.DEVNULL, start_new_session=True
                )
                children.append(_Child(name, proc))
            print(
                f"elizabus up: NATS {_safe(nats_url)}, Postgres {_safe(database_url)}, "
                f"data in {data_dir} ({len(applied)} new migration(s)). Ctrl-C to stop",
                flush=True,
            )
            return await _supervise(children, stop)
        finally:
            await _stop_children(children)
            if postgres is not None:
                await postgres.stop()
            if nats is not None:
                await nats.stop()
            runtime_file.unlink(missing_ok=True)
            for sig in signals:
                loop.remove_signal_handler(sig)


async def _supervise(children: list[_Child], stop: asyncio.Event) -> int:
    """Wait for a stop signal (0) or the first child to exit on its own (1, reported)."""
    waits = {asyncio.ensure_future(child.proc.wait()): child for child in children}
    stopped = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait([stopped, *waits], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in [stopped, *waits]:
            task.cancel()
    for task, child in waits.items():
        if task in done:
            print(
                f"elizabus up: the {child.name} (pid {child.proc.pid}) exited unexpectedly "
                f"with code {child.proc.returncode}; stopping everything. Its output is above.",
                file=sys.stderr,
                flush=True,
            )
            return 1
    print("elizabus up: stopping", flush=True)
    return 0


async def _stop_children(children: list[_Child]) -> None:
    """SIGTERM every child still running, wait, SIGKILL the ones that do not exit in time."""

    async def stop_one(child: _Child) -> None:
        if child.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            child.proc.terminate()
        try:
            await asyncio.wait_for(child.proc.wait(), CHILD_STOP_TIMEOUT)
        except TimeoutError:
            print(f"elizabus up: the {child.name} ignored SIGTERM; killing it", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                child.proc.kill()
            await child.proc.wait()

    await asyncio.gather(*(stop_one(child) for child in children))


def _install_signal_handlers(
    loop: asyncio.AbstractEventLoop, stop: asyncio.Event
) -> list[signal.Signals]:
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
        installed.append(sig)
    return installed


@contextlib.contextmanager
def _exclusive_lock(lock_path: Path, runtime_file: Path) -> Iterator[None]:
    """Hold an exclusive flock on `lock_path`; refuse if another `up` holds it."""
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigurationError(
                f"another `elizabus up` ({_pid_hint(runtime_file)}) is running on data dir "
                f"{lock_path.parent}: stop it with Ctrl-C in its terminal, or use another "
                "ELIZABUS_DATA_DIR"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _pid_hint(runtime_file: Path) -> str:
    try:
        return f"pid {int(json.loads(runtime_file.read_text())['pid'])}"
    except (OSError, ValueError, KeyError, TypeError):
        return "pid unknown"


def _write_runtime_file(path: Path, nats_url: str, database_url: str) -> None:
    """Write runtime.json atomically, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    body = json.dumps({"nats_url": nats_url, "database_url": database_url, "pid": os.getpid()})
    # 0600: a configured database URL may carry a password.
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(body)
    os.replace(tmp, path)


def _safe(url: str) -> str:
    """`url` with any password replaced by ***, for printing; a comma-separated list of URLs
    (a NATS cluster's nodes) URL by URL."""
    if "," in url:
        return ",".join(_safe(part) for part in url.split(","))
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
