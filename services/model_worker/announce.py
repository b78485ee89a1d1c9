"""Model workers announce what they serve in the JetStream KV bucket `elizabus_models`.

Each worker puts one entry per model type it serves, key `<MODEL_TYPE>.<provider>.<worker_id>`,
value a `ModelAnnouncement`, and refreshes it every heartbeat. The bucket's TTL (3 heartbeats by
default) makes the entries of a worker that died without a word expire; a clean stop deletes them
at once. Orchestrators watch the bucket (see `services.orchestrator.runtime.models`) and send
requests to `model.<MODEL_TYPE>.<provider>`, trying providers by priority.

The wire format and bucket helpers live here, on the worker side, because they need nothing but
nats-py and pydantic; the orchestrator imports them from this module.
"""

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
from nats.js.api import KeyValueConfig
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict

from shared import subjects
from shared.events import now_ms

__all__ = [
    "DEFAULT_HEARTBEAT_SECONDS",
    "MODELS_BUCKET",
    "Announcer",
    "ModelAnnouncement",
    "announcement_key",
    "default_worker_id",
    "key_token",
    "open_models_bucket",
    "provider_queue",
    "provider_subject",
]

log = logging.getLogger(__name__)

MODELS_BUCKET = "elizabus_models"
DEFAULT_HEARTBEAT_SECONDS = 2.0
TTL_HEARTBEATS = 3
"""An entry lives this many heartbeats without a refresh before the bucket drops it."""


class ModelAnnouncement(BaseModel):
    """The value of one entry of `elizabus_models`: a worker serves a model type for a provider."""

    model_config = ConfigDict(extra="allow")

    model_type: str
    provider: str
    priority: int = 0
    worker_id: str
    heartbeat_at: int


def key_token(text: str) -> str:
    """`text` as one KV-key and subject token: ASCII letters, digits, `-` and `_` only."""
    cleaned = "".join(c if (c.isascii() and c.isalnum()) or c in "-_" else "_" for c in text)
    return cleaned or "_"


def announcement_key(model_type: str, provider: str, worker_id: str) -> str:
    """The KV key of a worker's entry: `<MODEL_TYPE>.<provider>.<worker_id>`."""
    return f"{key_token(model_type)}.{key_token(provider)}.{key_token(worker_id)}"


def provider_subject(model_type: str, provider: str) -> str:
    """The request/reply subject of one provider's workers: `model.<MODEL_TYPE>.<provider>`."""
    return f"{subjects.model(model_type)}.{key_token(provider)}"


def provider_queue(provider: str) -> str:
    """The queue group the workers of one provider share: `model-workers-<provider>`."""
    return f"{subjects.MODEL_WORKERS_QUEUE}-{key_token(provider)}"


def default_worker_id() -> str:
    """A worker id unique enough across hosts and restarts: `<host>-<pid>-<random>`."""
    return key_token(f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


async def open_models_bucket(
    js: JetStreamContext,
    ttl: float = DEFAULT_HEARTBEAT_SECONDS * TTL_HEARTBEATS,
    bucket: str = MODELS_BUCKET,
) -> KeyValue:
    """The `elizabus_models` KV bucket, created with `ttl` (seconds) when it does not exist.

    The bucket also asks the server for expiry markers, so watchers learn when an entry ages
    out; on a server without them it is created without. Safe when several processes race to
    create it: the loser opens the winner's bucket.
    """
    with contextlib.suppress(nats.js.errors.BucketNotFoundError):
        return await js.key_value(bucket)
    config = KeyValueConfig(
        bucket=bucket,
        description="elizabus model workers: <MODEL_TYPE>.<provider>.<worker_id>",
        history=1,
        ttl=ttl,
        limit_marker_ttl=ttl,
    )
    try:
        try:
            return await js.create_key_value(config)
        except nats.js.errors.KeyValueLimitMarkerTTLNotSupportedError:
            return await js.create_key_value(config.evolve(limit_marker_ttl=None))
    except nats.js.errors.BadRequestError:
        return await js.key_value(bucket)  # created by another process meanwhile


class Announcer:
    """Keeps a worker's entries in `elizabus_models` alive while it serves.

    `start(nc)` opens (or creates) the bucket, puts one entry per model type and refreshes them
    every `heartbeat` seconds; `stop()` deletes them, so orchestrators stop routing to this
    worker at once. A failed refresh (NATS reconnecting) is logged and retried next beat.
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
        bucket: str = MODELS_BUCKET,
    ) -> None:
        self.model_types = sorted({str(t) for t in model_types})
        self.provider = key_token(provider)
        self.priority = priority
        self.worker_id = key_token(worker_id) if worker_id else default_worker_id()
        self.heartbeat = heartbeat
        self.ttl = ttl if ttl is not None else heartbeat * TTL_HEARTBEATS
        self.bucket = bucket
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
        )

    async def start(self, nc: NatsClient) -> None:
        """Open the bucket, announce every model type now, then keep refreshing."""
        if self._task is not None:
            return
        self._kv = await open_models_bucket(nc.jetstream(), ttl=self.ttl, bucket=self.bucket)
        await self.refresh()
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
        """Stop refreshing and delete this worker's entries (best effort: TTL covers the rest)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        kv, self._kv = self._kv, None
        if kv is None:
            return
        for key in self.keys:
            try:
                await kv.delete(key)
            except (nats.errors.Error, OSError) as exc:
                log.warning("could not delete announcement %s (%s): it expires by TTL", key, exc)
