"""Every NATS subject, queue group, JetStream stream and KV bucket name elizabus uses, in one
place: the services meet only here."""

from __future__ import annotations

MESSAGE_RECEIVED = "message.received"
MESSAGE_SENT_PREFIX = "message.sent"
MESSAGE_DLQ = "message.dlq"
MODEL_PREFIX = "model"
EVENT_PREFIX = "event"
PROVIDER_PREFIX = "provider"
ACTION_PREFIX = "action"

PARTITION_PREFIX = "message.partition"

MESSAGES_STREAM = "ELIZABUS_MESSAGES"
MESSAGES_STREAM_SUBJECTS = [MESSAGE_RECEIVED, f"{MESSAGE_SENT_PREFIX}.>", MESSAGE_DLQ]
EVENTS_STREAM = "ELIZABUS_EVENTS"
EVENTS_STREAM_SUBJECTS = [f"{EVENT_PREFIX}.>"]
PARTITIONS_STREAM = "ELIZABUS_PARTITIONS"
"""Work queue of `message.received` copies routed to `message.partition.<n>` (see
services/orchestrator/router.py): each partition is consumed in order, one message at a time."""
PARTITIONS_STREAM_SUBJECTS = [f"{PARTITION_PREFIX}.*"]
ORCHESTRATOR_DURABLE = "orchestrator"
"""The push consumer of `message.received` of elizabus before partitions (deleted at start)."""
ROUTER_DURABLE = "router"
"""The pull consumer of `message.received` every orchestrator's router pulls from."""
MODEL_WORKERS_QUEUE = "model-workers"
PROVIDERS_QUEUE = "providers"
ACTIONS_QUEUE = "actions"
MODELS_BUCKET = "elizabus_models"
"""The KV bucket where model workers announce what they serve (see shared.bus.models_bucket)."""


def message_sent(source: str) -> str:
    """The subject a reply to a message from `source` is published on."""
    return f"{MESSAGE_SENT_PREFIX}.{token(source)}"


def partition(number: int) -> str:
    """The subject of partition `number` of the inbound messages: `message.partition.<n>`."""
    return f"{PARTITION_PREFIX}.{number}"


def partition_durable(number: int) -> str:
    """The durable pull consumer of partition `number` (shared by every orchestrator)."""
    return f"partition-{number}"


def model(model_type: str) -> str:
    """The request/reply subject every worker of `model_type` answers on."""
    return f"{MODEL_PREFIX}.{model_type}"


def model_provider(model_type: str, provider: str) -> str:
    """The request/reply subject of one provider's workers: `model.<MODEL_TYPE>.<provider>`."""
    return f"{model(model_type)}.{token(provider, ascii_only=True)}"


def model_provider_queue(provider: str) -> str:
    """The queue group the workers of one provider share: `model-workers-<provider>`."""
    return f"{MODEL_WORKERS_QUEUE}-{token(provider, ascii_only=True)}"


def provider(name: str) -> str:
    """The request/reply subject of remote provider `name` (`provider.<name as one token>`)."""
    return f"{PROVIDER_PREFIX}.{token(name)}"


def action(name: str) -> str:
    """The request/reply subject of remote action `name` (`action.<name as one token>`)."""
    return f"{ACTION_PREFIX}.{token(name)}"


def event(name: str) -> str:
    """The JetStream subject a runtime event `name` is published on (`event.<token>`)."""
    return f"{EVENT_PREFIX}.{token(name)}"


def token(text: str, *, ascii_only: bool = False) -> str:
    """`text` made safe as one subject token (no dots, spaces or wildcards): letters, digits,
    `-` and `_`, anything else `_`. `ascii_only` also replaces non-ASCII letters, as KV keys
    require."""
    cleaned = "".join(
        c if (c.isalnum() and (c.isascii() or not ascii_only)) or c in "-_" else "_" for c in text
    )
    return cleaned or "_"
