"""`elizabus up`: NATS + Postgres (embedded unless configured), migrations, then the services,
supervised (services/cli/supervisor.py).

The embedded servers keep their data under `settings.data_dir` (`nats/`, `pg/`), so a second
`up` on the same data dir picks up where the first stopped. While the stack runs, its URLs are
in `data_dir/runtime.json` for the other `elizabus` commands; an exclusive lock on
`data_dir/up.lock`, which every child inherits, keeps a second `up` off the same data dir until
the first and all its children have exited.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from services.cli.services import (
    MODEL_WORKER_SERVICE,
    ORCHESTRATOR_SERVICE,
    SERVICE_STOP_TIMEOUT,
    ServiceProcess,
    service_commands,
)
from services.cli.supervisor import Child, RestartPolicy, Supervisor
from shared import subjects
from shared.bus import nats_permissions
from shared.bus.nats_permissions import RoleSet
from shared.embedded import EmbeddedNats, EmbeddedPostgres
from shared.embedded.ports import process_running
from shared.errors import ConfigurationError
from shared.eventstore.migrations import migrate
from shared.settings import Settings

log = logging.getLogger(__name__)

LOCK_FILE = "up.lock"
LEFTOVER_STOP_TIMEOUT = SERVICE_STOP_TIMEOUT + 15.0
"""How long a new `up` waits for the children of a killed `up` to exit (they got SIGTERM)."""

NATS_LOGIN_VARIABLES = (
    "ELIZABUS_NATS_USER",
    "ELIZABUS_NATS_PASSWORD",
    "ELIZABUS_NATS_CREDS",
    "ELIZABUS_NATS_INBOX_PREFIX",
)
"""The login settings `up` sets per child for the embedded NATS (never inherited)."""


def worker_provider(settings: Settings) -> str:
    """The provider name the model worker of `up` serves as (its NATS user is scoped to it):
    ELIZABUS_MODEL_PROVIDER_NAME, else what its model is (`services.model_worker.app.build_model`
    decides the same way: openai with a key, else the scripted double)."""
    name = settings.model_provider_name
    if not name:
        provider = settings.model_provider.strip().lower()
        has_key = bool(settings.openai_api_key and settings.openai_api_key.get_secret_value())
        if provider == "scripted" or (provider == "auto" and not has_key):
            name = "scripted"
        else:
            name = "openai" if provider == "auto" else provider
    return subjects.token(name.strip(), ascii_only=True)


BUILT_IN_PROVIDERS = ("scripted", "openai")
"""Model worker providers the embedded server always has a user for, so that a worker of the
other kind (`elizabus worker model` with or without a key) can join a running stack."""


def stack_roles(settings: Settings) -> RoleSet:
    """The NATS users of the embedded server of `up`: the services', the CLI's, remote
    action/provider servers' and the operator's."""
    return RoleSet.of(
        worker_providers=[worker_provider(settings), *BUILT_IN_PROVIDERS],
        model_timeout_seconds=settings.model_attempt_timeout_seconds,
    )


def child_environments(
    base: dict[str, str], nats: EmbeddedNats | None, settings: Settings
) -> dict[str, dict[str, str]]:
    """Each service's environment: `base`, plus, with the embedded NATS, its own role's login
    and nothing of the others'."""
    if nats is None:  # an external NATS: the operator's settings, as given
        return {name: dict(base) for name in (MODEL_WORKER_SERVICE, ORCHESTRATOR_SERVICE)}
    clean = {k: v for k, v in base.items() if k not in NATS_LOGIN_VARIABLES}
    provider = worker_provider(settings)
    users = {
        MODEL_WORKER_SERVICE: nats_permissions.model_worker_user(provider),
        ORCHESTRATOR_SERVICE: nats_permissions.ORCHESTRATOR,
    }
    envs = {}
    for name, user in users.items():
        login = nats.login(user)
        assert login is not None and login.user is not None  # the server has roles
        envs[name] = clean | {
            "ELIZABUS_NATS_USER": login.user,
            "ELIZABUS_NATS_PASSWORD": login.password or "",
        }
    envs[MODEL_WORKER_SERVICE]["ELIZABUS_MODEL_PROVIDER_NAME"] = provider
    return envs


def child_commands(character: Path | None) -> dict[str, list[str]]:
    """The service processes `up` runs, by name, in start order (see `service_commands`)."""
    return service_commands(character)


