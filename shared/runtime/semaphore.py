"""A counting semaphore for bounded concurrency, as ElizaOS's Semaphore."""

from __future__ import annotations

import asyncio
from types import TracebackType


class Semaphore:
    """At most `count` holders at once; waiters are served first come, first served.

    `async with semaphore:` acquires and releases; `acquire()`/`release()` are there for code
    ported from ElizaOS.
    """

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError(f"a semaphore needs at least one permit, got {count}")
        self._sem = asyncio.Semaphore(count)

    async def acquire(self) -> None:
        """Wait for a permit."""
        await self._sem.acquire()

    def release(self) -> None:
        """Give a permit back."""
        self._sem.release()

    @property
    def available(self) -> int:
        """Permits free right now."""
        return self._sem._value

    async def __aenter__(self) -> Semaphore:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
