"""EvaluatorRunner: selection (did_respond, always_run, validate), concurrency, isolation."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from shared.events import EvaluatorExecuted
from shared.plugin import ActionResult, Evaluator, Memory, State
from shared.runtime.evaluators import EvaluatorRunner
from shared.runtime.run_scope import in_run
from shared.testing import ListSink
from tests.unit.test_actions import AGENT, ROOM, FakeRuntime, message


async def yes(runtime: Any, msg: Memory, state: State | None) -> bool:
    return True


async def no(runtime: Any, msg: Memory, state: State | None) -> bool:
    return False


class Harness:
    """A runner wired to doubles; evaluators append their names to `ran` when they run."""

    def __init__(self) -> None:
        self.evaluators: list[Evaluator] = []
        self.sink = ListSink()
        self.emitted: list[tuple[str, dict[str, Any]]] = []
        self.ran: list[str] = []
        self.runner = EvaluatorRunner(FakeRuntime(), self.evaluators, self.sink, self.emit)

    async def emit(self, name: str, params: dict[str, Any]) -> None:
        self.emitted.append((name, params))

    def add(
        self,
        name: str,
        validate: Any = yes,
        always_run: bool = False,
        fail: bool = False,
        result: ActionResult | None = None,
    ) -> Evaluator:
        async def handler(*args: Any) -> ActionResult | None:
            self.ran.append(name)
            if fail:
                raise ValueError(f"{name} cannot evaluate")
            return result

        evaluator = Evaluator(name=name, handler=handler, validate=validate, always_run=always_run)
        self.evaluators.append(evaluator)
        return evaluator

    def executed(self) -> list[EvaluatorExecuted]:
        return [e for e in self.sink.recorded if isinstance(e, EvaluatorExecuted)]


async def test_after_a_response_validated_evaluators_run() -> None:
    h = Harness()
    facts = h.add("FACTS", result=ActionResult(text="2 facts", values={"facts": 2}))
    h.add("DECLINES", validate=no)
    always = h.add("ALWAYS", always_run=True)
    run_id = uuid.uuid4()
    msg = message()
    with in_run(run_id):
        ran = await h.runner.evaluate(msg, State(), did_respond=True)
    assert ran == [facts, always]
    assert sorted(h.ran) == ["ALWAYS", "FACTS"]
    events = h.executed()
    assert [e.evaluator_name for e in events] == ["FACTS", "ALWAYS"]  # registration order
    assert all(e.status == "completed" and e.run_id == run_id for e in events)
    assert events[0].message_id == msg.id and events[0].room_id == ROOM
    assert events[0].agent_id == AGENT
    assert events[0].result is not None and events[0].result["values"] == {"facts": 2}
    assert events[1].result is None
    names = [name for name, _ in h.emitted]
    assert names.count("EVALUATOR_STARTED") == 2 and names.count("EVALUATOR_COMPLETED") == 2


async def test_without_a_response_only_always_run_evaluators_run_and_still_validate() -> None:
    h = Harness()
    h.add("FACTS")
    always = h.add("ALWAYS", always_run=True)
    h.add("ALWAYS_BUT_DECLINES", always_run=True, validate=no)
    assert await h.runner.evaluate(message(), None, did_respond=False) == [always]
    assert h.ran == ["ALWAYS"]


async def test_one_failure_is_isolated_and_recorded() -> None:
    h = Harness()
    h.add("BROKEN", fail=True)
    h.add("FINE")

    async def validate_raises(runtime: Any, msg: Memory, state: State | None) -> bool:
        raise KeyError("missing setting")

    h.add("BAD_VALIDATE", validate=validate_raises)
    ran = await h.runner.evaluate(message(), State(), did_respond=True)
    assert [e.name for e in ran] == ["BROKEN", "FINE"]  # both ran; one failed
    by_name = {e.evaluator_name: e for e in h.executed()}
    assert by_name["BROKEN"].status == "failed"
    assert by_name["BROKEN"].error == "ValueError: BROKEN cannot evaluate"
    assert by_name["FINE"].status == "completed"
    assert by_name["BAD_VALIDATE"].status == "failed"
    assert "validate raised KeyError" in (by_name["BAD_VALIDATE"].error or "")
    completed = [p for name, p in h.emitted if name == "EVALUATOR_COMPLETED"]
    assert {p["evaluatorName"]: p["completed"] for p in completed} == {
        "BROKEN": False,
        "FINE": True,
    }


async def test_evaluators_run_concurrently() -> None:
    """Each waits for the other to start: this only finishes if they run at the same time."""
    h = Harness()
    started = {name: asyncio.Event() for name in ("A", "B")}

    def waiting(me: str, other: str) -> Evaluator:
        async def handler(*args: Any) -> None:
            started[me].set()
            await started[other].wait()

        return Evaluator(name=me, handler=handler)

    h.evaluators += [waiting("A", "B"), waiting("B", "A")]
    ran = await asyncio.wait_for(h.runner.evaluate(message(), None, did_respond=True), 10)
    assert [e.name for e in ran] == ["A", "B"]


async def test_handlers_get_the_composed_state_when_a_composer_is_injected() -> None:
    h = Harness()
    seen: list[State | None] = []

    async def handler(runtime: Any, msg: Memory, state: State | None, *rest: Any) -> None:
        seen.append(state)

    async def compose(msg: Memory) -> State:
        return State(text="recent messages and evaluators")

    h.evaluators.append(Evaluator(name="E", handler=handler))
    h.runner.compose_state = compose
    await h.runner.evaluate(message(), State(text="response state"), did_respond=True)
    assert [s.text if s else None for s in seen] == ["recent messages and evaluators"]


async def test_nothing_selected_records_nothing() -> None:
    h = Harness()
    h.add("FACTS")
    assert await h.runner.evaluate(message(), None, did_respond=False) == []
    assert h.sink.recorded == [] and h.emitted == []