async def run_stack(
    settings: Settings, character: Path | None, policy: RestartPolicy | None = None
) -> int:
    """Run and supervise the whole stack until Ctrl-C/SIGTERM (returns 0), or until a child
    crashes too often (returns 1): a crashed child is restarted after a back-off (`policy`).

    Whatever was started is stopped again on the way out, in reverse order (the orchestrator
    first, so it stops consuming and finishes its runs while the model worker, the bus and the
    database are still there), and `runtime.json` is removed. Startup errors are raised after
    that cleanup. Every child dies with `up` (shared/embedded/tether.py) and holds the data
    dir's lock until it has exited, so a new `up` never runs beside the leftovers of a killed one.
    """
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    runtime_file = settings.runtime_file()
    async with exclusive_lock(data_dir / LOCK_FILE) as lock_fd:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        signals = _install_signal_handlers(loop, stop)
        children: list[Child] = []  # in start order
        try:
            nats_url = settings.nats_url
            nats: EmbeddedNats | None = None
            if nats_url is None:
                nats = EmbeddedNats(
                    data_dir, settings.nats_port, hold_fds=(lock_fd,), roles=stack_roles(settings)
                )
                children.append(nats)
                nats_url = (await nats.start()).url
            database_url = settings.database_url
            if database_url is None:
                postgres = EmbeddedPostgres(data_dir, settings.postgres_port, hold_fds=(lock_fd,))
                children.append(postgres)
                database_url = (await postgres.start()).url
            applied = await migrate(database_url)
            _write_runtime_file(runtime_file, nats_url, database_url)
            env = {
                **os.environ,
                "ELIZABUS_NATS_URL": nats_url,
                "ELIZABUS_DATABASE_URL": database_url,
                "ELIZABUS_DATA_DIR": str(data_dir),
            }
            envs = child_environments(env, nats, settings)
            for name, argv in child_commands(character).items():
                service = ServiceProcess(name, argv, envs.get(name, env), hold_fds=(lock_fd,))
                children.append(service)
                await service.start()
            print(
                f"elizabus up: NATS {_safe(nats_url)}, Postgres {_safe(database_url)}, "
                f"data in {data_dir} ({len(applied)} new migration(s)). Ctrl-C to stop",
                flush=True,
            )
            code = await Supervisor(children, policy).run(stop)
            print("elizabus up: stopping", flush=True)
            return code
        finally:
            for child in reversed(children):
                try:
                    await child.stop()
                except Exception:  # stop the others all the same
                    log.exception("stopping the %s failed", child.name)
            runtime_file.unlink(missing_ok=True)
            for sig in signals:
                loop.remove_signal_handler(sig)


def _install_signal_handlers(
    loop: asyncio.AbstractEventLoop, stop: asyncio.Event
) -> list[signal.Signals]:
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
        installed.append(sig)
    return installed


@contextlib.asynccontextmanager
async def exclusive_lock(lock_path: Path) -> AsyncIterator[int]:
    """Hold an exclusive flock on `lock_path` (yields its fd, for the children to inherit).

    Refuses at once when another running `up` holds it. When the holder is a dead `up`, its
    children still hold the lock while they stop: wait up to LEFTOVER_STOP_TIMEOUT seconds for
    them, then refuse naming them. The holder's pid is written into the lock file.
    """
    with lock_path.open("a+") as handle:
        fd = handle.fileno()
        await _acquire(fd, lock_path)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield fd
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


async def _acquire(fd: int, lock_path: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline: float | None = None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        holder = _lock_holder(lock_path)
        if holder is not None and process_running(holder):
            raise ConfigurationError(
                f"another `elizabus up` (pid {holder}) is running on data dir {lock_path.parent}: "
                "stop it with Ctrl-C in its terminal, or use another ELIZABUS_DATA_DIR"
            )
        now = loop.time()
        if deadline is None:
            deadline = now + LEFTOVER_STOP_TIMEOUT
            log.warning(
                "the processes of an `elizabus up` that was killed (pid %s) are still stopping "
                "(pids %s): waiting up to %g s for them to exit",
                holder, _pids_holding(lock_path) or "unknown", LEFTOVER_STOP_TIMEOUT,
            )  # fmt: skip
        elif now > deadline:
            pids = " ".join(str(pid) for pid in _pids_holding(lock_path)) or "unknown"
            raise ConfigurationError(
                f"processes of an `elizabus up` that was killed still run on data dir "
                f"{lock_path.parent} (pids {pids}): stop them (`kill PID`, `kill -9 PID` if "
                "they do not exit), then start again"
            )
        await asyncio.sleep(0.2)


def _lock_holder(lock_path: Path) -> int | None:
    """The pid the `up` holding the lock wrote into it, if readable."""
    try:
        return int(lock_path.read_text().strip())
    except (OSError, ValueError):
        return None


def _pids_holding(path: Path) -> list[int]:
    """The other processes with `path` open, from /proc (empty where /proc cannot tell)."""
    target = str(path.resolve())
    found = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        pid = int(fd_dir.parent.name)
        with contextlib.suppress(OSError):
            if pid != os.getpid() and any(os.readlink(fd) == target for fd in fd_dir.iterdir()):
                found.append(pid)
    return sorted(found)


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
