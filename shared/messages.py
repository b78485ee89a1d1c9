"""Pydantic models of every message on the bus; their JSON Schemas are exported to schemas/json."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events import now_ms
from shared.model_types import ModelType
from shared.plugin import Memory, State
from shared.records import ChannelType


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
    permanent: bool = False
    """With `ok` false: trying again cannot help (the model refused the request itself)."""


class DeadLetter(BusModel):
    """Published on `message.dlq` for a message that could not be accepted, with the reason."""

    reason: str
    subject: str
    body: str
    """The body as text; empty when it is not storable text (then see `body_base64`)."""
    body_base64: str | None = None
    """The body's bytes in base64 when they are not UTF-8 text free of NUL."""
    body_size: int | None = None
    """The body's full size in bytes when only its first 64 KiB are kept."""
    headers: dict[str, str] = Field(default_factory=dict)
    stream_sequence: int | None = None


class ModelAnnouncement(BaseModel):
    """The value of one entry of `elizabus_models`: a worker serves a model type for a provider."""

    model_config = ConfigDict(extra="allow")

    model_type: str
    provider: str
    priority: int = 0
    worker_id: str
    heartbeat_at: int
    keepalive_seconds: float | None = None
    """The worker accepts each request at once and sends keep-alives this often while it holds
    it (`shared.bus.watched_request`); None: a worker that does not (an older version)."""


class RemoteState(BaseModel):
    """The composed state a remote action or provider is given: values, data and text."""

    values: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    text: str = ""

    @classmethod
    def of(cls, state: State) -> RemoteState:
        """A local State as it is sent (not validated: values may hold any object)."""
        return cls.model_construct(values=state.values, data=state.data, text=state.text)

    def to_state(self) -> State:
        """The received state as a local State."""
        return State(self.values, self.data, self.text)


class RemoteProviderRequest(BaseModel):
    """Body of a request on `provider.<name>`: which provider, the message, the current state."""

    provider: str
    message: Memory
    state: RemoteState = Field(default_factory=RemoteState)
    agent_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None


class RemoteProviderResult(BaseModel):
    """What a remote provider contributes, as ProviderResult."""

    text: str = ""
    values: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)


class RemoteProviderReply(BaseModel):
    """Reply on `provider.<name>`: `ok` with a result, or not `ok` with an error to act on."""

    ok: bool
    provider: str
    result: RemoteProviderResult | None = None
    error: str | None = None


class RemoteActionRequest(BaseModel):
    """Body of a request on `action.<name>`: the handler's arguments, and the run and action ids."""

    action: str
    message: Memory
    state: RemoteState | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    responses: list[Memory] = Field(default_factory=list)
    agent_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None
    action_id: uuid.UUID | None = None


class RemoteActionReply(BaseModel):
    """Reply on `action.<name>`.

    `outcome` is "completed" (the handler returned; `success`, `text`, `values`, `data`, `error`
    are its ActionResult), "skipped" (the remote `validate` declined) or "failed" (the handler
    raised, or the request or result was unusable; `error` says what to do). `callback_contents`
    is every content the handler passed to its callback, in order; `prompts` the model prompts
    it made.
    """

    action: str
    outcome: Literal["completed", "skipped", "failed"]
    success: bool
    text: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    callback_contents: list[dict[str, Any]] = Field(default_factory=list)
    prompts: list[dict[str, Any]] = Field(default_factory=list)


class EmittedEvent(BaseModel):
    """The JSON body of a runtime event on subject `event.<name>` (stream ELIZABUS_EVENTS).

    `id` is also the message's `Nats-Msg-Id`; `params` is the emitter's params made JSON-safe
    (UUIDs and dates as strings, models and dataclasses as objects, other objects as
    `"<TypeName>"`, callables left out); `emitted_at` is epoch milliseconds.
    """

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    name: str
    agent_id: uuid.UUID
    run_id: uuid.UUID | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    emitted_at: int = Field(default_factory=now_ms)


BUS_MESSAGES: tuple[type[BaseModel], ...] = (
    MessageReceived,
    MessageSent,
    ModelRequest,
    ModelResponse,
    DeadLetter,
    EmittedEvent,
    ModelAnnouncement,
    RemoteActionRequest,
    RemoteActionReply,
    RemoteProviderRequest,
    RemoteProviderReply,
)
"""Every message the services exchange on the bus; `elizabus schemas export` writes their JSON
Schemas to schemas/json/bus."""
