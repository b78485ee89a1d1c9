"""Circuit breakers of model candidates: when one opens, what it reorders, the half-open probe;
and the registry putting a failing in-process handler behind the healthy one."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.errors import ModelError, ModelRejectedError
from shared.events import ModelFailed, ModelUsed
from shared.plugin import Runtime
from shared.runtime.model_breaker import BreakerPolicy, Breakers
from shared.runtime.model_registry import ModelCallPolicy, ModelRegistry
from shared.testing import ListSink

AGENT = uuid.UUID("00000000-0000-4000-8000-00000000b7ea")


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breakers(failures: int = 3, window: int = 6, cooldown: float = 30.0) -> tuple[Breakers, Clock]:
    clock = Clock()
    return Breakers(BreakerPolicy(failures, window, cooldown), clock=clock), clock


def test_it_opens_on_failures_within_the_window_and_reorders_only_then() -> None:
    b, _ = breakers()
    for ok in (False, True, False):
        b.record("a", ok)
    assert b.order(["a", "b"], str) == ["a", "b"]  # 2 failures of 3: still closed
    b.record("a", False)
    assert b.is_open("a")
    assert b.order(["a", "b", "c"], str) == ["b", "c", "a"]  # behind, not removed


def test_failures_that_left_the_window_do_not_count() -> None:
    b, _ = breakers(failures=3, window=4)
    for ok in (False, False, True, True, True, False):  # the first two slid out
        b.record("a", ok)
    assert not b.is_open("a")


def test_a_provider_failing_every_other_call_opens_it() -> None:
    b, _ = breakers()
    for ok in (True, False, True, False, True, False):
        b.record("a", ok)
    assert b.is_open("a")


def test_window_equal_to_failures_is_n_in_a_row() -> None:
    b, _ = breakers(failures=2, window=2)
    for ok in (False, True, False):
        b.record("a", ok)
    assert not b.is_open("a")
    b.record("a", False)
    assert b.is_open("a")


def test_after_the_cooldown_one_call_probes_and_its_outcome_decides() -> None:
    b, clock = breakers(failures=1, window=1, cooldown=30.0)
    b.record("a", False)
    assert b.is_open("a")
    clock.now += 29.0
    assert b.is_open("a")
    clock.now += 1.0
    assert not b.is_open("a")  # the next call tries it in its usual place...
    b.start_attempt("a")
    assert b.is_open("a")  # ...and meanwhile the others keep it at the back
    b.record("a", False)  # the probe failed: open for another cooldown
    assert b.is_open("a")
    clock.now += 30.0
    b.start_attempt("a")
    b.record("a", True)  # the probe answered: closed, its history forgotten
    assert not b.is_open("a")
    assert b.breaker("a").opened == 2


def test_an_abandoned_probe_lets_the_next_call_probe() -> None:
    b, clock = breakers(failures=1, window=1, cooldown=5.0)
    b.record("a", False)
    clock.now += 5.0
    b.start_attempt("a")
    assert b.is_open("a")
    b.abandon("a")  # the probing call was cancelled
    assert not b.is_open("a")


def test_a_failure_while_open_but_before_the_cooldown_does_not_extend_it() -> None:
    b, clock = breakers(failures=1, window=1, cooldown=10.0)
    b.record("a", False)
    clock.now += 6.0
    b.record("a", False)  # tried anyway (every healthy one failed): no new cooldown
    clock.now += 4.0
    assert not b.is_open("a")


def test_a_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="failures <= window"):
        BreakerPolicy(failures=4, window=3)


async def test_the_registry_tries_a_failing_handler_last_once_its_breaker_opened() -> None:
    calls: list[str] = []

    async def broken(runtime: Runtime, params: dict[str, Any]) -> Any:
        calls.append("broken")
        raise ModelError("upstream 503: try later")

    async def healthy(runtime: Runtime, params: dict[str, Any]) -> Any:
        calls.append("healthy")
        return "ok"

    sink = ListSink()
    policy = ModelCallPolicy(breaker=BreakerPolicy(failures=2, window=2, cooldown=600.0))
    models = ModelRegistry(None, sink, agent_id=AGENT, policy=policy)
    models.register_model("TEXT_LARGE", broken, "broken", 10)
    models.register_model("TEXT_LARGE", healthy, "healthy", 0)

    for _ in range(5):
        assert await models.use_model("TEXT_LARGE", {"prompt": "p"}) == "ok"

    assert calls == ["broken", "healthy", "broken", "healthy", "healthy", "healthy", "healthy"]
    assert [e.provider for e in sink.recorded if isinstance(e, ModelFailed)] == ["broken"] * 2
    assert [e.provider for e in sink.recorded if isinstance(e, ModelUsed)] == ["healthy"] * 5


async def test_when_every_candidate_is_open_they_are_still_tried() -> None:
    answers = iter([ModelError("down"), ModelError("down"), "back"])

    async def flaky(runtime: Runtime, params: dict[str, Any]) -> Any:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    policy = ModelCallPolicy(breaker=BreakerPolicy(failures=2, window=2, cooldown=600.0))
    models = ModelRegistry(None, ListSink(), agent_id=AGENT, policy=policy)
    models.register_model("TEXT_LARGE", flaky, "only", 0)
    for _ in range(2):
        with pytest.raises(ModelError, match="down"):
            await models.use_model("TEXT_LARGE", {"prompt": "p"})
    assert models.breakers.is_open(models.candidates("TEXT_LARGE")[0].breaker_key)
    assert await models.use_model("TEXT_LARGE", {"prompt": "p"}) == "back"
    assert not models.breakers.is_open(models.candidates("TEXT_LARGE")[0].breaker_key)


async def test_a_refused_request_does_not_count_against_the_provider() -> None:
    async def refusing(runtime: Runtime, params: dict[str, Any]) -> Any:
        raise ModelRejectedError("400: context too long: send a shorter prompt")

    policy = ModelCallPolicy(breaker=BreakerPolicy(failures=1, window=1, cooldown=600.0))
    models = ModelRegistry(None, ListSink(), agent_id=AGENT, policy=policy)
    models.register_model("TEXT_LARGE", refusing, "strict", 0)
    for _ in range(3):
        with pytest.raises(ModelError, match="context too long"):
            await models.use_model("TEXT_LARGE", {"prompt": "p"})
    assert not models.breakers.is_open(models.candidates("TEXT_LARGE")[0].breaker_key)
