"""Tethered children (shared/embedded/tether.py) on real processes: a parent is SIGKILLed."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.embedded.tether import parent_death_supported

pytestmark = pytest.mark.skipif(
    not parent_death_supported(), reason="no parent-death signal on this system"
)

# A parent that spawns `child_argv` tethered (holding `lock`'s fd), prints its pid, then waits.
PARENT = """
import fcntl, signal, subprocess, sys, time
from shared.embedded.tether import tethered
lock = open(sys.argv[1], "a")
fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
child = subprocess.Popen(sys.argv[2:], **tethered(signal.SIGTERM, (lock.fileno(),)))
print(child.pid, flush=True)
time.sleep(300)
"""


def running(pid: int) -> bool:
    """Whether `pid` runs (an exited orphan that nobody reaped yet, a zombie, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def poll(condition, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


def lock_is_free(path: Path) -> bool:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return True


def start_parent(lock: Path, *child_argv: str) -> tuple[subprocess.Popen[str], int]:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(lock), *child_argv],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert parent.stdout is not None
    return parent, int(parent.stdout.readline())


def test_a_tethered_child_dies_when_its_parent_is_killed(tmp_path: Path) -> None:
    parent, child = start_parent(tmp_path / "lock", "sleep", "300")
    try:
        assert running(child)
        parent.kill()
        parent.wait()
        poll(lambda: not running(child), "the child exits after its parent was SIGKILLed")
    finally:
        if running(child):
            os.kill(child, signal.SIGKILL)


def test_a_child_holds_the_inherited_lock_until_it_exits(tmp_path: Path) -> None:
    lock, ready = tmp_path / "lock", tmp_path / "ready"
    stubborn = (
        "import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "pathlib.Path(sys.argv[1]).touch(); time.sleep(300)"
    )
    parent, child = start_parent(lock, sys.executable, "-c", stubborn, str(ready))
    try:
        poll(ready.exists, "the child ignores SIGTERM")
        parent.kill()
        parent.wait()
        assert running(child)  # it ignores the parent-death SIGTERM...
        assert not lock_is_free(lock)  # ...and so keeps the dead parent's lock held
        os.kill(child, signal.SIGKILL)
        poll(lambda: not running(child), "the stubborn child is gone")
        poll(lambda: lock_is_free(lock), "the lock is released with the last holder")
    finally:
        if running(child):
            os.kill(child, signal.SIGKILL)
