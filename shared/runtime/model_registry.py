"""Models chosen by priority, in process or on remote workers, with failover (ElizaOS's useModel).

In-process handlers come from plugins (`register_model`). Remote workers announce themselves in
the JetStream KV bucket `elizabus_models` (see `services.model_worker.announce`); a KV watcher
keeps a local view of them, so a call costs one NATS request and no KV read. `use_model` tries
the candidates by priority (ties: in-process first, then registration or announce order),
records a `model.failed` event for each attempt that raises, times out or finds no responders,
and a `model.used` event for the one that answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, cast

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue
from pydantic import ValidationError

from shared import subjects
from shared.bus.models_bucket import DEFAULT_HEARTBEAT_SECONDS, TTL_HEARTBEATS, open_models_bucket
from shared.errors import AllModelsFailedError, ModelError, NoModelHandlerError
from shared.events import ModelFailed, ModelUsed, now_ms
from shared.json_safe import json_safe
from shared.messages import ModelAnnouncement
from shared.model_types import ModelType
from shared.model_wire import ModelCallResult, request_model
from shared.plugin import ModelHandlerFn, Runtime
from shared.runtime.event_types import EventType
from shared.runtime.run_scope import current_action, current_run_id
from shared.runtime.sinks import EventSink
from shared.secrets import Scrubber

__all__ = [
    "BUS_PROVIDER",
    "ModelCandidate",
    "ModelRegistry",
    "loggable",
    "merge_model_settings",
    "redact_response",
]

log = logging.getLogger(__name__)

BUS_PROVIDER = "bus"
"""The provider name of the old-style shared subject `model.<TYPE>`, tried last."""

MAX_REMOTE_WORKERS = 1024
"""Most remote workers a registry keeps in its view of the KV bucket; past it the least
recently heard from are forgotten (workers that restart under new ids must not grow it)."""

_NIL = uuid.UUID(int=0)
_REMOTE_TYPES = frozenset(t.value for t in ModelType)


@dataclass(frozen=True)
class ModelCandidate:
    """One way to answer a model type: an in-process handler, or a remote provider's subject.

    `order` is the registration (in-process) or first-announce (remote) counter; `fallback`
    marks the old-style shared subject, tried only when nothing better answers.
    """

    model_type: str
    provider: str
    priority: int
    order: int
    handler: ModelHandlerFn | None = None
    subject: str | None = None
    fallback: bool = False

    @property
    def remote(self) -> bool:
        """Whether this candidate is a NATS subject rather than an in-process handler."""
        return self.handler is None


@dataclass
class _Announced:
    announcement: ModelAnnouncement
    seen_at: float
    order: int


class _NoResponders(ModelError):
    """Nobody listens on the candidate's subject."""


MODEL_SETTINGS: tuple[tuple[str, str, str | None], ...] = (
    ("MAX_TOKENS", "maxTokens", "MODEL_MAX_TOKEN"),
    ("TEMPERATURE", "temperature", "MODEL_TEMPERATURE"),
    ("TOP_P", "topP", None),
    ("TOP_K", "topK", None),
    ("MIN_P", "minP", None),
    ("SEED", "seed", None),
    ("REPETITION_PENALTY", "repetitionPenalty", None),
    ("FREQUENCY_PENALTY", "frequencyPenalty", "MODEL_FREQ_PENALTY"),
    ("PRESENCE_PENALTY", "presencePenalty", "MODEL_PRESENCE_PENALTY"),
)
"""ElizaOS 1.x's model settings: the setting suffix, the param it fills, its legacy key."""

USER_MODEL_TYPES = frozenset(
    {"TEXT_SMALL", "TEXT_LARGE", "TEXT_REASONING_SMALL", "TEXT_REASONING_LARGE", "TEXT_COMPLETION"}
)
"""The model types whose params get `user` (the character's name) when they have none."""

_JS_HEX = re.compile(r"^0[xX][0-9a-fA-F]+$")


