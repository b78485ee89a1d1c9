"""The model worker: answers `model.<MODEL_TYPE>` requests over core NATS with a ModelHandler.

Each supported model type gets one core-NATS subscriber in queue group `model-workers`, so any
number of workers share the load, and one on `model.<MODEL_TYPE>.<provider>` in queue group
`model-workers-<provider>`, which orchestrators use to pick providers by priority: the worker
announces provider and priority in the KV bucket `elizabus_models` (see `announce.py`).
Requests and replies are raw JSON bytes (`ModelRequest` in, `ModelResponse` out); FastStream's
own JSON decoding and type injection are switched off to keep per-request overhead low. Errors
never crash the worker: they come back as `ok=false`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from faststream import FastStream
from faststream.nats import NatsBroker, NatsMessage

from services.model_worker.announce import Announcer
from services.model_worker.latency import WithLatency
from services.model_worker.local_embedding import with_local_embeddings
from services.model_worker.openai_compat import OpenAICompatibleModel
from shared import subjects
from shared.bus.nats_connect import RECONNECT_OPTIONS, server_urls
from shared.errors import ConfigurationError
from shared.messages import ModelRequest
from shared.model_types import ModelType
from shared.model_wire import ModelHandler, serve_model_request
from shared.settings import Settings
from shared.testing import ScriptedModel

__all__ = [
    "ModelHandler",
    "NamedHandler",
    "build_model",
    "build_worker_app",
    "run_worker",
    "worker_priority",
    "worker_provider_name",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_WORKERS = 64
PROVIDERS = ("auto", "openai", "scripted")


def build_model(settings: Settings) -> ModelHandler:
    """The ModelHandler `settings.model_provider` asks for.

    "auto" is the OpenAI-compatible client when ELIZABUS_OPENAI_API_KEY is set, else the
    offline ScriptedModel double; "openai" requires the key; "scripted" is always the double,
    its text generation delayed by ELIZABUS_SCRIPTED_LATENCY_MS when that is set. TEXT_EMBEDDING
    may be answered by the local model instead (ELIZABUS_EMBEDDING_PROVIDER, local_embedding).
    """
    provider = settings.model_provider.strip().lower()
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    if provider == "scripted" or (provider == "auto" and not key):
        scripted = ScriptedModel(dimensions=settings.embedding_dimensions, record_calls=False)
        model: ModelHandler = scripted
        if settings.scripted_latency_ms > 0:
            model = WithLatency(scripted, settings.scripted_latency_ms / 1000.0)
        return with_local_embeddings(settings, model, scripted=True)
    if provider in ("auto", "openai"):
        if not key:
            raise ConfigurationError(
                "ELIZABUS_MODEL_PROVIDER=openai needs ELIZABUS_OPENAI_API_KEY: set it (any "
                "non-empty value for Ollama or vLLM), or use ELIZABUS_MODEL_PROVIDER=scripted"
            )
        openai = OpenAICompatibleModel.from_settings(settings)
        return with_local_embeddings(settings, openai, scripted=False)
    raise ConfigurationError(
        f"unknown ELIZABUS_MODEL_PROVIDER {settings.model_provider!r}: "
        f"use one of {', '.join(PROVIDERS)}"
    )


class NamedHandler:
    """A ModelHandler under another provider name (`ELIZABUS_MODEL_PROVIDER_NAME`).

    Replies and errors then name the provider the orchestrator routed to ("primary"), not the
    implementation behind it ("scripted").
    """

    def __init__(self, inner: ModelHandler, provider: str) -> None:
        self.inner = inner
        self.provider = provider
        self.supported: frozenset[ModelType] = inner.supported
        self.max_concurrency = int(getattr(inner, "max_concurrency", DEFAULT_MAX_WORKERS))

    async def handle(self, request: ModelRequest) -> Any:
        """Answer with the wrapped handler."""
        return await self.inner.handle(request)

    async def aclose(self) -> None:
        """Close the wrapped handler when it has something to close."""
        closer: Any = getattr(self.inner, "aclose", None)
        if callable(closer):
            await closer()


def worker_provider_name(settings: Settings, handler: ModelHandler) -> str:
    """The provider name the worker announces: setting `model_provider_name`, else env
    `ELIZABUS_MODEL_PROVIDER_NAME`, else the handler's provider; as one subject token."""
    configured = getattr(settings, "model_provider_name", None)
    name = configured or os.environ.get("ELIZABUS_MODEL_PROVIDER_NAME") or handler.provider
    return subjects.token(str(name).strip(), ascii_only=True)


