"""Evaluators: what runs after a response to learn from it (ElizaOS's `runtime.evaluate`).

Selection follows ElizaOS's runtime: when the agent did not respond only `always_run` evaluators
are considered, and every considered evaluator must pass its `validate` (`always_run` lifts the
did-not-respond gate, not validation). The selected evaluators run concurrently; one that raises is
logged and recorded as failed and does not stop the others. Each gets an `evaluator.executed`
event, recorded in registration order after all have finished so a run's log reads the same on
every replay, and EVALUATOR_STARTED / EVALUATOR_COMPLETED are emitted around each handler.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from shared.events import EvaluatorExecuted, now_ms
from shared.json_safe import json_safe
from shared.plugin import ActionResult, Evaluator, HandlerCallback, Memory, Runtime, State
from shared.runtime.actions import EmitFn, no_emit
from shared.runtime.event_bus import EventType
from shared.runtime.run_scope import current_run_id
from shared.runtime.sinks import EventSink

log = logging.getLogger(__name__)

__all__ = ["ComposeStateFn", "EvaluatorOutcome", "EvaluatorRunner"]

ComposeStateFn = Callable[[Memory], Awaitable[State]]
"""Composes the state evaluator handlers see (ElizaOS: RECENT_MESSAGES and EVALUATORS)."""


@dataclass
class EvaluatorOutcome:
    """How one evaluator went: its status, its result as JSON data, or its error."""

    evaluator: Evaluator
    status: Literal["completed", "failed"]
    result: dict[str, Any] | None = None
    error: str | None = None


def _result_data(raw: object) -> dict[str, Any] | None:
    """An evaluator handler's return value as JSON data for its event (None when it gave none)."""
    if raw is None:
        return None
    if isinstance(raw, ActionResult):
        data = json_safe(dataclasses.asdict(raw))
    else:
        data = {"result": json_safe(raw)}
    return data if isinstance(data, dict) else {"result": data}


class EvaluatorRunner:
    """Selects and runs the runtime's evaluators after a message was handled.

    `evaluators` is the runtime's live list; `sink` records `evaluator.executed`; `emit` emits
    EVALUATOR_STARTED / EVALUATOR_COMPLETED; `compose_state`, when given, builds the state the
    handlers receive (as ElizaOS recomposes it before running them), else they get `state`.
    """

    def __init__(
        self,
        runtime: Runtime,
        evaluators: list[Evaluator],
        sink: EventSink,
        emit: EmitFn = no_emit,
        compose_state: ComposeStateFn | None = None,
    ) -> None:
        self.runtime = runtime
        self.evaluators = evaluators
        self.sink = sink
        self.emit = emit
        self.compose_state = compose_state

    async def select(
        self, message: Memory, state: State | None, did_respond: bool
    ) -> list[Evaluator]:
        """The evaluators to run, in registration order (validates concurrently).

        A `validate` that raises counts as declined; it is logged and recorded as failed.
        """
        candidates = [e for e in self.evaluators if did_respond or e.always_run]
        verdicts = await asyncio.gather(*(self._validate(e, message, state) for e in candidates))
        return [e for e, ok in zip(candidates, verdicts, strict=True) if ok]

    async def evaluate(
        self,
        message: Memory,
        state: State | None,
        did_respond: bool,
        callback: HandlerCallback | None = None,
        responses: list[Memory] | None = None,
    ) -> list[Evaluator]:
        """Run the selected evaluators concurrently; returns every one that ran, failed or not."""
        selected = await self.select(message, state, did_respond)
        if not selected:
            return []
        handler_state = await self._handler_state(message, state)
        outcomes = await asyncio.gather(
            *(
                self._run(e, message, handler_state, callback, list(responses or []))
                for e in selected
            )
        )
        for outcome in outcomes:
            await self._record(message, outcome)
        return selected

    async def _validate(self, evaluator: Evaluator, message: Memory, state: State | None) -> bool:
        """Whether `evaluator` applies; a raising `validate` is recorded and means no."""
        try:
            return bool(await evaluator.validate(self.runtime, message, state))
        except Exception as exc:
            log.exception("validate of evaluator %s raised: not run", evaluator.name)
            error = f"validate raised {type(exc).__name__}: {exc}"
            await self._record(message, EvaluatorOutcome(evaluator, "failed", None, error))
            return False

    async def _handler_state(self, message: Memory, state: State | None) -> State | None:
        """The state handlers get: freshly composed when a composer is injected."""
        if self.compose_state is None:
            return state
        try:
            return await self.compose_state(message)
        except Exception:
            log.exception("composing the evaluators' state failed; they get the response state")
            return state

    async def _run(
        self,
        evaluator: Evaluator,
        message: Memory,
        state: State | None,
        callback: HandlerCallback | None,
        responses: list[Memory],
    ) -> EvaluatorOutcome:
        """Run one handler, isolated: its error becomes a failed outcome, never an exception."""
        evaluator_id = uuid.uuid4()
        await self._emit(EventType.EVALUATOR_STARTED, evaluator, evaluator_id, message, {})
        try:
            raw = await evaluator.handler(self.runtime, message, state, {}, callback, responses)
        except Exception as exc:
            log.exception("evaluator %s failed", evaluator.name)
            outcome = EvaluatorOutcome(evaluator, "failed", None, f"{type(exc).__name__}: {exc}")
        else:
            outcome = EvaluatorOutcome(evaluator, "completed", _result_data(raw))
        extra = {"completed": outcome.status == "completed", "error": outcome.error}
        await self._emit(EventType.EVALUATOR_COMPLETED, evaluator, evaluator_id, message, extra)
        return outcome

    async def _record(self, message: Memory, outcome: EvaluatorOutcome) -> None:
        """Record the `evaluator.executed` event of one evaluator."""
        await self.sink.record(
            EvaluatorExecuted(
                agent_id=self.runtime.agent_id,
                room_id=message.room_id,
                run_id=current_run_id(),
                message_id=message.id,
                evaluator_name=outcome.evaluator.name,
                status=outcome.status,
                result=outcome.result,
                error=outcome.error,
                at=now_ms(),
            )
        )

    async def _emit(
        self,
        name: str,
        evaluator: Evaluator,
        evaluator_id: uuid.UUID,
        message: Memory,
        extra: dict[str, Any],
    ) -> None:
        """Emit an evaluator event; an emitter that raises is logged, never fails the evaluator."""
        run_id = current_run_id()
        params: dict[str, Any] = {
            "evaluatorId": str(evaluator_id),
            "evaluatorName": evaluator.name,
            "messageId": str(message.id),
            "roomId": str(message.room_id),
            "runId": str(run_id) if run_id else None,
            **extra,
        }
        try:
            await self.emit(name, params)
        except Exception:
            log.exception("emitting %s failed; the evaluator goes on", name)