def _js_number(value: Any) -> float | int | None:
    """`Number(value)` as JavaScript reads a setting; None for NaN (ElizaOS ignores those)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        number: float = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return 0
        if _JS_HEX.match(text):
            return int(text, 16)
        if text in ("Infinity", "+Infinity", "-Infinity"):
            number = float(text.replace("Infinity", "inf"))
        elif not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
            return None
        else:
            number = float(text)
    else:
        return None
    if math.isnan(number):
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def merge_model_settings(
    model_type: str,
    params: Mapping[str, Any] | None,
    get_setting: Callable[[str], Any],
    character_name: str | None,
) -> dict[str, Any]:
    """A model call's params with the character's model settings, as ElizaOS 1.x's useModel
    merges them: for each setting, `<MODEL_TYPE>_<NAME>`, then `DEFAULT_<NAME>`, then the legacy
    `MODEL_*` key, the first that is a number (invalid numbers are skipped); the explicit params
    win over all of them. Text generation types get `user` = the character's name when the
    params have no `user` key (an explicit None or "" is kept). None params stay empty."""
    if params is None:
        return {}
    merged: dict[str, Any] = {}
    for suffix, param, legacy in MODEL_SETTINGS:
        for key in (f"{model_type}_{suffix}", f"DEFAULT_{suffix}", legacy):
            if key is None:
                continue
            raw = get_setting(key)
            number = _js_number(raw) if raw is not None else None
            if number is not None:
                merged[param] = number
                break
    merged.update(params)
    if model_type in USER_MODEL_TYPES and character_name and "user" not in merged:
        merged["user"] = character_name
    return merged


def _prompt_of(params: Mapping[str, Any]) -> str | None:
    """What ElizaOS logs as a call's prompt: `prompt`, else `input`, else the messages as JSON."""
    for key in ("prompt", "input"):
        if isinstance(params.get(key), str) and params[key]:
            return str(params[key])
    messages = params.get("messages")
    return json.dumps(loggable(messages)) if isinstance(messages, list) else None


def redact_response(response: Any) -> Any:
    """The response as `model.used` logs it: a list of numbers (an embedding) is "[array]", a
    list of them (a batch of embeddings) "[array]" each."""
    if _numbers(response):
        return "[array]"
    if isinstance(response, list | tuple) and response and all(_numbers(v) for v in response):
        return ["[array]"] * len(response)
    return loggable(response)


def _numbers(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in value
    )


def loggable(value: Any) -> Any:
    """A JSON-safe copy of model params for an event (`json_safe`, with any `runtime` handed
    along left out)."""
    return json_safe(value, drop_keys=_NOT_LOGGED)


_NOT_LOGGED = frozenset({"runtime"})


