"""Action dispatch: ElizaOS's `findAction` and `processActions`, with every execution recorded.

For each action name the model chose, the dispatcher finds the action (exact name, then partial
name, then similes), honours its `validate`, runs its handler inside an `ActionContext` (so model
calls made by the handler collect their prompts), records an `action.executed` event and emits
ACTION_STARTED / ACTION_COMPLETED. As in ElizaOS 1.x, every action leaves an `action_result`
memory in the message's room (completed or failed); a handler that raises is recorded as failed
and the next actions still run (only a critical error, `critical = True` or `code ==
"CRITICAL_ERROR"`, stops them and is raised); the results are kept for
`get_action_results(message_id)`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

from shared.events import ActionExecuted, now_ms
from shared.json_safe import json_safe
from shared.plugin import Action, ActionResult, HandlerCallback, Memory, Runtime, State
from shared.runtime.event_bus import EventType
from shared.runtime.run_scope import ActionContext, current_run_id, in_action
from shared.runtime.sinks import EventSink

log = logging.getLogger(__name__)

__all__ = [
    "ActionDispatcher",
    "CreateMemoryFn",
    "EmitFn",
    "KeepResultsFn",
    "as_action_result",
    "find_action",
    "is_critical",
    "no_emit",
    "no_keep",
    "normalize_action_name",
    "result_dict",
]

EmitFn = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Emits a runtime event by name with params (the runtime's `emit_event`)."""

CreateMemoryFn = Callable[[Memory], Awaitable[None]]
"""Stores a memory in the `messages` table (the runtime's `create_memory`)."""

KeepResultsFn = Callable[[uuid.UUID, list[ActionResult]], None]
"""Keeps a message's action results for `get_action_results` (the runtime's state cache)."""

_STARTED = object()
"""`_params`'s marker for ACTION_STARTED (no result yet)."""


async def no_emit(name: str, params: dict[str, Any]) -> None:
    """An `emit` that drops every event: for components used without an event system."""


def no_keep(message_id: uuid.UUID, results: list[ActionResult]) -> None:
    """A `keep_results` that keeps nothing: for components used without a state cache."""


def normalize_action_name(name: str) -> str:
    """An action name as compared when matching: lower case, every underscore removed (as
    ElizaOS 1.x's `normalizeAction`: `.toLowerCase().replace(/_/g, '')`)."""
    return name.lower().replace("_", "")


def is_critical(exc: BaseException) -> bool:
    """Whether an action's error must stop the run (ElizaOS: `error.critical` or
    `error.code === 'CRITICAL_ERROR'`); any other error is recorded and the next action runs."""
    return bool(getattr(exc, "critical", False)) or getattr(exc, "code", None) == "CRITICAL_ERROR"


def _partial(a: str, b: str) -> bool:
    """Whether either normalised name contains the other (ElizaOS's partial match)."""
    return bool(a) and bool(b) and (a in b or b in a)


def find_action(actions: Sequence[Action], name: str) -> Action | None:
    """The action the model meant by `name`, or None.

    In ElizaOS's order of preference: an exact normalised name; else a name containing the wanted
    one or contained in it; else an action with such a simile. Within each step, registration
    order breaks ties. Empty names match nothing (an empty string is inside every name).
    """
    wanted = normalize_action_name(name)
    if not wanted:
        return None
    for action in actions:
        if normalize_action_name(action.name) == wanted:
            return action
    for action in actions:
        if _partial(normalize_action_name(action.name), wanted):
            return action
    for action in actions:
        if any(_partial(normalize_action_name(s), wanted) for s in action.similes):
            return action
    return None


def as_action_result(name: str, raw: object) -> ActionResult | None:
    """A handler's return value as ElizaOS's `processActions` reads it.

    None or a bool (a legacy return) is no ActionResult: None. An ActionResult is kept; a mapping
    with `values`, `data` or `text` becomes one (`success` defaults to True); any other value is
    a success whose `data` is `{"actionName": name, "legacyResult": value}`.
    """
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, ActionResult):
        return raw
    if isinstance(raw, Mapping) and any(k in raw for k in ("values", "data", "text")):
        return ActionResult(
            success=bool(raw.get("success", True)),
            text=raw.get("text"),
            values=dict(raw.get("values") or {}),
            data=dict(raw.get("data") or {}),
            error=str(raw["error"]) if raw.get("error") is not None else None,
        )
    return ActionResult(success=True, data={"actionName": name, "legacyResult": raw})


def result_dict(result: ActionResult) -> dict[str, Any]:
    """An ActionResult as ElizaOS stores it in a memory's content (JSON-safe)."""
    body: dict[str, Any] = {"success": result.success}
    for key in ("text", "values", "data", "error"):
        value = getattr(result, key)
        if value:
            body[key] = json_safe(value)
    return body


