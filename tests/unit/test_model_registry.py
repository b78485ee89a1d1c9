"""ModelRegistry with in-process handlers and a ListSink: priority order, provider filter,
failover with `model.failed` events, errors, embedding redaction, prompts in the action context."""

from __future__ import annotations

import asyncio
import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from services.model_worker.announce import Announcer
from services.model_worker.app import worker_priority, worker_provider_name
from shared import subjects
from shared.bus.models_bucket import announcement_key
from shared.errors import (
    AllModelsFailedError,
    ConfigurationError,
    ModelError,
    NoModelHandlerError,
)
from shared.events import ModelFailed, ModelUsed
from shared.plugin import ModelHandlerFn, Runtime
from shared.runtime.model_registry import ModelRegistry, loggable, redact_response
from shared.runtime.run_scope import ActionContext, in_action, in_run
from shared.settings import Settings
from shared.testing import ListSink, ScriptedModel

AGENT = uuid.UUID("00000000-0000-4000-8000-00000000a11c")


def answering(value: Any, calls: list[str] | None = None, name: str = "") -> ModelHandlerFn:
    """A handler that returns `value` (and notes its name in `calls`)."""

    async def handler(runtime: Runtime, params: dict[str, Any]) -> Any:
        if calls is not None:
            calls.append(name)
        return value

    return handler


def failing(error: Exception, calls: list[str] | None = None, name: str = "") -> ModelHandlerFn:
    """A handler that raises `error`."""

    async def handler(runtime: Runtime, params: dict[str, Any]) -> Any:
        if calls is not None:
            calls.append(name)
        raise error

    return handler


def registry(sink: ListSink | None = None, timeout: float = 5.0) -> ModelRegistry:
    return ModelRegistry(None, sink or ListSink(), timeout=timeout, agent_id=AGENT)


def test_priority_first_then_registration_order() -> None:
    models = registry()
    handlers = {name: answering(name) for name in ("low", "high-1", "high-2", "low-2", "mid")}
    models.register_model("TEXT_LARGE", handlers["low"], "low", 0)
    models.register_model("TEXT_LARGE", handlers["high-1"], "high-1", 10)
    models.register_model("TEXT_LARGE", handlers["high-2"], "high-2", 10)
    models.register_model("TEXT_LARGE", handlers["low-2"], "low-2")
    models.register_model("TEXT_LARGE", handlers["mid"], "mid", 5)

    order = [c.provider for c in models.candidates("TEXT_LARGE")]
    assert order == ["high-1", "high-2", "mid", "low", "low-2"]
    assert models.get_model("TEXT_LARGE") is handlers["high-1"]
    assert models.get_model("TEXT_LARGE", "low-2") is handlers["low-2"]
    assert models.get_model("TEXT_LARGE", "nobody") is None
    assert models.get_model("TEXT_SMALL") is None


def stopwatch(monkeypatch: pytest.MonkeyPatch, module: str, *readings: float) -> None:
    """Give `module` a clock whose perf_counter returns `readings` in turn (and monotonic as
    usual), so a measured duration is known exactly."""
    ticks = iter(readings)
    clock = SimpleNamespace(perf_counter=lambda: next(ticks), monotonic=time.monotonic)
    monkeypatch.setattr(f"{module}.time", clock)


