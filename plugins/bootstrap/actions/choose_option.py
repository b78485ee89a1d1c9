"""CHOOSE_OPTION: pick an option of a pending decision (a task awaiting a choice).

TEXT_SMALL reads which task and option the message means. The task's worker (if registered)
runs with `{"option": name}` and the task is deleted; ABORT deletes it without running.
Tasks are read and removed through the runtime's task methods (`get_tasks`, `delete_task`,
`get_task_worker`), which the plugin-facing Runtime protocol does not declare yet.
"""

from __future__ import annotations

import logging
from typing import Any

from plugins.bootstrap.actions.common import ask, say, sender_name, transcript
from plugins.bootstrap.parsing import parse_key_values
from plugins.bootstrap.providers.choice import format_task, option_names, pending_choices
from shared.plugin import Action, ActionResult, HandlerCallback, Memory, Runtime, State

log = logging.getLogger(__name__)

ABORT = "ABORT"


async def has_choices(runtime: Runtime, message: Memory, state: State | None) -> bool:
    """Valid when a decision in this room awaits a choice."""
    return bool(await pending_choices(runtime, message))


def _find_task(tasks: list[Any], reference: str) -> Any | None:
    ref = reference.strip().lower()
    for task in tasks:
        if ref and (str(task.id).lower() == ref or str(task.id).lower().startswith(ref)):
            return task
    for task in tasks:
        if ref and str(task.name).lower() == ref:
            return task
    return tasks[0] if len(tasks) == 1 else None


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
    """Let TEXT_SMALL pick the task and option, then carry the choice out."""
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
    validate=has_choices,
    handler=choose_option_handler,
    examples=[[{"name": "{{user1}}", "content": {"text": "let's go with the second option"}},
               {"name": "{{agentName}}", "content": {"text": "Done.",
                                                      "actions": ["CHOOSE_OPTION"]}}]],
)  # fmt: skip