class ActionDispatcher:
    """Runs the actions named in response memories (ElizaOS's `processActions`).

    Collaborators are injected: `runtime` is what handlers receive; `actions` is the runtime's
    live list (actions registered later are found too); `sink` records `action.executed`;
    `emit` emits ACTION_STARTED / ACTION_COMPLETED; `create_memory` stores the `action_result`
    memories; `keep_results` keeps each message's results for `get_action_results`.
    """

    def __init__(
        self,
        runtime: Runtime,
        actions: list[Action],
        sink: EventSink,
        create_memory: CreateMemoryFn,
        emit: EmitFn = no_emit,
        keep_results: KeepResultsFn = no_keep,
    ) -> None:
        self.runtime = runtime
        self.actions = actions
        self.sink = sink
        self.create_memory = create_memory
        self.emit = emit
        self.keep_results = keep_results

    def find(self, name: str) -> Action | None:
        """The registered action `name` refers to (see `find_action`)."""
        return find_action(self.actions, name)

    async def process_actions(
        self,
        message: Memory,
        responses: list[Memory],
        state: State | None = None,
        callback: HandlerCallback | None = None,
    ) -> list[ActionResult]:
        """Run every action named in `responses[*].content["actions"]`, in order.

        As ElizaOS 1.x: a name that matches no action and a handler that raises each leave a
        failed `action_result` memory, and the next action runs; a critical error
        (`is_critical`) is raised once its memory is stored. A completed action leaves an
        `action_result` memory too. The ActionResults (what a handler returned, or the failure
        of one that raised; a legacy None/bool return gives none) are appended to
        `state.data["actionResults"]`, their `values` merged into `state.values`, kept for
        `get_action_results(message.id)`, and returned. An action whose `validate` declines is
        recorded as skipped (elizabus honours `validate`) and gives a failed result with
        `data["skipped"]`.
        """
        results: list[ActionResult] = []
        try:
            for response in responses:
                names = response.content.get("actions") or []
                if not isinstance(names, list) or not names:
                    continue
                for name in names:
                    result = await self._one(str(name), message, responses, state, callback)
                    if result is None:
                        continue
                    results.append(result)
                    if state is not None:  # later actions (and ACTION_STATE) see what ran before
                        state.data.setdefault("actionResults", []).append(result)
                        state.values.update(result.values)
        finally:
            self.keep_results(message.id, list(results))
        return results

    async def _one(
        self,
        name: str,
        message: Memory,
        responses: list[Memory],
        state: State | None,
        callback: HandlerCallback | None,
    ) -> ActionResult | None:
        """Find and run one named action: its result, or None (no such action, legacy return)."""
        action = self.find(name)
        if action is None:
            error = f"No action found for: {name}"
            log.warning(
                "action %r chosen by the model is not registered (registered: %s)",
                name,
                ", ".join(a.name for a in self.actions) or "none",
            )
            await self._store_result_memory(
                message,
                entity_id=message.entity_id,  # ElizaOS attributes this one to the sender
                content={"thought": error, "source": "auto", "actionName": name,
                         "actionStatus": "failed"},
                metadata=None,
            )  # fmt: skip
            return None
        skipped = await self._declined(action, message, state)
        if skipped is not None:
            return skipped
        return await self._run(action, message, responses, state, callback)

    async def _declined(
        self, action: Action, message: Memory, state: State | None
    ) -> ActionResult | None:
        """None when `validate` accepts the message; else the skipped result to report."""
        try:
            valid = await action.validate(self.runtime, message, state)
        except Exception as exc:
            log.exception("validate of action %s raised: action skipped", action.name)
            reason = f"validate raised {type(exc).__name__}: {exc}"
        else:
            if valid:
                return None
            reason = "validate returned False for this message"
        log.info("action %s skipped: %s", action.name, reason)
        context = ActionContext(action.name, uuid.uuid4(), [])
        await self._record(action, context, message, "skipped", reason)
        return ActionResult(
            success=False,
            error=f"action {action.name} skipped: {reason}",
            data={"actionName": action.name, "skipped": True},
        )

    async def _run(
        self,
        action: Action,
        message: Memory,
        responses: list[Memory],
        state: State | None,
        callback: HandlerCallback | None,
    ) -> ActionResult | None:
        """Run one action's handler with its context, events, result memory and error handling."""
        context = ActionContext(action.name, uuid.uuid4(), [])
        await self._emit(EventType.ACTION_STARTED, self._params(action, context, message, _STARTED))
        try:
            with in_action(context):
                raw = await action.handler(self.runtime, message, state, {}, callback, responses)
        except Exception as exc:
            return await self._failed(action, context, message, exc)
        result = as_action_result(action.name, raw)
        status: Literal["completed", "failed"] = (
            "failed" if result is not None and not result.success else "completed"
        )
        await self._record(action, context, message, status, result.error if result else None)
        await self._emit(EventType.ACTION_COMPLETED, self._params(action, context, message, result))
        await self._store_result_memory(
            message,
            entity_id=self.runtime.agent_id,
            memory_id=context.action_id,
            content={
                "text": (result.text if result else None) or f"Executed action: {action.name}",
                "source": "action",
                "actionName": action.name,
                "actionStatus": status,
                "actionResult": result_dict(result) if result else {"legacy": json_safe(raw)},
            },
            metadata={"actionName": action.name, "actionId": str(context.action_id)},
        )
        return result

    async def _failed(
        self, action: Action, context: ActionContext, message: Memory, exc: Exception
    ) -> ActionResult:
        """Record a handler's error (event, memory, ACTION_COMPLETED); the failed result, or
        the error raised again when it is critical."""
        log.exception("action %s failed", action.name)
        error = f"{type(exc).__name__}: {exc}"
        failed = ActionResult(
            success=False, error=error, data={"actionName": action.name, "error": str(exc)}
        )
        try:
            await self._record(action, context, message, "failed", error)
        except Exception:  # the handler's error is the one to report
            log.exception("could not record the failure of action %s", action.name)
        await self._store_result_memory(
            message,
            entity_id=self.runtime.agent_id,
            content={"thought": str(exc), "source": "auto", "actionName": action.name,
                     "actionStatus": "failed", "error": str(exc)},
            metadata={"actionName": action.name, "error": True},
        )  # fmt: skip
        await self._emit(EventType.ACTION_COMPLETED, self._params(action, context, message, failed))
        if is_critical(exc):
            raise exc
        return failed

    async def _emit(self, name: str, params: dict[str, Any]) -> None:
        """Emit a runtime event; an emitter that raises is logged, never fails the action."""
        try:
            await self.emit(name, params)
        except Exception:
            log.exception("emitting %s failed; the action goes on", name)

    async def _record(
        self,
        action: Action,
        context: ActionContext,
        message: Memory,
        status: Literal["completed", "failed", "skipped"],
        error: str | None,
    ) -> None:
        """Record the `action.executed` event with the prompts the handler made."""
        await self.sink.record(
            ActionExecuted(
                agent_id=self.runtime.agent_id,
                room_id=message.room_id,
                run_id=current_run_id(),
                message_id=message.id,
                action_id=context.action_id,
                action_name=action.name,
                status=status,
                prompts=list(context.prompts),
                error=error,
                at=now_ms(),
            )
        )

    async def _store_result_memory(
        self,
        message: Memory,
        *,
        entity_id: uuid.UUID,
        content: dict[str, Any],
        metadata: dict[str, Any] | None,
        memory_id: uuid.UUID | None = None,
    ) -> None:
        """Store an `action_result` memory in the message's room, in ElizaOS's shape (content
        and metadata `type: "action_result"`, the run id). A failure to store it is logged."""
        run_id = current_run_id()
        run = str(run_id) if run_id else None
        memory = Memory(
            id=memory_id or uuid.uuid4(),
            entity_id=entity_id,
            agent_id=self.runtime.agent_id,
            room_id=message.room_id,
            world_id=message.world_id,
            content={**content, "type": "action_result", "runId": run},
            metadata=(
                {} if metadata is None else {"type": "action_result", **metadata, "runId": run}
            ),
        )
        try:
            await self.create_memory(memory)
        except Exception:
            log.exception("could not store the action_result memory of %s", content["actionName"])

    def _params(
        self,
        action: Action,
        context: ActionContext,
        message: Memory,
        result: ActionResult | object | None,
    ) -> dict[str, Any]:
        """ACTION_STARTED (`result` is `_STARTED`) / ACTION_COMPLETED params, ElizaOS's shape."""
        content: dict[str, Any] = {
            "actions": [action.name],
            "actionId": str(context.action_id),
            "type": "agent_action",
            "source": message.content.get("source"),
        }
        if result is _STARTED:
            content |= {"text": f"Executing action: {action.name}", "actionStatus": "executing"}
        elif isinstance(result, ActionResult):
            status = "completed" if result.success else "failed"
            content |= {
                "text": f"Action {action.name} {status}",
                "actionStatus": status,
                "actionResult": {
                    "success": result.success,
                    "text": result.text,
                    "error": result.error,
                },
            }
        else:  # a legacy return: completed, nothing reported
            content |= {
                "text": f"Action {action.name} completed",
                "actionStatus": "completed",
                "actionResult": None,
            }
        run_id = current_run_id()
        return {
            "messageId": str(context.action_id),
            "roomId": str(message.room_id),
            "world": str(message.world_id) if message.world_id else None,
            "runId": str(run_id) if run_id else None,
            "content": content,
        }