async def test_use_model_calls_the_best_handler_with_runtime_and_params(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stopwatch(monkeypatch, "shared.runtime.model_registry", 10.0, 10.25)
    sink = ListSink()
    seen: list[tuple[Any, dict[str, Any]]] = []
    runtime: Any = object()

    async def best(rt: Runtime, params: dict[str, Any]) -> str:
        seen.append((rt, params))
        return "from best"

    models = ModelRegistry(runtime, sink, agent_id=AGENT)
    models.register_model("TEXT_SMALL", answering("from worse"), "worse", 1)
    models.register_model("TEXT_SMALL", best, "best", 2)
    run_id = uuid.uuid4()
    with in_run(run_id):
        assert await models.use_model("TEXT_SMALL", {"prompt": "hi"}) == "from best"

    assert seen == [(runtime, {"prompt": "hi"})]
    [used] = sink.recorded
    assert isinstance(used, ModelUsed)
    assert (used.provider, used.model_type, used.run_id, used.agent_id) == (
        "best", "TEXT_SMALL", run_id, AGENT,
    )  # fmt: skip
    assert used.params == {"prompt": "hi"} and used.response == "from best"
    assert used.duration_ms == 250.0 and used.action_context is None


async def test_provider_filter_uses_only_that_provider() -> None:
    sink = ListSink()
    calls: list[str] = []
    models = registry(sink)
    models.register_model("TEXT_LARGE", answering("A", calls, "a"), "a", 10)
    models.register_model("TEXT_LARGE", answering("B", calls, "b"), "b", 1)

    assert await models.use_model("TEXT_LARGE", {"prompt": "x"}, provider="b") == "B"
    assert calls == ["b"]
    assert [e.provider for e in sink.recorded if isinstance(e, ModelUsed)] == ["b"]

    with pytest.raises(NoModelHandlerError, match=r"TEXT_LARGE from provider 'c'"):
        await models.use_model("TEXT_LARGE", {"prompt": "x"}, provider="c")


async def test_failover_records_model_failed_and_uses_the_next() -> None:
    sink = ListSink()
    calls: list[str] = []
    models = registry(sink)
    models.register_model("TEXT_LARGE", failing(RuntimeError("boom"), calls, "first"), "first", 3)
    models.register_model(
        "TEXT_LARGE", failing(ModelError("quota exceeded: wait"), calls, "second"), "second", 2
    )
    models.register_model("TEXT_LARGE", answering("ok", calls, "third"), "third", 1)
    run_id = uuid.uuid4()
    with in_run(run_id):
        assert await models.use_model("TEXT_LARGE", {"prompt": "p"}) == "ok"

    assert calls == ["first", "second", "third"]
    first, second, used = sink.recorded
    assert isinstance(first, ModelFailed) and isinstance(second, ModelFailed)
    assert (first.provider, first.error) == ("first", "RuntimeError: boom")
    assert (second.provider, second.error) == ("second", "quota exceeded: wait")
    assert first.run_id == second.run_id == run_id and first.model_type == "TEXT_LARGE"
    assert isinstance(used, ModelUsed) and used.provider == "third" and used.run_id == run_id


async def test_a_handler_that_hangs_times_out_and_fails_over() -> None:
    sink = ListSink()
    never = asyncio.Event()

    async def hangs(runtime: Runtime, params: dict[str, Any]) -> Any:
        await never.wait()

    models = registry(sink, timeout=0.05)
    models.register_model("TEXT_SMALL", hangs, "stuck", 1)
    models.register_model("TEXT_SMALL", answering("fine"), "spare", 0)

    assert await models.use_model("TEXT_SMALL", {"prompt": "p"}) == "fine"
    failed, used = sink.recorded
    assert isinstance(failed, ModelFailed) and failed.provider == "stuck"
    assert "no result within 0.05s" in failed.error
    assert isinstance(used, ModelUsed) and used.provider == "spare"


async def test_all_failing_raises_model_error_listing_each_provider() -> None:
    sink = ListSink()
    models = registry(sink)
    models.register_model("TEXT_SMALL", failing(ValueError("bad key")), "alpha", 2)
    models.register_model("TEXT_SMALL", failing(ModelError("down: retry later")), "beta", 1)

    with pytest.raises(ModelError) as raised:
        await models.use_model("TEXT_SMALL", {"prompt": "p"})
    assert not isinstance(raised.value, NoModelHandlerError)
    message = str(raised.value)
    assert "every provider of TEXT_SMALL failed" in message
    assert "alpha: ValueError: bad key" in message and "beta: down: retry later" in message
    assert [(type(e), getattr(e, "provider", None)) for e in sink.recorded] == [
        (ModelFailed, "alpha"),
        (ModelFailed, "beta"),
    ]
    # an ExceptionGroup of what each candidate raised, in the order they were tried
    assert isinstance(raised.value, AllModelsFailedError)
    assert [str(e) for e in raised.value.exceptions] == ["bad key", "down: retry later"]
    assert [type(e) for e in raised.value.exceptions] == [ValueError, ModelError]


async def test_no_handler_is_no_model_handler_error_and_records_nothing() -> None:
    sink = ListSink()
    models = registry(sink)
    models.register_model("TEXT_SMALL", answering("x"), "small-only")
    with pytest.raises(NoModelHandlerError, match=r"no model handler for TEXT_LARGE.*worker model"):
        await models.use_model("TEXT_LARGE", {"prompt": "p"})
    assert sink.recorded == []


async def test_embeddings_in_the_response_are_logged_as_array() -> None:
    sink = ListSink()
    models = registry(sink)
    vector = [0.25, -1.0, 3]
    models.register_model("TEXT_EMBEDDING", answering(vector), "embedder")
    models.register_model("TEXT_TOKENIZER_DECODE", answering(["a", "b"]), "tok")

    assert await models.use_model("TEXT_EMBEDDING", {"text": "hello"}) == vector
    assert await models.use_model("TEXT_TOKENIZER_DECODE", {"tokens": [1, 2]}) == ["a", "b"]
    embedded, decoded = sink.recorded
    assert isinstance(embedded, ModelUsed) and isinstance(decoded, ModelUsed)
    assert embedded.response == "[array]" and embedded.params == {"text": "hello"}
    assert decoded.response == ["a", "b"] and decoded.params == {"tokens": [1, 2]}
    # the recorded events serialise: nothing unloggable slipped in
    assert embedded.model_dump(mode="json")["response"] == "[array]"


def test_redaction_and_loggable_values() -> None:
    assert redact_response([]) == "[array]"
    assert redact_response([True, False]) == [True, False]
    assert redact_response({"embedding": [1.0]}) == {"embedding": [1.0]}
    some_id = uuid.uuid4()
    assert loggable({"id": some_id, "runtime": object(), "n": (1, 2)}) == {
        "id": str(some_id),
        "n": [1, 2],
    }


async def test_prompts_go_into_the_action_context_once() -> None:
    sink = ListSink()
    models = registry(sink)
    models.register_model("TEXT_LARGE", failing(RuntimeError("flaky")), "flaky", 1)
    models.register_model("TEXT_LARGE", answering("<response/>"), "steady", 0)
    models.register_model("TEXT_EMBEDDING", answering([0.0]), "embedder")
    action = ActionContext(action_name="REPLY", action_id=uuid.uuid4())

    with in_action(action):
        await models.use_model("TEXT_LARGE", {"prompt": "say hi", "temperature": 0.2})
        await models.use_model("TEXT_EMBEDDING", {"text": "no prompt here"})

    assert [(p["modelType"], p["prompt"]) for p in action.prompts] == [("TEXT_LARGE", "say hi")]
    used = [e for e in sink.recorded if isinstance(e, ModelUsed)]
    assert used[0].action_context is not None
    assert used[0].action_context["actionName"] == "REPLY"
    assert used[0].action_context["actionId"] == str(action.action_id)
    assert [p["prompt"] for p in used[0].action_context["prompts"]] == ["say hi"]


async def test_remote_entries_are_ignored_until_started() -> None:
    models = registry()
    models.apply_announcement(
        "TEXT_LARGE.remote.w1",
        b'{"model_type": "TEXT_LARGE", "provider": "remote", "priority": 9,'
        b' "worker_id": "w1", "heartbeat_at": 0}',
    )
    models.apply_announcement("TEXT_LARGE.junk.w2", b"not json")
    with pytest.raises(NoModelHandlerError):
        await models.use_model("TEXT_LARGE", {"prompt": "p"})
    assert models.get_model("TEXT_LARGE") is None


def announcement(worker_id: str) -> bytes:
    """A TEXT_LARGE announcement of provider `remote` by worker `worker_id`."""
    return (
        b'{"model_type": "TEXT_LARGE", "provider": "remote", "priority": 0,'
        b' "worker_id": "' + worker_id.encode() + b'", "heartbeat_at": 0}'
    )


def test_the_view_of_remote_workers_is_bounded() -> None:
    models = ModelRegistry(None, ListSink(), max_remote=3)
    for n in range(10):  # a worker restarting under a new id each time
        models.apply_announcement(f"TEXT_LARGE.remote.w{n}", announcement(f"w{n}"))
    assert models.remote_worker_count == 3
    models.apply_announcement("TEXT_LARGE.remote.w9", announcement("w9"))  # a heartbeat
    assert models.remote_worker_count == 3


def test_workers_past_the_ttl_are_forgotten_when_a_new_one_announces() -> None:
    models = ModelRegistry(None, ListSink(), ttl=3600.0)
    models.apply_announcement("TEXT_LARGE.remote.old", announcement("old"))
    models.ttl = -1.0  # every worker heard from so far is now past it
    models.apply_announcement("TEXT_LARGE.remote.new", announcement("new"))
    assert models.remote_worker_count == 0


def test_worker_name_and_priority_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ELIZABUS_MODEL_PROVIDER_NAME", raising=False)
    monkeypatch.delenv("ELIZABUS_MODEL_PRIORITY", raising=False)
    plain = Settings(nats_url="nats://127.0.0.1:1")
    assert worker_provider_name(plain, ScriptedModel()) == "scripted"
    assert worker_priority(plain) == 0

    monkeypatch.setenv("ELIZABUS_MODEL_PROVIDER_NAME", "gpu box.1")
    monkeypatch.setenv("ELIZABUS_MODEL_PRIORITY", "7")
    named = Settings(nats_url="nats://127.0.0.1:1")
    assert worker_provider_name(named, ScriptedModel()) == "gpu_box_1"
    assert worker_priority(named) == 7

    monkeypatch.setenv("ELIZABUS_MODEL_PRIORITY", "high")
    with pytest.raises((ConfigurationError, ValidationError), match="integer"):
        worker_priority(Settings(nats_url="nats://127.0.0.1:1"))


def test_announcement_keys_and_subjects_are_safe_tokens() -> None:
    assert announcement_key("TEXT_LARGE", "gpu box.1", "host.a-1") == (
        "TEXT_LARGE.gpu_box_1.host_a-1"
    )
    assert subjects.model_provider("TEXT_LARGE", "gpu box") == "model.TEXT_LARGE.gpu_box"
    announcer = Announcer(["TEXT_SMALL", "TEXT_EMBEDDING"], "my.provider", 4, worker_id="w.1")
    assert announcer.keys == ["TEXT_EMBEDDING.my_provider.w_1", "TEXT_SMALL.my_provider.w_1"]
    entry = announcer.announcement("TEXT_SMALL")
    assert (entry.provider, entry.priority, entry.worker_id) == ("my_provider", 4, "w_1")
    assert announcer.ttl == 3 * announcer.heartbeat
