"""The model worker: answers `model.<MODEL_TYPE>` requests over core NATS with a ModelHandler.

Each supported model type gets one core-NATS subscriber in queue group `model-workers`, so any
number of workers share the load, and one on `model.<MODEL_TYPE>.<provider>` in queue group
`model-workers-<provider>`, which orchestrators use to pick providers by priority: the worker
announces provider and priority in the KV bucket `elizabus_models` (see `announce.py`).
Requests and replies are raw JSON bytes (`ModelRequest` in, `ModelResponse` out); FastStream's
own JSON decoding, type injection and replying are switched off: `serving.HeldRequests` accepts
each request on receipt, keeps it alive while it waits for a slot and runs, and sends the answer
(so an orchestrator notices within seconds when this worker dies with its request). Errors never
crash the worker: they come back as `ok=false`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from faststream import FastStream
from faststream.nats import NatsBroker, NatsMessage
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from services.model_worker.announce import Announcer
from services.model_worker.latency import WithLatency
from services.model_worker.local_embedding import with_local_embeddings
from services.model_worker.openai_compat import OpenAICompatibleModel
from services.model_worker.serving import HeldRequests
from shared import subjects
from shared.bus.nats_connect import RECONNECT_OPTIONS, server_urls
from shared.bus.nats_permissions import model_worker_user
from shared.errors import ConfigurationError
from shared.gc_tuning import tune_for_serving
from shared.messages import ModelRequest
from shared.model_types import ModelType
from shared.model_wire import ModelHandler
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
DRAIN_SECONDS = 10.0
"""How long a stopping worker lets the requests in hand finish (as the orchestrator's stop
deadline for its runs; `up` allows a service 30 s to stop); the rest are cancelled, and their
requesters send them again when the keep-alives stop."""
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


async def _raw_message(message: NatsMessage) -> Msg:
    """Decoder handing the handler the NATS message itself: its body is validated once, in
    pydantic, and its reply inbox gets the acceptance, the keep-alives and the answer."""
    return message.raw_message


def _receiver(
    held: HeldRequests, model_type: ModelType, connection: Callable[[], NatsClient]
) -> Callable[[Msg], Awaitable[None]]:
    async def receive(msg: Msg) -> None:
        if not held.started:  # a request can come before the after-startup hook ran
            held.start(connection())
        await held.receive(msg, model_type)

    receive.__name__ = f"answer_{model_type.value.lower()}"
    return receive


def build_worker_app(
    settings: Settings,
    model: ModelHandler | None = None,
    *,
    max_workers: int | None = None,
    nats_url: str | None = None,
    provider_name: str | None = None,
    priority: int | None = None,
    announce: bool = True,
    drain_seconds: float = DRAIN_SECONDS,
) -> tuple[NatsBroker, FastStream]:
    """A FastStream app serving every model type `model` supports (default: from settings).

    `max_workers` is how many requests per subject one worker runs at once (more wait, accepted
    and kept alive every `ELIZABUS_MODEL_KEEPALIVE_SECONDS`); by default the handler's optional
    `max_concurrency` attribute, else 64 (slow HTTP providers need many, the CPU-only scripted
    double is fastest at 1); beyond `ELIZABUS_MODEL_WORKER_MAX_WAITING` waiting (default 256)
    requests are refused as busy. `nats_url` overrides the settings' URL.
    `provider_name` / `priority` (default: `worker_provider_name`, `worker_priority`) are what
    the worker serves `model.<TYPE>.<provider>` as and announces in KV unless `announce=False`.
    At a stop, the requests in hand get `drain_seconds` to finish.
    """
    handler: ModelHandler = model if model is not None else build_model(settings)
    name = (
        subjects.token(provider_name, ascii_only=True)
        if provider_name
        else worker_provider_name(settings, handler)
    )
    if name != handler.provider:
        handler = NamedHandler(handler, name)
    keepalive = settings.model_keepalive_seconds
    announcer = Announcer(
        handler.supported,
        name,
        worker_priority(settings) if priority is None else priority,
        replicas=settings.stream_replicas,
        keepalive_seconds=keepalive,
    )
    if max_workers is None:
        max_workers = int(getattr(handler, "max_concurrency", DEFAULT_MAX_WORKERS))
    held = HeldRequests(handler, max_workers, keepalive, settings.model_worker_max_waiting)
    auth = settings.resolved_nats_auth(model_worker_user(name))
    broker = NatsBroker(
        server_urls(nats_url or settings.resolved_nats_url()),
        name=f"elizabus-model-worker-{handler.provider}",
        **RECONNECT_OPTIONS,
        **(auth.faststream_options() if auth is not None else {}),
        apply_types=False,
        log_level=logging.DEBUG,  # per-message access logs stay out of INFO on the hot path
    )
    subscribers = []
    for model_type in sorted(handler.supported, key=lambda t: t.value):
        for subject, queue, title in (
            (subjects.model(model_type.value), subjects.MODEL_WORKERS_QUEUE,
             f"model-worker:{model_type.value}"),
            (subjects.model_provider(model_type.value, name), subjects.model_provider_queue(name),
             f"model-worker:{model_type.value}:{name}"),
        ):  # fmt: skip
            subscriber = broker.subscriber(
                subject, queue=queue, decoder=_raw_message, no_reply=True, title=title
            )
            subscriber(
                _receiver(held, model_type, lambda: broker.config.connection_state.connection)
            )
            subscribers.append(subscriber)

    async def close_model() -> None:
        closer: Any = getattr(handler, "aclose", None)
        if callable(closer):
            await closer()

    async def started() -> None:
        # A flush round trip: the server has our subscriptions before anyone is told we serve.
        connection = broker.config.connection_state.connection
        held.start(connection)
        await connection.flush()
        served = ", ".join(sorted(t.value for t in handler.supported))
        tune_for_serving()
        log.info("model worker (%s) serving %s", handler.provider, served)
        if announce:
            await announcer.start(connection)

    async def withdraw() -> None:
        # Before the broker closes: orchestrators stop routing here, then no new request is
        # taken, then the ones in hand are answered (kept alive meanwhile).
        await announcer.stop()
        for subscriber in subscribers:
            await subscriber.stop()
        await held.drain(drain_seconds)

    app = FastStream(
        broker, after_startup=[started], on_shutdown=[withdraw], after_shutdown=[close_model]
    )
    return broker, app


async def run_worker(settings: Settings) -> None:
    """Run a model worker from `settings` until SIGINT/SIGTERM, then drain and stop."""
    _, app = build_worker_app(settings)
    await app.run()
