"""Every NATS subject and JetStream stream name elizabus uses, in one place."""

from __future__ import annotations

MESSAGE_RECEIVED = "message.received"
MESSAGE_SENT_PREFIX = "message.sent"
MESSAGE_DLQ = "message.dlq"
MODEL_PREFIX = "model"
EVENT_PREFIX = "event"

MESSAGES_STREAM = "ELIZABUS_MESSAGES"
MESSAGES_STREAM_SUBJECTS = [MESSAGE_RECEIVED, f"{MESSAGE_SENT_PREFIX}.>", MESSAGE_DLQ]
EVENTS_STREAM = "ELIZABUS_EVENTS"
EVENTS_STREAM_SUBJECTS = [f"{EVENT_PREFIX}.>"]
ORCHESTRATOR_DURABLE = "orchestrator"
MODEL_WORKERS_QUEUE = "model-workers"


def message_sent(source: str) -> str:
    """The subject a reply to a message from `source` is published on."""
    return f"{MESSAGE_SENT_PREFIX}.{subject_token(source)}"


def model(model_type: str) -> str:
    """The request/reply subject every worker of `model_type` answers on."""
    return f"{MODEL_PREFIX}.{model_type}"


def event(name: str) -> str:
    """The JetStream subject a runtime event `name` is published on (`event.<token>`)."""
    return f"{EVENT_PREFIX}.{subject_token(name)}"


def subject_token(text: str) -> str:
    """`text` made safe as one subject token (no dots, spaces or wildcards)."""
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in text)
    return cleaned or "_"
