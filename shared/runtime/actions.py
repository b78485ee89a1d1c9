"""Action dispatch: ElizaOS's `findAction` and `processActions`, with every execution recorded.

For each action name the model chose, the dispatcher finds the action (exact name, then partial
name, then similes), honours its `validate`, runs its handler inside an `ActionContext` (so model
calls made by the handler collect their prompts), records an `action.executed` event and emits
ACTION_STARTED / ACTION_COMPLETED. A handler that raises gets a failed event and an error memory in
the message's room, and the error is re-raised, as ElizaOS does.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from shared.events import ActionExecuted, now_ms
from shared.plugin import Action, ActionResult, HandlerCallback, Memory, Runtime, State
from shared.runtime.event_bus import EventType
from shared.runtime.run_scope import ActionContext, current_run_id, in_action
from shared.runtime.sinks import EventSink

log = logging.getLogger(__name__)

__all__ = [
    "ActionDispatcher",
    "CreateMemoryFn",
    "EmitFn",
    "as_action_result",
    "find_action",
    "no_emit",
    "normalize_action_name",
]

EmitFn = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Emits a runtime event by name with params (the runtime's `emit_event`)."""

CreateMemoryFn = Callable[[Memory], Awaitable[None]]
"""Stores a memory in the `messages` table (the runtime's `create_memory`)."""


async def no_emit(name: str, params: dict[str, Any]) -> None:
    """An `emit` that drops every event: for components used without an event system."""


def normalize_action_name(name: str) -> str:
    """An action name as compared when matching: lower case, with every underscore removed.

    ElizaOS writes `.toLowerCase().replace('_', '')`, which removes only the FIRST underscore
    (JavaScript's String.replace with a string pattern replaces one occurrence), so there
    "SEND_A_MESSAGE" and "SENDA_MESSAGE" normalise differently. That is a bug; we remove them all.
    """
    return name.lower().replace("_", "")


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


def as_action_result(name: str, raw: object) -> ActionResult:
    """A handler's return value as an ActionResult (ElizaOS accepts void and plain values too).

    None (or a bool) means success with nothing to report; any other value is kept in
    `data["result"]`.
    """
    if isinstance(raw, ActionResult):
        return raw
    if raw is None or isinstance(raw, bool):
        return ActionResult(success=True, data={"actionName": name})
    return ActionResult(success=True, data={"actionName": name, "result": raw})


class ActionDispatcher:
    """Runs the actions named in response memories (ElizaOS's `processActions`).

    Collaborators are injected: `runtime` is what handlers receive; `actions` is the runtime's
    live list (actions registered later are found too); `sink` records `action.executed`;
    `emit` emits ACTION_STARTED / ACTION_COMPLETED; `create_memory` stores error memories.
    """

    def __init__(
        self,
        runtime: Runtime,
        actions: list[Action],
        sink: EventSink,
        create_memory: CreateMemoryFn,
        emit: EmitFn = no_emit,
    ) -> None:
        self.runtime = runtime
        self.actions = actions
        self.sink = sink
        self.create_memory = create_memory
        self.emit = emit

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

        Returns one ActionResult per action found: its handler's result, or for an action whose
        `validate` declined, `success=False` with `data["skipped"] = True`. Names that match no
        action are logged and skipped. A handler error is recorded, stored as an error memory in
        the message's room, and re-raised (the actions after it do not run). Each result is also
        appended to `state.data["actionResults"]`, as ElizaOS keeps them for the next actions.
        """
        results: list[ActionResult] = []
        for response in responses:
            names = response.content.get("actions") or []
            if not isinstance(names, list) or not names:
                continue
            for name in names:
                action = self.find(str(name))
                if action is None:
                    log.warning(
                        "action %r chosen by the model is not registered: skipped (registered: %s)",
                        name,
                        ", ".join(a.name for a in self.actions) or "none",
                    )
                    continue
                skipped = await self._declined(action, message, state)
                result = skipped or await self._run(action, message, responses, state, callback)
                results.append(result)
                if state is not None:  # later actions (and ACTION_STATE) see what ran before
                    state.data.setdefault("actionResults", []).append(result)
        return results

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
    ) -> ActionResult:
        """Run one action's handler with its context, events and error handling."""
        context = ActionContext(action.name, uuid.uuid4(), [])
        await self._emit(EventType.ACTION_STARTED, self._params(action, context, message, None))
        try:
            with in_action(context):
                raw = await action.handler(self.runtime, message, state, {}, callback, responses)
        except Exception as exc:
            log.exception("action %s failed", action.name)
            error = f"{type(exc).__name__}: {exc}"
            try:
                await self._record(action, context, message, "failed", error)
            except Exception:  # the handler's error is the one the caller must see
                log.exception("could not record the failure of action %s", action.name)
            await self._store_error_memory(action, context, message, exc)
            failed = ActionResult(success=False, error=error, data={"actionName": action.name})
            await self._emit(
                EventType.ACTION_COMPLETED, self._params(action, context, message, failed)
            )
            raise
        result = as_action_result(action.name, raw)
        status: Literal["completed", "failed"] = "completed" if result.success else "failed"
        await self._record(action, context, message, status, result.error)
        await self._emit(EventType.ACTION_COMPLETED, self._params(action, context, message, result))
        return result

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

    async def _store_error_memory(
        self, action: Action, context: ActionContext, message: Memory, exc: Exception
    ) -> None:
        """Store the failure as the agent's thought in the room, as ElizaOS does.

        ElizaOS attributes that memory to the message's sender; here it is the agent's, since the
        agent is the one reporting it. A failure to store it is logged; the handler's error is
        what the caller sees.
        """
        run_id = current_run_id()
        memory = Memory(
            entity_id=self.runtime.agent_id,
            agent_id=self.runtime.agent_id,
            room_id=message.room_id,
            world_id=message.world_id,
            content={
                "thought": str(exc),
                "source": "auto",
                "actions": [action.name],
                "type": "action_result",
                "actionName": action.name,
                "actionId": str(context.action_id),
                "actionStatus": "failed",
                "runId": str(run_id) if run_id else None,
                "inReplyTo": str(message.id),
            },
        )
        try:
            await self.create_memory(memory)
        except Exception:
            log.exception("could not store the error memory of action %s", action.name)

    def _params(
        self,
        action: Action,
        context: ActionContext,
        message: Memory,
        result: ActionResult | None,
    ) -> dict[str, Any]:
        """ACTION_STARTED / ACTION_COMPLETED params, in ElizaOS's shape."""
        content: dict[str, Any] = {
            "actions": [action.name],
            "actionId": str(context.action_id),
            "type": "agent_action",
            "source": message.content.get("source"),
        }
        if result is None:
            content |= {"text": f"Executing action: {action.name}", "actionStatus": "executing"}
        else:
            content |= {
                "text": result.text or "",
                "actionStatus": "completed" if result.success else "failed",
                "actionResult": {
                    "success": result.success,
                    "text": result.text,
                    "error": result.error,
                },
            }
        run_id = current_run_id()
        return {
            "messageId": str(context.action_id),
            "roomId": str(message.room_id),
            "world": str(message.world_id) if message.world_id else None,
            "runId": str(run_id) if run_id else None,
            "content": content,
        }
