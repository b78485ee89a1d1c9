"""Actions that live in another process, reached by core NATS request/reply.

`remote_action(nc, name)` is an `Action` whose handler sends a `RemoteActionRequest` on
`action.<name>` and returns the `ActionResult` of the `RemoteActionReply`. What the remote handler
said through its callback comes back in `callback_contents` and is passed to the local callback,
and the prompts it made come back in `prompts` and join the local action context, so the local
`action.executed` event lists them. A remote handler that raised comes back as `outcome="failed"`
and the local handler raises, so the dispatcher records the failure and stores the error memory.
`serve_actions(nc, actions, runtime_view)` answers those requests in the other process, in queue
group `actions`, so several processes may serve the same action and share the load.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from nats.aio.client import Client as NatsClient
from pydantic import ValidationError

from shared import subjects
from shared.bus.request import RequestErrors, request_or_raise
from shared.bus.request_server import Endpoint, RequestServer
from shared.errors import ActionError
from shared.messages import RemoteActionReply, RemoteActionRequest, RemoteState
from shared.plugin import Action, ActionResult, Content, HandlerCallback, Memory, Runtime, State
from shared.runtime.actions import as_action_result
from shared.runtime.run_scope import (
    ActionContext,
    current_action,
    current_run_id,
    in_action,
    in_run,
)
from shared.runtime.settings_lookup import secret_values
from shared.secrets import Scrubber

log = logging.getLogger(__name__)

__all__ = [
    "ActionServer", "answer_action_request", "decode_action_reply", "deliver_reply",
    "encode_action_request", "remote_action", "serve_actions",
]  # fmt: skip


def encode_action_request(
    name: str,
    runtime: Runtime,
    message: Memory,
    state: State | None,
    options: dict[str, Any],
    responses: list[Memory],
) -> bytes:
    """The JSON body of a request to action `name`, without the agent's secrets; unserialisable
    values become str."""
    action = current_action()
    remote_state = None if state is None else RemoteState.of(state)
    request = RemoteActionRequest.model_construct(
        action=name,
        message=message,
        state=remote_state,
        options=options,
        responses=responses,
        agent_id=runtime.agent_id,
        run_id=current_run_id(),
        action_id=action.action_id if action else None,
    )
    body = request.model_dump_json(fallback=str).encode()
    return Scrubber(secret_values(runtime.character)).json_bytes(body)


def remote_action(
    nc: NatsClient,
    name: str,
    description: str = "",
    similes: Sequence[str] = (),
    timeout: float = 30.0,
) -> Action:
    """An Action run by whichever process serves `action.<name>` (see serve_actions).

    Its handler raises ActionError when nobody serves the action, no reply comes within
    `timeout` seconds, or the remote handler raised; a remote `validate` that declines gives
    `success=False` with `data["skipped"] = True`.
    """
    subject = subjects.action(name)

    async def handler(
        runtime: Runtime,
        message: Memory,
        state: State | None,
        options: dict[str, Any],
        callback: HandlerCallback | None,
        responses: list[Memory],
    ) -> ActionResult:
        body = encode_action_request(name, runtime, message, state, options, responses)
        errors = RequestErrors(
            ActionError,
            absent=f"no process serves action {name!r} (nobody listens on {subject}): start the "
            "process that calls serve_actions with it, or remove the action",
            timed_out=f"no reply from action {name!r} within {timeout:g}s on {subject}: check "
            "the serving process's log, or raise the remote action's timeout",
            failed=f"could not call action {name!r} on {subject} ({{exc}}): check that NATS is "
            "running, the connection is open and the request is not larger than the server's "
            "max_payload",
        )
        reply = await request_or_raise(nc, subject, body, timeout, errors)
        return await deliver_reply(name, decode_action_reply(name, reply.data), callback)

    return Action(name=name, handler=handler, description=description, similes=list(similes))


def decode_action_reply(name: str, body: bytes) -> RemoteActionReply:
    """The RemoteActionReply of a raw reply body, or ActionError when it is not one."""
    try:
        return RemoteActionReply.model_validate_json(body)
    except ValidationError as exc:
        raise ActionError(
            f"action {name!r} sent a reply that is not a RemoteActionReply "
            f"({exc.error_count()} errors, body starts {body[:120]!r}): check that the serving "
            "process runs the same elizabus version"
        ) from exc


async def deliver_reply(
    name: str, reply: RemoteActionReply, callback: HandlerCallback | None
) -> ActionResult:
    """Apply a reply locally: prompts join the current action, contents go to `callback`.

    Contents are delivered even when the remote handler then raised, as they would be had the
    handler run here. Returns the ActionResult, or raises ActionError for a failed outcome.
    """
    action = current_action()
    if action is not None:
        action.prompts.extend(reply.prompts)
    if callback is not None:
        for content in reply.callback_contents:
            await callback(content)
    if reply.outcome == "failed":
        raise ActionError(
            f"remote action {name!r} failed: {reply.error or 'no error message given'}"
        )
    if reply.outcome == "skipped":
        return ActionResult(
            success=False,
            error=reply.error,
            data={**reply.data, "actionName": name, "skipped": True},
        )
    return ActionResult(
        success=reply.success,
        text=reply.text,
        values=reply.values,
        data=reply.data,
        error=reply.error,
    )


def _reply(name: str, **fields: Any) -> bytes:
    """A raw RemoteActionReply body; unserialisable values become str."""
    reply = RemoteActionReply.model_construct(action=name, **fields)
    return reply.model_dump_json(fallback=str).encode()


def _failed(name: str, error: str, contents: list[Content], prompts: list[dict[str, Any]]) -> bytes:
    """A reply for an action that raised or could not run: the caller raises `error`."""
    fields = {"error": error, "callback_contents": contents, "prompts": prompts}
    return _reply(name, outcome="failed", success=False, **fields)


async def _declined(
    action: Action, runtime_view: Runtime, message: Memory, state: State | None
) -> str | None:
    """None when `validate` accepts the message, else why the action is skipped (as locally)."""
    try:
        if await action.validate(runtime_view, message, state):
            return None
        reason = "validate returned False for this message"
    except Exception as exc:
        log.exception("validate of remote action %s raised: action skipped", action.name)
        reason = f"validate raised {type(exc).__name__}: {exc}"
    return f"action {action.name} skipped: {reason}"


async def answer_action_request(action: Action, runtime_view: Runtime, body: bytes) -> bytes:
    """Answer one raw request body for `action` with a raw reply body; never raises.

    `validate` runs first (declining, or raising, skips the action as the local dispatcher
    does); the handler runs inside the request's run and action (its model calls
    log that run id and collect their prompts), with a callback that collects what it says.
    """
    name = action.name
    try:
        request = RemoteActionRequest.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors(include_url=False)[:5]
        )
        return _failed(
            name,
            f"invalid RemoteActionRequest on {subjects.action(name)} ({problems}): send JSON like "
            '{"action": "NAME", "message": {...}, "state": {...}, "responses": [...]}',
            [],
            [],
        )
    state = None if request.state is None else request.state.to_state()
    contents: list[Content] = []

    async def collect(content: Content) -> list[Memory]:
        contents.append(content)
        return []

    context = ActionContext(name, request.action_id or uuid.uuid4(), [])
    with ExitStack() as scope:
        if request.run_id is not None:
            scope.enter_context(in_run(request.run_id))
        declined = await _declined(action, runtime_view, request.message, state)
        if declined is not None:
            return _reply(name, outcome="skipped", success=False, error=declined)
        try:
            with in_action(context):
                raw = await action.handler(
                    runtime_view,
                    request.message,
                    state,
                    request.options,
                    collect,
                    request.responses,
                )
        except Exception as exc:
            log.exception("remote action %s failed", name)
            return _failed(
                name,
                f"{type(exc).__name__}: {exc} (see the log of the process serving {name!r})",
                contents,
                context.prompts,
            )
    result = as_action_result(name, raw) or ActionResult(success=True, data={"actionName": name})
    try:
        return _reply(
            name,
            outcome="completed",
            success=result.success,
            text=result.text,
            values=result.values,
            data=result.data,
            error=result.error,
            callback_contents=contents,
            prompts=context.prompts,
        )
    except ValueError as exc:
        return _failed(
            name,
            f"action {name!r} returned a result that cannot be sent as JSON ({exc}): return "
            "ActionResult with JSON values and data",
            contents,
            context.prompts,
        )


class ActionServer(RequestServer):
    """What serve_actions returns: the subscriptions and in-flight requests; `stop()` ends it."""

    def __init__(self, nc: NatsClient, actions: list[Action], runtime_view: Runtime) -> None:
        self.actions = list(actions)
        self.runtime_view = runtime_view
        super().__init__(nc, [self._endpoint(x) for x in self.actions])

    def _endpoint(self, action: Action) -> Endpoint:
        async def answer(body: bytes) -> bytes:
            return await answer_action_request(action, self.runtime_view, body)

        label = f"action {action.name}"
        return Endpoint(subjects.action(action.name), subjects.ACTIONS_QUEUE, answer, label)


async def serve_actions(
    nc: NatsClient, actions: list[Action], runtime_view: Runtime
) -> ActionServer:
    """Answer requests for `actions` on `action.<name>`; call `stop()` on the result to end.

    `runtime_view` is what the actions receive as their runtime in this process.
    """
    return await ActionServer(nc, actions, runtime_view).start()
