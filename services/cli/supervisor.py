"""How `elizabus up` keeps its children running: restart with back-off, give up on a crash loop.

`RestartPolicy` and `CrashHistory` decide (pure, on an injected clock, unit-tested without
sleeping); `Supervisor` applies them to running children: each child is watched on its own; when
one exits while the stack is not stopping (with any status: a service that exits 0 was not asked
to) it is restarted after the back-off, and the crash is logged with its exit status and the
delay. When one child crashes `max_crashes` times within `window` seconds, the supervisor gives up:
it logs why and stops the stack, which then exits non-zero. A failed restart counts as a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestartPolicy:
    """Back-off `first_delay`, doubling up to `max_delay`, per crash within `window` seconds;
    the `max_crashes`-th crash within `window` seconds gives up."""

    first_delay: float = 0.5
    max_delay: float = 10.0
    max_crashes: int = 5
    window: float = 60.0

    def delay(self, crashes: int) -> float:
        """Seconds to wait before restarting after the `crashes`-th recent crash (1-based)."""
        return min(self.max_delay, self.first_delay * 2.0 ** max(0, crashes - 1))


@dataclass(frozen=True)
class Restart:
    """Restart the child after `delay` seconds; `crashes` within the window, this one included."""

    delay: float
    crashes: int


@dataclass(frozen=True)
class GiveUp:
    """Stop the stack: the child crashed `crashes` times within the window."""

    crashes: int


class CrashHistory:
    """One child's crashes within the policy's window, and what to do about the latest one."""

    def __init__(self, policy: RestartPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self._crashes: deque[float] = deque()

    def record_crash(self) -> Restart | GiveUp:
        """Count a crash now; forget crashes older than the window; restart or give up."""
        now = self.clock()
        self._crashes.append(now)
        while now - self._crashes[0] > self.policy.window:
            self._crashes.popleft()
        crashes = len(self._crashes)
        if crashes >= self.policy.max_crashes:
            return GiveUp(crashes)
        return Restart(self.policy.delay(crashes), crashes)


class Child(Protocol):
    """A supervised child: already started when handed to the Supervisor."""

    @property
    def name(self) -> str:
        """What the logs call it ("orchestrator", "nats-server")."""
        ...

    @property
    def pid(self) -> int | None:
        """Its process id while it runs."""
        ...

    async def wait(self) -> int:
        """Wait until it exits; its exit status (negative: killed by that signal)."""
        ...

    async def restart(self) -> object:
        """Start it again after it exited; raises when it does not come up."""
        ...

    async def stop(self) -> None:
        """Stop it gracefully, forcibly after a deadline; nothing if it is not running."""
        ...


def describe_exit(status: int) -> str:
    """An exit status in words: "exited with code 3", "was killed by SIGKILL"."""
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"was killed by {name}"
    if status == 0:
        return "exited with code 0 (a service runs until it is stopped)"
    return f"exited with code {status}"


class Supervisor:
    """Watches started children until `stop` is set, restarting the ones that crash.

    `run` returns 0 when the stack was asked to stop, 1 when it gave up on a child (and then has
    set `stop` itself); the caller stops the children afterwards, in its own order.
    """

    def __init__(
        self,
        children: Sequence[Child],
        policy: RestartPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.children = list(children)
        self.policy = policy or RestartPolicy()
        self.clock = clock
        self.gave_up: str | None = None

    async def run(self, stop: asyncio.Event) -> int:
        """Supervise until `stop` is set; 1 if the supervisor gave up on a child, else 0."""
        watchers = [
            asyncio.create_task(self._watch(child, CrashHistory(self.policy, self.clock), stop))
            for child in self.children
        ]
        try:
            await stop.wait()
        finally:
            stop.set()
            # Each watcher returns promptly once `stop` is set; one in the middle of a restart
            # finishes it first, so that the caller's stop finds a whole process to stop.
            await asyncio.gather(*watchers, return_exceptions=True)
        return 1 if self.gave_up else 0

    async def _watch(self, child: Child, history: CrashHistory, stop: asyncio.Event) -> None:
        try:
            await self._keep_running(child, history, stop)
        except Exception:  # a bug here must not leave the child unwatched: stop instead
            self.gave_up = f"supervising the {child.name} failed: stopping the stack"
            log.exception("%s", self.gave_up)
            stop.set()

    async def _keep_running(self, child: Child, history: CrashHistory, stop: asyncio.Event) -> None:
        while not stop.is_set():
            pid = child.pid
            status = await _unless_stopped(child.wait(), stop)
            if status is None:
                return
            why = f"(pid {pid}) {describe_exit(status)}"
            while True:
                decision = history.record_crash()
                if isinstance(decision, GiveUp):
                    self.gave_up = (
                        f"the {child.name} {why}, its crash number {decision.crashes} within "
                        f"{self.policy.window:g} s: giving up, stopping the stack (its output and "
                        "the lines above say why it failed)"
                    )
                    log.error("%s", self.gave_up)
                    stop.set()
                    return
                log.warning(
                    "the %s %s; restarting it in %g s (crash %d within %g s; crash %d stops "
                    "the stack)", child.name, why, decision.delay, decision.crashes,
                    self.policy.window, self.policy.max_crashes,
                )  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), decision.delay)
                if stop.is_set():
                    return
                try:
                    await child.restart()
                except Exception as exc:  # a restart that fails is one more crash
                    why = f"failed to restart ({exc})"
                    continue
                log.warning("the %s is running again (pid %s)", child.name, child.pid)
                break


async def _unless_stopped(wait: Awaitable[int], stop: asyncio.Event) -> int | None:
    """The child's exit status, or None as soon as `stop` is set (the wait is then cancelled)."""
    exited = asyncio.ensure_future(wait)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([exited, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (exited, stopped):
            task.cancel()
    if exited.done() and not exited.cancelled() and not stop.is_set():
        return exited.result()
    return None
