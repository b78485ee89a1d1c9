"""Pydantic models of every message on the bus; their JSON Schemas are exported to schemas/json."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ChannelType(StrEnum):
    """Room kinds, as ElizaOS's ChannelType."""

    SELF = "SELF"
    DM = "DM"
    GROUP = "GROUP"
    VOICE_DM = "VOICE_DM"
    VOICE_GROUP = "VOICE_GROUP"
    FEED = "FEED"
    THREAD = "THREAD"
    WORLD = "WORLD"
    FORUM = "FORUM"
    API = "API"


class ModelType(StrEnum):
    """Every ElizaOS model type; each is served on subject `model.<value>`."""

    TEXT_SMALL = "TEXT_SMALL"
    TEXT_LARGE = "TEXT_LARGE"
    TEXT_EMBEDDING = "TEXT_EMBEDDING"
    TEXT_TOKENIZER_ENCODE = "TEXT_TOKENIZER_ENCODE"
    TEXT_TOKENIZER_DECODE = "TEXT_TOKENIZER_DECODE"
    TEXT_REASONING_SMALL = "TEXT_REASONING_SMALL"
    TEXT_REASONING_LARGE = "TEXT_REASONING_LARGE"
    TEXT_COMPLETION = "TEXT_COMPLETION"
    OBJECT_SMALL = "OBJECT_SMALL"
    OBJECT_LARGE = "OBJECT_LARGE"
    IMAGE = "IMAGE"
    IMAGE_DESCRIPTION = "IMAGE_DESCRIPTION"
    TRANSCRIPTION = "TRANSCRIPTION"
    TEXT_TO_SPEECH = "TEXT_TO_SPEECH"
    AUDIO = "AUDIO"
    VIDEO = "VIDEO"


class BusModel(BaseModel):
    """Base of bus messages: unknown fields are kept, so newer senders don't break older readers."""

    model_config = ConfigDict(extra="allow")


class EntityRef(BusModel):
    """Who sent a message, in the platform's own ids."""

    id: str = Field(min_length=1)
    name: str | None = None
    username: str | None = None


class RoomRef(BusModel):
    """Where a message was said, in the platform's own ids."""

    id: str = Field(min_length=1)
    name: str | None = None
    type: ChannelType = ChannelType.GROUP
    server_id: str | None = None


class Attachment(BusModel):
    """A file or link attached to a message."""

    id: str | None = None
    url: str | None = None
    title: str | None = None
    content_type: str | None = None


class InboundContent(BusModel):
    """What the user said."""

    text: str
    attachments: list[Attachment] = Field(default_factory=list)
    in_reply_to: uuid.UUID | None = None


class MessageReceived(BusModel):
    """Published by a platform adapter on JetStream `message.received`, header Nats-Msg-Id = id."""

    id: uuid.UUID
    source: str = Field(min_length=1)
    entity: EntityRef
    room: RoomRef
    content: InboundContent
    agent_id: uuid.UUID | None = None


class ReplyContent(BusModel):
    """What the agent says back, with the actions it chose and its thought."""

    text: str
    actions: list[str] = Field(default_factory=list)
    thought: str | None = None
    providers: list[str] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)


class MessageSent(BusModel):
    """Published by the orchestrator on JetStream `message.sent.<source>`; Nats-Msg-Id = id."""

    id: uuid.UUID
    agent_id: uuid.UUID
    in_reply_to: uuid.UUID
    source: str
    room: RoomRef
    content: ReplyContent
    run_id: uuid.UUID


class ModelRequest(BusModel):
    """Request on `model.<MODEL_TYPE>`: the params of ElizaOS's useModel for that type."""

    model_type: ModelType
    params: dict[str, Any] = Field(default_factory=dict)
    run_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None


class ModelResponse(BusModel):
    """Reply from a model worker: a result, or an error that says what went wrong."""

    ok: bool
    result: Any = None
    error: str | None = None
    provider: str


class DeadLetter(BusModel):
    """Published on `message.dlq` for a message that could not be accepted, with the reason."""

    reason: str
    subject: str
    body: str
    headers: dict[str, str] = Field(default_factory=dict)
    stream_sequence: int | None = None


BUS_MESSAGES: tuple[type[BusModel], ...] = (
    MessageReceived,
    MessageSent,
    ModelRequest,
    ModelResponse,
    DeadLetter,
)
