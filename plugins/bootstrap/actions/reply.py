"""REPLY (say something), IGNORE (say nothing) and NONE (no action): the basic responses."""

from __future__ import annotations

import time
from typing import Any

from plugins.bootstrap.actions.common import ask, say
from plugins.bootstrap.parsing import parse_response
from shared.plugin import Action, ActionResult, HandlerCallback, Memory, Runtime, State

REPLY_PROVIDERS = ["RECENT_MESSAGES", "ACTION_STATE"]


def _given(responses: list[Memory]) -> tuple[str, str]:
    """The text and thought the message handler already wrote, if any."""
    for response in responses:
        text = str(response.content.get("text") or "").strip()
        if text:
            return text, str(response.content.get("thought") or "")
    return "", ""


async def reply_handler(
    runtime: Runtime,
    message: Memory,
    state: State | None,
    options: dict[str, Any],
    callback: HandlerCallback | None,
    responses: list[Memory],
) -> ActionResult:
    """Send the handler's text; when it gave none, write one with TEXT_LARGE from the state."""
    text, thought = _given(responses)
    generated = False
    if not text:
        state = await runtime.compose_state(message, include_list=REPLY_PROVIDERS)
        parsed = parse_response(await ask(runtime, "TEXT_LARGE", "REPLY_TEMPLATE", state.values))
        text, thought, generated = parsed.text, parsed.thought, True
    if not text:
        return ActionResult(
            success=False,
            error="the model wrote no reply text",
            data={"actionName": "REPLY"},
        )
    await say(callback, message, {"text": text, "thought": thought, "actions": ["REPLY"]})
    return ActionResult(
        text=f"Replied: {text}",
        values={"responded": True, "lastReply": text, "lastReplyTime": int(time.time() * 1000)},
        data={"actionName": "REPLY", "text": text, "thought": thought, "generated": generated},
    )


async def ignore_handler(
    runtime: Runtime,
    message: Memory,
    state: State | None,
    options: dict[str, Any],
    callback: HandlerCallback | None,
    responses: list[Memory],
) -> ActionResult:
    """Say nothing. The callback is not called: there is nothing to send."""
    thought = next(
        (str(r.content.get("thought")) for r in responses if r.content.get("thought")), ""
    )
    return ActionResult(
        values={"ignored": True},
        data={"actionName": "IGNORE", "thought": thought},
    )


async def none_handler(
    runtime: Runtime,
    message: Memory,
    state: State | None,
    options: dict[str, Any],
    callback: HandlerCallback | None,
    responses: list[Memory],
) -> ActionResult:
    """Do nothing more (a reply, if any, is another action's)."""
    return ActionResult(values={"noAction": True}, data={"actionName": "NONE"})


REPLY = Action(
    name="REPLY",
    similes=["GREET", "REPLY_TO_MESSAGE", "SEND_REPLY", "RESPOND", "RESPONSE"],
    description="Answer the message with a text reply. Use it whenever the agent should speak; "
    "list it first when other actions follow.",
    handler=reply_handler,
    examples=[
        [
            {"name": "{{user1}}", "content": {"text": "Hi, how are you?"}},
            {
                "name": "{{agentName}}",
                "content": {"text": "Doing well, thanks!", "actions": ["REPLY"]},
            },
        ]
    ],
)
IGNORE = Action(
    name="IGNORE",
    similes=["STOP_TALKING", "STOP_CHATTING", "STOP_CONVERSATION"],
    description="Say nothing: the message is not for the agent, needs no answer, or the "
    "conversation is over. Never combine it with other actions.",
    handler=ignore_handler,
    examples=[
        [
            {"name": "{{user1}}", "content": {"text": "ok, bye"}},
            {"name": "{{agentName}}", "content": {"text": "", "actions": ["IGNORE"]}},
        ]
    ],
)
NONE = Action(
    name="NONE",
    similes=["NO_ACTION", "NO_RESPONSE", "PASS"],
    description="Take no extra action. Use it when a reply alone is enough.",
    handler=none_handler,
    examples=[
        [
            {"name": "{{user1}}", "content": {"text": "Nice weather today."}},
            {"name": "{{agentName}}", "content": {"text": "It is!", "actions": ["NONE"]}},
        ]
    ],
)
