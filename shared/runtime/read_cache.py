"""Reads made during one run, answered once.

Inside a message's run the providers, actions and evaluators often ask the same question (the
room's recent messages, its entities, its world). A run sees the projections as they were when
it started plus nothing of its own writes (those commit with the run), so answering a repeated
read from the first answer changes nothing a run can observe, and saves a database round trip.
Concurrent identical reads share one query.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

from shared.runtime.run_scope import current_scope

T = TypeVar("T")


async def cached_read(agent_id: uuid.UUID, key: Hashable, fetch: Callable[[], Awaitable[T]]) -> T:
    """The answer to read `key` by agent `agent_id` (one agent's answer never serves another):
    fetched the first time in this run, shared afterwards (a list
    answer is copied, so a caller that sorts or extends it in place affects no one else). Outside
    a run every call fetches."""
    scope = current_scope()
    reads = scope.reads if scope is not None else None
    if reads is None:
        return await fetch()
    key = (agent_id, key)
    future = reads.get(key)
    if future is not None and future.done() and not future.cancelled() and not future.exception():
        result_now: T = future.result()
        return list(result_now) if isinstance(result_now, list) else result_now  # type: ignore[return-value]
    if future is None:
        future = asyncio.ensure_future(fetch())
        reads[key] = future
    try:
        result: T = await asyncio.shield(future)
    except BaseException:
        if reads.get(key) is future and future.done():
            del reads[key]  # a failed read is not remembered: the next caller tries again
        raise
    return list(result) if isinstance(result, list) else result  # type: ignore[return-value]
