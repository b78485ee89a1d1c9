"""A model worker announces what it serves in the KV bucket `elizabus_models`
(`shared.bus.models_bucket` says how the bucket works) and keeps its entries alive while it
serves."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Iterable

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js.kv import KeyValue

from shared import subjects
from shared.bus.jetstream_retry import retry_while_unavailable
from shared.bus.models_bucket import (
    DEFAULT_HEARTBEAT_SECONDS,
    TTL_HEARTBEATS,
    announcement_key,
    open_models_bucket,
)
from shared.events import now_ms
from shared.messages import ModelAnnouncement

__all__ = ["Announcer", "default_worker_id"]

log = logging.getLogger(__name__)

START_PATIENCE = 60.0
"""Seconds the first announcement is retried while JetStream does not answer."""

WITHDRAW_SECONDS = 2.0
"""How long a stopping worker waits, in all, for the deletion of its entries: they are deleted
together, and a JetStream that does not answer costs this once (the TTL removes them anyway)."""


def default_worker_id() -> str:
    """A worker id unique enough across hosts and restarts: `<host>-<pid>-<random>`."""
    worker = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return subjects.token(worker, ascii_only=True)


class Announcer:
    """Keeps a worker's entries in `elizabus_models` alive while it serves.

    `start(nc)` opens (or creates) the bucket, puts one entry per model type and refreshes them
    every `heartbeat` seconds; `stop()` deletes them, so orchestrators stop routing to this
    worker at once. A failed refresh (NATS reconnecting) is logged and retried next beat.
    `keepalive_seconds` is announced when the worker accepts requests at once and keeps them
    alive at that interval (`shared.bus.watched_request`).
    """

    def __init__(
        self,
        model_types: Iterable[str],
        provider: str,
        priority: int = 0,
        *,
        worker_id: str | None = None,
        heartbeat: float = DEFAULT_HEARTBEAT_SECONDS,
        ttl: float | None = None,
        bucket: str = subjects.MODELS_BUCKET,
        replicas: int = 1,
        keepalive_seconds: float | None = None,
        withdraw_seconds: float = WITHDRAW_SECONDS,
    ) -> None:
        self.model_types = sorted({str(t) for t in model_types})
        self.provider = subjects.token(provider, ascii_only=True)
        self.priority = priority
        self.worker_id = (
            subjects.token(worker_id, ascii_only=True) if worker_id else default_worker_id()
        )
        self.heartbeat = heartbeat
        self.ttl = ttl if ttl is not None else heartbeat * TTL_HEARTBEATS
        self.bucket = bucket
        self.replicas = replicas
        self.keepalive_seconds = keepalive_seconds
        self.withdraw_seconds = withdraw_seconds
        self._kv: KeyValue | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def keys(self) -> list[str]:
        """The KV keys this worker announces, one per model type."""
        return [announcement_key(t, self.provider, self.worker_id) for t in self.model_types]

    def announcement(self, model_type: str) -> ModelAnnouncement:
        """The entry value for one model type, stamped now."""
        return ModelAnnouncement(
            model_type=model_type,
            provider=self.provider,
            priority=self.priority,
            worker_id=self.worker_id,
            heartbeat_at=now_ms(),
            keepalive_seconds=self.keepalive_seconds,
        )

    async def start(self, nc: NatsClient) -> None:
        """Open the bucket, announce every model type now, then keep refreshing (the first
        announcement waits out a cluster that is still electing its leaders)."""
        if self._task is not None:
            return

        async def announce() -> None:
            self._kv = await open_models_bucket(
                nc.jetstream(), ttl=self.ttl, bucket=self.bucket, replicas=self.replicas
            )
            await self.refresh()

        await retry_while_unavailable(announce, f"announcing in KV {self.bucket}", START_PATIENCE)
        self._task = asyncio.create_task(self._beat(), name=f"announce-{self.worker_id}")
        log.info(
            "announced provider %s (priority %d, worker %s) for %s in KV %s",
            self.provider,
            self.priority,
            self.worker_id,
            ", ".join(self.model_types),
            self.bucket,
        )

    async def refresh(self) -> None:
        """Put every entry once, with a fresh `heartbeat_at`."""
        if self._kv is None:
            return
        for model_type in self.model_types:
            key = announcement_key(model_type, self.provider, self.worker_id)
            await self._kv.put(key, self.announcement(model_type).model_dump_json().encode())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await self.refresh()
            except (nats.errors.Error, OSError) as exc:
                log.warning("could not refresh the model announcement (%s): retrying", exc)

    async def stop(self) -> None:
        """Stop refreshing and delete this worker's entries, all at once within
        `withdraw_seconds` (best effort: the TTL covers the rest)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        kv, self._kv = self._kv, None
        if kv is None:
            return
        deletions = [asyncio.ensure_future(kv.delete(key)) for key in self.keys]
        done, late = await asyncio.wait(deletions, timeout=self.withdraw_seconds)
        for deletion in late:
            deletion.cancel()
        if late:
            await asyncio.wait(late)
        failed = [
            f"{key} ({deletion.exception()!r})"
            for key, deletion in zip(self.keys, deletions, strict=True)
            if deletion in done and deletion.exception() is not None
        ]
        if late or failed:
            log.warning(
                "could not delete %d of %d model announcements within %gs%s: they expire by TTL "
                "(%gs)", len(late) + len(failed), len(deletions), self.withdraw_seconds,
                f" ({'; '.join(failed)})" if failed else "", self.ttl,
            )  # fmt: skip