class ModelRegistry:
    """Model handlers by priority, in process and on remote workers, with failover.

    `runtime` is handed to in-process handlers (may be None in tests); `sink` records the
    `model.used` / `model.failed` events; `timeout` bounds each attempt, in process or remote;
    `emit` (the runtime's emit_event) announces MODEL_USED after each successful call;
    `scrubber` removes the agent's secrets from the params sent to remote workers.
    Remote workers are seen only between `start(nc)` and `stop()`.
    """

    def __init__(
        self,
        runtime: Runtime | None,
        sink: EventSink,
        *,
        timeout: float = 60.0,
        agent_id: uuid.UUID | None = None,
        bucket: str = subjects.MODELS_BUCKET,
        ttl: float = DEFAULT_HEARTBEAT_SECONDS * TTL_HEARTBEATS,
        emit: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None,
        connection_lost: Callable[[], asyncio.Future[None]] | None = None,
        scrubber: Scrubber | None = None,
        max_remote: int = MAX_REMOTE_WORKERS,
    ) -> None:
        self.runtime = runtime
        self.max_remote = max_remote
        self.emit = emit
        self.connection_lost = connection_lost
        self.scrubber = scrubber or Scrubber()
        self.sink = sink
        self.timeout = timeout
        self.bucket = bucket
        self.ttl = ttl
        self._agent_id = agent_id
        self._counter = itertools.count()
        self._local: dict[str, list[ModelCandidate]] = {}
        self._remote: dict[str, _Announced] = {}
        self._nc: NatsClient | None = None
        self._watcher: KeyValue.KeyWatcher | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def agent_id(self) -> uuid.UUID:
        """The agent the events are about: the given id, else the runtime's."""
        if self._agent_id is not None:
            return self._agent_id
        return self.runtime.agent_id if self.runtime is not None else _NIL

    # --- in-process handlers ----------------------------------------------------------------

    def register_model(
        self, model_type: str, handler: ModelHandlerFn, provider: str, priority: int = 0
    ) -> None:
        """Add an in-process handler; higher priority first, then registration order."""
        key = str(model_type)
        entry = ModelCandidate(key, provider, priority or 0, next(self._counter), handler=handler)
        handlers = [*self._local.get(key, []), entry]
        handlers.sort(key=lambda c: (-c.priority, c.order))
        self._local[key] = handlers

    def get_model(self, model_type: str, provider: str | None = None) -> ModelHandlerFn | None:
        """The handler `use_model` would try first (a remote one calls `use_model` for its
        provider), or None when no handler is registered nor any worker announced."""
        first = next((c for c in self.candidates(model_type, provider) if not c.fallback), None)
        if first is None or first.handler is not None:
            return first.handler if first is not None else None

        async def call_remote(runtime: Runtime, params: dict[str, Any]) -> Any:
            return await self.use_model(first.model_type, params, first.provider)

        return call_remote

    # --- remote workers ---------------------------------------------------------------------

    async def start(self, nc: NatsClient) -> None:
        """Open (or create) the KV bucket and watch it; returns once the current entries are in
        the local view. Until then, and without `start`, only in-process handlers are used."""
        if self._task is not None:
            return
        kv = await open_models_bucket(nc.jetstream(), ttl=self.ttl, bucket=self.bucket)
        bucket_ttl = (await kv.status()).ttl
        if bucket_ttl:
            self.ttl = bucket_ttl
        self._nc = nc
        self._watcher = await kv.watchall()
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._watch(self._watcher, ready), name="model-kv-watch")
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not ready.is_set():
            await self.stop()
            raise ModelError(
                f"the watcher of KV bucket {self.bucket} ended before reading it: "
                "check that NATS is running with JetStream enabled"
            )

    async def stop(self) -> None:
        """Stop watching the bucket and forget the remote workers."""
        watcher, self._watcher = self._watcher, None
        task, self._task = self._task, None
        if watcher is not None:
            with contextlib.suppress(nats.errors.Error, OSError):
                await watcher.stop()  # type: ignore[no-untyped-call]  # nats-py leaves it untyped
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._remote.clear()
        self._nc = None

    async def _watch(self, watcher: KeyValue.KeyWatcher, ready: asyncio.Event) -> None:
        async for entry in watcher:
            if entry is None:  # the initial values have all been delivered
                ready.set()
                continue
            deleted = entry.operation in (KV_DEL, KV_PURGE)
            self.apply_announcement(entry.key, None if deleted else entry.value)

    def apply_announcement(self, key: str, value: bytes | None) -> None:
        """Update the local view with one KV entry: a `ModelAnnouncement` JSON, or None when
        the entry was deleted or expired. Called by the watcher; usable directly in tests."""
        if value is None:
            self._remote.pop(key, None)
            return
        try:
            announcement = ModelAnnouncement.model_validate_json(value)
        except ValidationError as exc:
            log.warning("ignoring KV entry %s of %s: not a ModelAnnouncement (%s)", key,
                        self.bucket, exc.errors(include_url=False)[:1])  # fmt: skip
            return
        known = self._remote.get(key)
        order = known.order if known is not None else next(self._counter)
        now = time.monotonic()
        self._remote[key] = _Announced(announcement, now, order)
        if known is None:  # a new worker: keep the view bounded
            self._drop_stale(now)
            self._drop_least_recent()

    @property
    def remote_worker_count(self) -> int:
        """How many remote workers the local view of the KV bucket holds."""
        return len(self._remote)

    def _drop_stale(self, now: float) -> None:
        """Forget the workers not heard from within the TTL (the watcher missed the expiry)."""
        stale = [k for k, a in self._remote.items() if now - a.seen_at > self.ttl]
        for key in stale:
            del self._remote[key]

    def _drop_least_recent(self) -> None:
        """Forget the least recently heard-from workers beyond `max_remote`."""
        excess = len(self._remote) - self.max_remote
        if excess <= 0:
            return
        oldest = sorted(self._remote, key=lambda k: self._remote[k].seen_at)[:excess]
        for key in oldest:
            del self._remote[key]
        log.warning("forgot %d model worker(s) of %s: more than %d announced within the TTL",
                    excess, self.bucket, self.max_remote)  # fmt: skip

    def _announced(self, model_type: str) -> list[ModelCandidate]:
        """Live remote providers of a type, one per provider (its workers share a queue group)."""
        self._drop_stale(time.monotonic())
        best: dict[str, ModelCandidate] = {}
        for seen in self._remote.values():
            ann = seen.announcement
            if ann.model_type != model_type:
                continue
            prior = best.get(ann.provider)
            best[ann.provider] = ModelCandidate(
                model_type,
                ann.provider,
                max(ann.priority, prior.priority) if prior else ann.priority,
                min(seen.order, prior.order) if prior else seen.order,
                subject=subjects.model_provider(model_type, ann.provider),
            )
        return list(best.values())

    # --- choosing and calling ---------------------------------------------------------------

    def candidates(self, model_type: str, provider: str | None = None) -> list[ModelCandidate]:
        """What `use_model` tries, in order: by priority (higher first), in-process before
        remote on a tie, then registration/announce order; the shared subject last."""
        key = str(model_type)
        announced = self._announced(key) if self._nc is not None else []
        ranked = sorted(
            [*self._local.get(key, []), *announced],
            key=lambda c: (-c.priority, c.remote, c.order),
        )
        remote_type = key in _REMOTE_TYPES
        if self._nc is not None and remote_type and (not announced or provider == BUS_PROVIDER):
            ranked.append(
                ModelCandidate(key, BUS_PROVIDER, 0, -1, subject=subjects.model(key), fallback=True)
            )
        if provider is not None:
            ranked = [c for c in ranked if c.provider == provider]
        return ranked

    async def use_model(
        self, model_type: str, params: Mapping[str, Any] | None, provider: str | None = None
    ) -> Any:
        """Run a model (ElizaOS's useModel): the best candidate, failing over to the next.

        Raises NoModelHandlerError when nothing is registered or announced for the type (and
        provider), AllModelsFailedError (a ModelError and an ExceptionGroup of what each
        candidate raised) when every candidate failed.
        """
        key = str(model_type)
        call_params = self.model_params(key, params)
        run_id = current_run_id()
        action = current_action()
        prompt = _prompt_of(call_params)
        if action is not None and key != "TEXT_EMBEDDING" and prompt is not None:
            action.add_prompt(key, prompt)  # as ElizaOS, embeddings are not collected
        failures: list[tuple[str, str, Exception]] = []
        for candidate in self.candidates(key, provider):
            started = time.perf_counter()
            failure: Exception
            try:
                result = await self._attempt(candidate, call_params, run_id)
            except _NoResponders as exc:
                if candidate.fallback:
                    continue  # nobody on the shared subject: there was no candidate, not a failure
                error, failure = str(exc), exc
            except ModelError as exc:
                error, failure = str(exc), exc
            except Exception as exc:
                log.exception("model handler %s failed on %s", candidate.provider, key)
                error, failure = f"{type(exc).__name__}: {exc}", exc
            else:
                await self._record_used(candidate, call_params, result, started, run_id)
                return result
            failures.append((candidate.provider, error, failure))
            log.warning("model %s via %s failed, trying the next: %s", key, candidate.provider,
                        error)  # fmt: skip
            await self.sink.record(
                ModelFailed(
                    agent_id=self.agent_id, run_id=run_id, model_type=key,
                    provider=candidate.provider, error=error,
                    duration_ms=(time.perf_counter() - started) * 1000.0, at=now_ms(),
                )
            )  # fmt: skip
        if not failures:
            wanted = f" from provider {provider!r}" if provider else ""
            raise NoModelHandlerError(
                f"no model handler for {key}{wanted}: no plugin registered one and no worker "
                f"announced one in KV {self.bucket} or answers on {subjects.model(key)}; start "
                "`elizabus worker model` or register a plugin model"
            )
        listed = "; ".join(f"{name}: {error}" for name, error, _ in failures)
        raise AllModelsFailedError(
            f"every provider of {key} failed ({listed}): check those model workers' logs and "
            "settings, or start another worker",
            [failure for _, _, failure in failures],
        )

    def model_params(self, model_type: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """The params a call sends: the character's model settings merged under the explicit
        ones (`merge_model_settings`); as given when the registry has no runtime with settings."""
        get_setting = getattr(self.runtime, "get_setting", None)
        character = getattr(self.runtime, "character", None)
        if get_setting is None or character is None:  # a bare runtime double
            return dict(params or {})
        return merge_model_settings(model_type, params, get_setting, character.name)

    async def _attempt(
        self, candidate: ModelCandidate, params: dict[str, Any], run_id: uuid.UUID | None
    ) -> Any:
        if candidate.handler is not None:
            try:
                # handlers are typed against Runtime; tests may build the registry without one
                runtime = cast(Runtime, self.runtime)
                return await asyncio.wait_for(candidate.handler(runtime, params), self.timeout)
            except TimeoutError as exc:
                raise ModelError(
                    f"in-process {candidate.model_type} handler of {candidate.provider} gave no "
                    f"result within {self.timeout:g}s: fix the handler or raise "
                    "ELIZABUS_MODEL_TIMEOUT_SECONDS"
                ) from exc
        return await self._request(candidate, params, run_id)

    async def _request(
        self, candidate: ModelCandidate, params: dict[str, Any], run_id: uuid.UUID | None
    ) -> Any:
        nc, subject = self._nc, candidate.subject or subjects.model(candidate.model_type)
        if nc is None:
            raise ModelError(f"not connected to NATS: call start(nc) before using {subject}")
        try:
            answer = await self._unless_connection_lost(
                request_model(
                    nc, subject, ModelType(candidate.model_type), self.scrubber.data(params),
                    timeout=self.timeout,
                    run_id=run_id, agent_id=self.agent_id, retries=2,
                ),
                subject,
            )  # fmt: skip
        except NoModelHandlerError as exc:
            raise _NoResponders(
                f"no worker answers on {subject} (its KV entry outlived it): start a worker of "
                f"provider {candidate.provider!r} or wait for the entry to expire"
            ) from exc
        return answer.result

    async def _unless_connection_lost(
        self, request: Coroutine[Any, Any, ModelCallResult], subject: str
    ) -> ModelCallResult:
        """The request's answer, or ModelError as soon as the NATS connection drops while it waits
        (the request is lost with the connection: waiting for the timeout would only delay the
        retry on another worker or another attempt)."""
        if self.connection_lost is None:
            return await request
        lost = self.connection_lost()
        task = asyncio.ensure_future(request)
        waiters: set[asyncio.Future[Any]] = {task, lost}
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise ModelError(
            f"the request on {subject} was lost: the NATS connection dropped while it waited "
            "(it is tried again once NATS is back)"
        )

    async def _record_used(
        self,
        candidate: ModelCandidate,
        params: dict[str, Any],
        result: Any,
        started: float,
        run_id: uuid.UUID | None,
    ) -> None:
        action = current_action()
        duration_ms = (time.perf_counter() - started) * 1000.0
        if self.emit is not None:  # ElizaOS's MODEL_USED event, for other services to follow
            await self.emit(
                EventType.MODEL_USED,
                {"runId": str(run_id) if run_id else None, "type": candidate.model_type,
                 "provider": candidate.provider, "durationMs": duration_ms,
                 "actionName": action.action_name if action is not None else None},
            )  # fmt: skip
        await self.sink.record(
            ModelUsed(
                agent_id=self.agent_id, run_id=run_id, model_type=candidate.model_type,
                provider=candidate.provider, params=loggable(params),
                response=redact_response(result),
                duration_ms=duration_ms,
                action_context=action.as_dict() if action is not None else None, at=now_ms(),
            )
        )  # fmt: skip
