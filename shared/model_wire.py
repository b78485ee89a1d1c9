"""The orchestrator's side of the model boundary: call `useModel` over the bus, or in process.

`request_model` sends a `ModelRequest` on a core NATS subject (`model.<MODEL_TYPE>[.<provider>]`)
and decodes the `ModelResponse` of whichever worker takes it; `serve_model_request` is the worker's
side. Its test double, `shared.testing.InProcessModelClient`, runs a `ModelHandler` directly,
through the very same encoding, with no bus.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from nats.aio.client import Client as NatsClient
from pydantic import ValidationError

from shared import subjects
from shared.bus.request import RequestErrors, request_or_raise, watched_request_or_raise
from shared.bus.watched_request import Liveness, ReplyInbox
from shared.errors import (
    ModelError,
    ModelRejectedError,
    ModelWorkerLostError,
    NoModelHandlerError,
    PermanentError,
    PromptTooLargeError,
)
from shared.messages import ModelRequest, ModelResponse
from shared.model_types import ModelType

log = logging.getLogger(__name__)

__all__ = [
    "ModelCallResult",
    "ModelHandler",
    "decode_response",
    "encode_request",
    "request_model",
    "serve_model_request",
]


@runtime_checkable
class ModelHandler(Protocol):
    """What a model worker runs: a provider name, the types it serves, and `handle`.

    `handle` returns a JSON-serialisable result for the request's model type, or raises
    (preferably `ModelError` with a message that says what to do next).
    """

    provider: str
    supported: frozenset[ModelType]

    async def handle(self, request: ModelRequest) -> Any:
        """Answer one model request with the result ElizaOS's `useModel` would return."""
        ...


@dataclass(frozen=True, slots=True)
class ModelCallResult:
    """A model call's result, which provider produced it, and how long the call took."""

    result: Any
    provider: str
    duration_ms: float


def encode_request(
    model_type: ModelType,
    params: dict[str, Any],
    run_id: UUID | None,
    agent_id: UUID | None,
) -> bytes:
    """The JSON body of a `ModelRequest`, built without re-validating trusted fields."""
    request = ModelRequest.model_construct(
        model_type=model_type, params=params, run_id=run_id, agent_id=agent_id
    )
    try:
        return request.model_dump_json().encode()
    except ValueError as exc:  # pydantic_core.PydanticSerializationError is a ValueError
        raise ModelError(
            f"params of the {model_type.value} request are not JSON-serialisable ({exc}): "
            "pass only strings, numbers, booleans, lists, dicts, UUIDs and datetimes"
        ) from exc


def _error(provider: str, message: str, permanent: bool = False) -> bytes:
    reply = ModelResponse(ok=False, error=message, provider=provider, permanent=permanent)
    return reply.model_dump_json().encode()


async def serve_model_request(
    handler: ModelHandler, body: bytes, model_type: ModelType | None = None
) -> bytes:
    """Answer one raw request body with a raw `ModelResponse` body; never raises.

    `model_type` is the type of the subject the request arrived on; a request naming another
    type is refused. Invalid JSON, a failing handler, or an unserialisable result all come
    back as `ok=false` with an error that says what went wrong.
    """
    provider = handler.provider
    try:
        request = ModelRequest.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors(include_url=False)[:5]
        )
        subject = subjects.model(model_type.value) if model_type else "the model subject"
        return _error(
            provider,
            f"invalid ModelRequest on {subject} ({problems}): send JSON like "
            '{"model_type": "TEXT_LARGE", "params": {"prompt": "..."}}',
        )
    if model_type is not None and request.model_type is not model_type:
        return _error(
            provider,
            f"request for {request.model_type.value} arrived on {subjects.model(model_type.value)}"
            f": send it on {subjects.model(request.model_type.value)}",
        )
    if request.model_type not in handler.supported:
        return _error(
            provider,
            f"provider {provider!r} does not serve {request.model_type.value}: "
            "start a model worker whose provider supports it",
        )
    try:
        result = await handler.handle(request)
    except ModelError as exc:
        return _error(provider, str(exc), permanent=isinstance(exc, PermanentError))
    except Exception as exc:
        log.exception("model handler %s failed on %s", provider, request.model_type.value)
        return _error(
            provider,
            f"{provider} failed on {request.model_type.value}: {type(exc).__name__}: {exc} "
            "(see the model worker's log)",
        )
    try:
        return ModelResponse(ok=True, result=result, provider=provider).model_dump_json().encode()
    except ValueError as exc:
        return _error(
            provider,
            f"{provider} returned a result for {request.model_type.value} that is not "
            f"JSON-serialisable ({exc}): fix the model handler",
        )