def worker_priority(settings: Settings) -> int:
    """The priority the worker announces (higher is tried first): setting `model_priority`,
    else env `ELIZABUS_MODEL_PRIORITY`, else 0."""
    configured = getattr(settings, "model_priority", None)
    if configured is not None:
        return int(configured)
    raw = os.environ.get("ELIZABUS_MODEL_PRIORITY", "").strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(
            f"ELIZABUS_MODEL_PRIORITY={raw!r} is not an integer: set a whole number "
            "(higher is tried first), or unset it for 0"
        ) from exc


async def _raw_body(message: NatsMessage) -> bytes:
    """Decoder handing the handler the raw body: validation happens once, in pydantic."""
    return message.body


def _responder(handler: ModelHandler, model_type: ModelType) -> Callable[[bytes], Awaitable[bytes]]:
    async def answer(body: bytes) -> bytes:
        return await serve_model_request(handler, body, model_type)

    answer.__name__ = f"answer_{model_type.value.lower()}"
    return answer


def build_worker_app(
    settings: Settings,
    model: ModelHandler | None = None,
    *,
    max_workers: int | None = None,
    nats_url: str | None = None,
    provider_name: str | None = None,
    priority: int | None = None,
    announce: bool = True,
) -> tuple[NatsBroker, FastStream]:
    """A FastStream app serving every model type `model` supports (default: from settings).

    `max_workers` is how many requests per model type one worker runs at once; by default the
    handler's optional `max_concurrency` attribute, else 64 (slow HTTP providers need many,
    the CPU-only scripted double is fastest at 1). `nats_url` overrides the settings' URL.
    `provider_name` / `priority` (default: `worker_provider_name`, `worker_priority`) are what
    the worker serves `model.<TYPE>.<provider>` as and announces in KV unless `announce=False`.
    """
    handler: ModelHandler = model if model is not None else build_model(settings)
    name = (
        subjects.token(provider_name, ascii_only=True)
        if provider_name
        else worker_provider_name(settings, handler)
    )
    if name != handler.provider:
        handler = NamedHandler(handler, name)
    announcer = Announcer(
        handler.supported,
        name,
        worker_priority(settings) if priority is None else priority,
        replicas=settings.stream_replicas,
    )
    if max_workers is None:
        max_workers = int(getattr(handler, "max_concurrency", DEFAULT_MAX_WORKERS))
    broker = NatsBroker(
        server_urls(nats_url or settings.resolved_nats_url()),
        name=f"elizabus-model-worker-{handler.provider}",
        **RECONNECT_OPTIONS,
        apply_types=False,
        log_level=logging.DEBUG,  # per-message access logs stay out of INFO on the hot path
    )
    for model_type in sorted(handler.supported, key=lambda t: t.value):
        broker.subscriber(
            subjects.model(model_type.value),
            queue=subjects.MODEL_WORKERS_QUEUE,
            decoder=_raw_body,
            max_workers=max(1, max_workers),
            title=f"model-worker:{model_type.value}",
        )(_responder(handler, model_type))
        broker.subscriber(
            subjects.model_provider(model_type.value, name),
            queue=subjects.model_provider_queue(name),
            decoder=_raw_body,
            max_workers=max(1, max_workers),
            title=f"model-worker:{model_type.value}:{name}",
        )(_responder(handler, model_type))

    async def close_model() -> None:
        closer: Any = getattr(handler, "aclose", None)
        if callable(closer):
            await closer()

    async def started() -> None:
        # A flush round trip: the server has our subscriptions before anyone is told we serve.
        connection = broker.config.connection_state.connection
        await connection.flush()
        served = ", ".join(sorted(t.value for t in handler.supported))
        log.info("model worker (%s) serving %s", handler.provider, served)
        if announce:
            await announcer.start(connection)

    async def withdraw() -> None:
        # Before the broker closes: orchestrators stop routing here before we stop answering.
        await announcer.stop()

    app = FastStream(
        broker, after_startup=[started], on_shutdown=[withdraw], after_shutdown=[close_model]
    )
    return broker, app


async def run_worker(settings: Settings) -> None:
    """Run a model worker from `settings` until SIGINT/SIGTERM, then drain and stop."""
    _, app = build_worker_app(settings)
    await app.run()
