"""The KV bucket `elizabus_models`, where model workers announce what they serve.

Each worker puts one entry per model type it serves, key `<MODEL_TYPE>.<provider>.<worker_id>`,
value a `ModelAnnouncement`, and refreshes it every heartbeat. The bucket's TTL (3 heartbeats by
default) makes the entries of a worker that died without a word expire; a clean stop deletes them
at once. Orchestrators watch the bucket (`shared.runtime.model_registry`) and send requests to
`model.<MODEL_TYPE>.<provider>`, trying providers by priority.
"""

from __future__ import annotations

import contextlib

import nats.js.errors
from nats.js.api import KeyValueConfig
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue

from shared import subjects
from shared.subjects import MODELS_BUCKET

__all__ = [
    "DEFAULT_HEARTBEAT_SECONDS",
    "MODELS_BUCKET",
    "TTL_HEARTBEATS",
    "announcement_key",
    "open_models_bucket",
]

DEFAULT_HEARTBEAT_SECONDS = 2.0
TTL_HEARTBEATS = 3
"""An entry lives this many heartbeats without a refresh before the bucket drops it."""


def announcement_key(model_type: str, provider: str, worker_id: str) -> str:
    """The KV key of a worker's entry: `<MODEL_TYPE>.<provider>.<worker_id>`."""
    return f"{_key(model_type)}.{_key(provider)}.{_key(worker_id)}"


def _key(text: str) -> str:
    return subjects.token(text, ascii_only=True)


async def open_models_bucket(
    js: JetStreamContext,
    ttl: float = DEFAULT_HEARTBEAT_SECONDS * TTL_HEARTBEATS,
    bucket: str = MODELS_BUCKET,
    replicas: int = 1,
) -> KeyValue:
    """The `elizabus_models` KV bucket, created with `ttl` (seconds) and stored on `replicas`
    servers of a cluster (`ELIZABUS_STREAM_REPLICAS`) when it does not exist.

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
        replicas=replicas,
    )
    try:
        try:
            return await js.create_key_value(config)
        except nats.js.errors.KeyValueLimitMarkerTTLNotSupportedError:
            return await js.create_key_value(config.evolve(limit_marker_ttl=None))
    except nats.js.errors.BadRequestError:
        return await js.key_value(bucket)  # created by another process meanwhile