def decode_response(model_type: ModelType, body: bytes, started: float) -> ModelCallResult:
    """Turn a raw `ModelResponse` body into a `ModelCallResult`, or raise its error."""
    try:
        response = ModelResponse.model_validate_json(body)
    except ValidationError as exc:
        raise ModelError(
            f"the {model_type.value} worker sent a reply that is not a ModelResponse "
            f"({exc.error_count()} errors, body starts {body[:120]!r}): "
            "check that the worker runs the same elizabus version"
        ) from exc
    if not response.ok:
        error = ModelRejectedError if response.permanent else ModelError
        raise error(
            f"{model_type.value} failed in worker {response.provider!r}: "
            f"{response.error or 'no error message given'}"
        )
    return ModelCallResult(
        result=response.result,
        provider=response.provider,
        duration_ms=(time.perf_counter() - started) * 1000.0,
    )


async def request_model(
    nc: NatsClient,
    subject: str,
    model_type: ModelType,
    params: dict[str, Any],
    *,
    timeout: float,
    run_id: UUID | None = None,
    agent_id: UUID | None = None,
    retries: int = 0,
    inbox: ReplyInbox | None = None,
    liveness: Liveness | None = None,
) -> ModelCallResult:
    """Send one `ModelRequest` on `subject` (core NATS request/reply) and decode the reply: the
    one way elizabus calls a model worker. NoModelHandlerError when nobody listens on the
    subject, ModelError on a timeout, a bus error or the worker's own error.

    With an `inbox` the request is watched (`shared.bus.watched_request`): the worker accepts it
    at once and sends keep-alives, and ModelWorkerLostError comes as soon as it did not accept
    within `liveness.accept_seconds` or went silent, not after `timeout` (which still bounds a
    worker that is alive but slow). Without one it is a plain request/reply."""
    body = encode_request(model_type, params, run_id, agent_id)
    if len(body) > nc.max_payload:
        raise PromptTooLargeError(
            f"the {model_type.value} request is {len(body)} bytes, over the {nc.max_payload} "
            "bytes NATS carries in one message: build a smaller prompt (fewer recent messages) "
            "or raise the server's max_payload"
        )
    started = time.perf_counter()
    errors = RequestErrors(
        ModelError,
        absent=f"no model worker serves {model_type.value} (nobody listens on {subject}): "
        "start `elizabus worker model`",
        timed_out=f"no reply to {model_type.value} within {timeout:g}s on {subject}: check the "
        "model worker's log, or raise ELIZABUS_MODEL_ATTEMPT_TIMEOUT_SECONDS",
        failed=f"could not send the {model_type.value} request on {subject} ({{exc}}): check "
        "that NATS is running and the connection is open",
        absent_error=NoModelHandlerError,
        lost=f"the worker that took the {model_type.value} request on {subject} stopped "
        "answering ({exc}): it died or stalled",
        lost_error=ModelWorkerLostError,
    )
    if inbox is None:
        reply = await request_or_raise(nc, subject, body, timeout, errors, retries=retries)
    else:
        watch = liveness or Liveness()
        reply = await watched_request_or_raise(
            inbox, subject, body, timeout, watch, errors, retries=retries
        )
    return decode_response(model_type, reply.data, started)
