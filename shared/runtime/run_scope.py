"""The run and action a piece of code is executing in, carried by context variables.

ElizaOS keeps `currentRunId` and `currentActionContext` on the runtime object, which mixes them up
when two messages are handled at once. Here each asyncio task sees its own: `use_model` logs the
run id and collects prompts into the action context of the task that called it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.events import EventData, OutboundMessage, now_ms


@dataclass
class ActionContext:
    """The action being executed: its prompts are collected for its `action.executed` event."""

    action_name: str
    action_id: uuid.UUID
    prompts: list[dict[str, Any]] = field(default_factory=list)

    def add_prompt(self, model_type: str, prompt: str) -> None:
        """Collect a prompt made inside this action (as ElizaOS's useModel does)."""
        self.prompts.append({"modelType": model_type, "prompt": prompt, "timestamp": now_ms()})

    def as_dict(self) -> dict[str, Any]:
        """The form logged in `model.used` and `action.executed` events."""
        return {
            "actionName": self.action_name,
            "actionId": str(self.action_id),
            "prompts": list(self.prompts),
        }


_run_id: ContextVar[uuid.UUID | None] = ContextVar("elizabus_run_id", default=None)
_action: ContextVar[ActionContext | None] = ContextVar("elizabus_action", default=None)


def current_run_id() -> uuid.UUID | None:
    """The run the calling task is in, if any."""
    return _run_id.get()


def current_action() -> ActionContext | None:
    """The action the calling task is executing, if any."""
    return _action.get()


@contextmanager
def in_run(run_id: uuid.UUID) -> Iterator[uuid.UUID]:
    """Execute the block as part of run `run_id`."""
    token = _run_id.set(run_id)
    try:
        yield run_id
    finally:
        _run_id.reset(token)


@contextmanager
def in_action(action: ActionContext) -> Iterator[ActionContext]:
    """Execute the block inside an action: model calls add their prompts to it."""
    token = _action.set(action)
    try:
        yield action
    finally:
        _action.reset(token)


class Outbox:
    """Messages a run publishes only once its events are committed (a transactional outbox).

    Inside a message's run, runtime events and replies are queued here instead of published; the
    orchestrator stores them in the run's `run.outbox` event and publishes them after the commit.
    """

    def __init__(self) -> None:
        self.messages: list[OutboundMessage] = []

    def add(self, subject: str, body: dict[str, Any], msg_id: str) -> None:
        """Queue one message for publishing after the commit."""
        self.messages.append(OutboundMessage(subject=subject, msg_id=msg_id, body=body))


_outbox: ContextVar[Outbox | None] = ContextVar("elizabus_outbox", default=None)


def current_outbox() -> Outbox | None:
    """The outbox of the run the calling task is in, if it has one."""
    return _outbox.get()


@contextmanager
def in_outbox(outbox: Outbox) -> Iterator[Outbox]:
    """Queue the block's publishes in `outbox` instead of publishing them."""
    token = _outbox.set(outbox)
    try:
        yield outbox
    finally:
        _outbox.reset(token)


class EventSink(Protocol):
    """Where runtime components record what they did.

    Inside a message's run the events join the run's single atomic append; outside a run they are
    appended at once. Components never write to the store directly. `event_id` (derived from what
    the event states) makes re-recording the same fact a no-op; without it the id is fresh.
    """

    async def record(
        self, payload: EventData, stream_id: str | None = None, event_id: uuid.UUID | None = None
    ) -> None: ...


class ListSink:
    """EventSink test double: keeps the payloads in order in `recorded`."""

    def __init__(self) -> None:
        self.recorded: list[EventData] = []

    async def record(
        self, payload: EventData, stream_id: str | None = None, event_id: uuid.UUID | None = None
    ) -> None:
        """Keep the payload."""
        self.recorded.append(payload)
