"""Loopback ports and child-process plumbing shared by the embedded nats-server and Postgres."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

LOOPBACK = "127.0.0.1"
log = logging.getLogger(__name__)


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on `host` that nothing listens on right now (the OS picks it).

    Another process may grab it before the caller binds it: callers that asked for port 0
    retry with a new port when their server fails to start.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def accepts_connections(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether a TCP connect to `host:port` succeeds within `timeout` seconds."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def stop_process(
    proc: subprocess.Popen[bytes], sig: signal.Signals, timeout: float
) -> int | None:
    """Send `sig` to `proc`, wait up to `timeout` seconds, then SIGKILL it; its exit code.

    The wait happens in a worker thread, so the event loop keeps running meanwhile.
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            await asyncio.to_thread(proc.wait, timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await asyncio.to_thread(proc.wait)
    return proc.returncode


async def wait_exit(proc: subprocess.Popen[bytes], interval: float = 0.2) -> int:
    """Wait until `proc` exits (polled every `interval` seconds); its exit status (negative:
    killed by that signal). A Popen has no awaitable wait; polling keeps the loop free and the
    wait cancellable, where a blocking wait in a thread could not be cancelled."""
    while (code := proc.poll()) is None:  # noqa: ASYNC110 (nothing to await but the poll)
        await asyncio.sleep(interval)
    return code


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (signal 0 probe; permission errors mean yes)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_running(pid: int) -> bool:
    """Whether `pid` runs: exists and is not a zombie (an orphan that exited and waits to be
    reaped by an init process that may take its time)."""
    if not pid_alive(pid):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (or just gone): trust the signal probe
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def process_name(pid: int) -> str | None:
    """The short command name of `pid` from /proc, or None where /proc is unavailable."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def log_tail(path: Path, lines: int = 15) -> str:
    """The last `lines` lines of a log file, indented, for error messages ('' if unreadable)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    tail = text.splitlines()[-lines:]
    return "".join(f"\n    {line}" for line in tail)


async def start_on_a_port(
    requested: int, try_start: Callable[[int], Awaitable[bool]], what: str
) -> int | None:
    """Start a server on `requested`, or with 0 on a free port, trying up to 3 free ports (another
    process may take a free port between our pick and the server's bind). Returns the port that
    worked, or None; `try_start(port)` says whether the server came up."""
    attempts = 3 if requested == 0 else 1
    for attempt in range(1, attempts + 1):
        port = requested or free_port()
        if await try_start(port):
            return port
        if attempt < attempts:
            log.warning("%s did not start on port %d, retrying on another port", what, port)
    return None
