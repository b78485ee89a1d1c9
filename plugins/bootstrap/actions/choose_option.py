"""CHOOSE_OPTION: pick an option of a pending decision (a task awaiting a choice).

Only an OWNER or ADMIN of the room's world may choose, as in ElizaOS (getUserServerRole): a
decision is the server's. TEXT_SMALL reads which task and option the message means; the task
must be named (its id, an id prefix of at least 8 characters, or its name, matching one task):
a single pending task is never taken by default. The task's worker (if registered) runs with
`{"option": name}` and the task is deleted; ABORT deletes it without running.
Tasks are read and removed through the runtime's task methods (`get_tasks`, `delete_task`,
`get_task_worker`), which the plugin-facing Runtime protocol does not declare yet.
"""

from __future__ import annotations

import logging
from typing import Any

from plugins.bootstrap.actions.common import ask, say, sender_name, transcript
from plugins.bootstrap.parsing import parse_key_values
from plugins.bootstrap.providers.choice import format_task, option_names, pending_choices
from plugins.bootstrap.providers.roles import MANAGERS, sender_role
from shared.plugin import Action, ActionResult, HandlerCallback, Memory, Runtime, State

log = logging.getLogger(__name__)

ABORT = "ABORT"
MIN_ID_PREFIX = 8
"""The shortest task id prefix that names a task (ElizaOS shows tasks by their first 8)."""


async def may_choose(runtime: Runtime, message: Memory, state: State | None) -> bool:
    """Valid when the sender is OWNER or ADMIN of the room's world and a decision in this room
    awaits a choice."""
    if await sender_role(runtime, message) not in MANAGERS:
        return False
    return bool(await pending_choices(runtime, message))


def _find_task(tasks: list[Any], reference: str) -> Any | None:
    """The one task `reference` names: its full id, an id prefix of at least MIN_ID_PREFIX
    characters, else its name; None when it names none or several."""
    ref = reference.strip().lower()
    if not ref:
        return None
    by_id = [t for t in tasks if str(t.id).lower() == ref]
    if not by_id and len(ref) >= MIN_ID_PREFIX:
        by_id = [t for t in tasks if str(t.id).lower().startswith(ref)]
    if by_id:
        return by_id[0] if len(by_id) == 1 else None
    by_name = [t for t in tasks if str(t.name).strip().lower() == ref]
    return by_name[0] if len(by_name) == 1 else None


def _find_option(task: Any, wanted: str) -> str | None:
    wanted = wanted.strip().lower()
    if wanted == ABORT.lower():
        return ABORT
    for option in option_names(task):
        if option["name"].lower() == wanted:
            return option["name"]
    return None


async def _finish(runtime: Runtime, task: Any, option: str) -> None:
    """Run the task's worker with the option (unless ABORT), then delete the task."""
    if option != ABORT:
        worker = runtime.get_task_worker(task.name)
        if worker is not None:
            await worker.execute(runtime, {"option": option}, task)
        else:
            log.warning("no task worker for %s: option %s recorded only", task.name, option)
    await runtime.delete_task(task.id)


async def choose_option_handler(
    runtime: Runtime,
    message: Memory,
    state: State | None,
    options: dict[str, Any],
    callback: HandlerCallback | None,
    responses: list[Memory],
) -> ActionResult:
    """Let TEXT_SMALL pick the task and option, then carry the choice out (OWNER/ADMIN only)."""
    if await sender_role(runtime, message) not in MANAGERS:
        refusal = "Only an owner or admin of this server can choose for a pending decision."
        await say(callback, message, {"text": refusal, "actions": ["CHOOSE_OPTION_REFUSED"]})
        return ActionResult(success=False, error="the sender is neither OWNER nor ADMIN",
                            data={"actionName": "CHOOSE_OPTION"})  # fmt: skip
    tasks = await pending_choices(runtime, message)
    if not tasks:
        return ActionResult(success=False, error="no decision awaits a choice in this room",
                            data={"actionName": "CHOOSE_OPTION"})  # fmt: skip
    raw = await ask(runtime, "TEXT_SMALL", "CHOOSE_OPTION_TEMPLATE", {
        "tasks": "\n".join(format_task(t) for t in tasks),
        "recentMessages": await transcript(runtime, message, state),
        "senderName": await sender_name(runtime, message, state),
    })  # fmt: skip
    answer = parse_key_values(raw)
    task = _find_task(tasks, answer.get("taskid", ""))
    option = _find_option(task, answer.get("selectedoption", "")) if task else None
    if task is None or option is None:
        listing = "\n".join(format_task(t) for t in tasks)
        await say(callback, message, {"text": f"Which option do you mean?\n{listing}",
                                      "actions": ["CHOOSE_OPTION_INVALID"]})  # fmt: skip
        return ActionResult(success=False, error="the model picked no valid task and option",
                            data={"actionName": "CHOOSE_OPTION", "answer": raw})  # fmt: skip
    await _finish(runtime, task, option)
    text = (f"Cancelled {task.name}." if option == ABORT
            else f"Chose {option} for {task.name}.")  # fmt: skip
    await say(callback, message, {"text": text, "actions": ["CHOOSE_OPTION"]})
    return ActionResult(
        text=text,
        values={"selectedOption": option},
        data={"actionName": "CHOOSE_OPTION", "taskId": str(task.id), "option": option},
    )


CHOOSE_OPTION = Action(
    name="CHOOSE_OPTION",
    similes=["SELECT_OPTION", "SELECT", "PICK", "PICK_OPTION", "CHOOSE"],
    description="Pick one of the options of a decision waiting in this room (or ABORT it).",
    validate=may_choose,
    handler=choose_option_handler,
    examples=[[{"name": "{{user1}}", "content": {"text": "let's go with the second option"}},
               {"name": "{{agentName}}", "content": {"text": "Done.",
                                                      "actions": ["CHOOSE_OPTION"]}}]],
)  # fmt: skip
