"""A background loop of batches: work off what waits, then look again after a pause.

The embedding repair and the vector index maintainer both take work in batches: a full batch
means more is waiting (the next starts at once), a short one means they caught up (the next
round waits `pause` seconds). A round that fails is logged and the next one tries again; `stop`
cancels the loop (a batch in progress is cut, which each user's batch tolerates).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

__all__ = ["BatchLoop"]

log = logging.getLogger(__name__)


class BatchLoop:
    """Runs `run_batch` (returning how many items it handled) in the background until `stop`:
    again at once after a batch of `full` items, else after `pause` seconds. `failure` is the log
    message for a round that raised."""

    def __init__(
        self,
        run_batch: Callable[[], Awaitable[int]],
        *,
        full: int,
        pause: float,
        name: str,
        failure: str,
    ) -> None:
        self.run_batch, self.full, self.pause = run_batch, full, pause
        self.name, self.failure = name, failure
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop (once; a second call does nothing)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """Cancel the loop and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            try:
                while await self.run_batch() == self.full:
                    pass  # a full batch: more are waiting
            except Exception:
                log.exception("%s", self.failure)
            await asyncio.sleep(self.pause)
