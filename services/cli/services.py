"""The service processes `elizabus up` runs and supervises: a model worker and the orchestrator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

from shared.embedded.tether import tethered

log = logging.getLogger(__name__)

SERVICE_STOP_TIMEOUT = 30.0
"""How long a stopping service may take before it is killed: more than the orchestrator's own
deadline for its runs in flight (10 s, STOP_DEADLINE_SECONDS) and the model worker's for its
requests in flight (10 s, services.model_worker.app.DRAIN_SECONDS), plus closing their
connections."""


MODEL_WORKER_SERVICE = "model worker"
ORCHESTRATOR_SERVICE = "orchestrator"


def service_commands(character: Path | None) -> dict[str, list[str]]:
    """The service processes `up` runs, by name, in start order: the model worker first (the
    orchestrator's runs need it), so that a stop in reverse order stops the consumer first."""
    cli = [sys.executable, "-m", "services.cli.main"]
    orchestrator = [*cli, "orchestrator"]
    if character is not None:
        orchestrator += ["--character", str(character)]
    return {MODEL_WORKER_SERVICE: [*cli, "worker", "model"], ORCHESTRATOR_SERVICE: orchestrator}


class ServiceProcess:
    """One service run as a child of `up`: in its own session, SIGTERM when `up` dies (a graceful
    stop, as on Ctrl-C), inheriting `hold_fds`; stopped with SIGTERM, then SIGKILL after
    `stop_timeout` seconds."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        hold_fds: Sequence[int] = (),
        stop_timeout: float = SERVICE_STOP_TIMEOUT,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.hold_fds = tuple(hold_fds)
        self.stop_timeout = stop_timeout
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    async def start(self) -> Self:
        """Start the process (it may still be starting up when this returns)."""
        self._proc = await asyncio.create_subprocess_exec(
            *self.argv,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            **tethered(signal.SIGTERM, self.hold_fds),
        )
        return self

    async def restart(self) -> Self:
        """Start it again (after it exited)."""
        await self.stop()
        return await self.start()

    async def wait(self) -> int:
        """Wait until the process exits; its exit status (negative: killed by that signal)."""
        if self._proc is None:
            raise RuntimeError(f"the {self.name} was never started")
        return await self._proc.wait()

    async def stop(self) -> None:
        """SIGTERM, wait up to `stop_timeout` seconds, then SIGKILL; nothing if not running."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), self.stop_timeout)
        except TimeoutError:
            log.warning(
                "the %s (pid %d) did not stop within %g s of SIGTERM: killing it",
                self.name, proc.pid, self.stop_timeout,
            )  # fmt: skip
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
