"""CHOICE: decisions waiting for someone in this room to pick an option.

Pending decisions are tasks tagged AWAITING_CHOICE with `metadata["options"]`, read with
`runtime.get_tasks(room_id=..., tags=[...])`; a runtime without a task store has none.
"""

from __future__ import annotations

import logging
from typing import Any

from plugins.bootstrap.providers.format import add_header
from shared.plugin import ConfigurationError, Memory, Provider, ProviderResult, Runtime, State

log = logging.getLogger(__name__)

AWAITING_CHOICE = "AWAITING_CHOICE"


def option_names(task: Any) -> list[dict[str, str]]:
    """A task's options as {name, description} (options may be strings or objects)."""
    metadata = getattr(task, "metadata", None) or {}
    options = metadata.get("options") if isinstance(metadata, dict) else None
    result = []
    for option in options if isinstance(options, list) else []:
        if isinstance(option, dict) and option.get("name"):
            result.append({"name": str(option["name"]),
                           "description": str(option.get("description") or "")})  # fmt: skip
        elif isinstance(option, str) and option:
            result.append({"name": option, "description": ""})
    return result


async def pending_choices(runtime: Runtime, message: Memory) -> list[Any]:
    """The room's tasks awaiting a choice that have options ([] when tasks cannot be read)."""
    try:
        tasks = await runtime.get_tasks(room_id=message.room_id, tags=[AWAITING_CHOICE])
    except ConfigurationError as exc:  # a runtime without a task store
        log.info("CHOICE has no tasks to read (%s)", exc)
        return []
    return [t for t in tasks or [] if option_names(t)]


def format_task(task: Any) -> str:
    """A pending decision with its id, question and options."""
    lines = [
        f"- Task {task.id}: {task.name}" + (f" ({task.description})" if task.description else "")
    ]
    for option in option_names(task):
        extra = f": {option['description']}" if option["description"] else ""
        lines.append(f"  - {option['name']}{extra}")
    return "\n".join(lines)


async def get_choice(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """List the pending decisions and their options (CHOOSE_OPTION picks one)."""
    tasks = await pending_choices(runtime, message)
    body = "\n".join(format_task(t) for t in tasks)
    text = add_header(
        "# Decisions waiting for a choice\nAnswer with CHOOSE_OPTION when the latest message "
        "picks one of these options (or ABORT to cancel):",
        body,
    )
    return ProviderResult(
        text=text,
        values={"tasks": body},
        data={
            "tasks": [{"id": str(t.id), "name": t.name, "options": option_names(t)} for t in tasks]
        },
    )


CHOICE = Provider(
    name="CHOICE",
    description="Decisions waiting for someone to pick an option.",
    private=True,
    get=get_choice,
)
