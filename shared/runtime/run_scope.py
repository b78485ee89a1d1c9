"""The run a piece of code executes in: one `RunScope` object, carried by one context variable.

A run is one message's handling (or a plugin's own `in_run`). Its scope holds everything the
runtime's parts need to know about it: the run id (`use_model` logs it), the action being
executed (model calls add their prompts to it), and, for a message's run, the `RunRecorder` that
collects its events and outbound messages for the single atomic append, and the answers of reads
already made (`read_cache`). ElizaOS keeps `currentRunId` and `currentActionContext` on the
runtime object, which mixes them up when two messages are handled at once; here each asyncio task
sees its own scope, as pydantic-ai's run context is one object per run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Coroutine, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from shared.events import EventData, EventMetadata, NewEvent, OutboundMessage, now_ms
from shared.ids import derived_id
from shared.secrets import WORLD_EVENTS, Scrubber, remember_world_secrets

__all__ = [
    "ActionContext",
    "Outbox",
    "RunRecorder",
    "RunScope",
    "current_action",
    "current_outbox",
    "current_recorder",
    "current_run_id",
    "current_scope",
    "in_action",
    "in_recorder",
    "in_run",
]


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


class RunRecorder:
    """The events of one run, in order, and what it will publish (its `outbox`). Nothing is
    written or published until the caller appends the events and then flushes the outbox.

    With `may_defer`, the owner promises to `settle` before it appends: work that only completes
    an event already queued (a memory's embedding, its `unique` flag) may then go on in the
    background while the run continues, instead of holding the run up (see `defer`)."""

    def __init__(
        self,
        run_id: uuid.UUID,
        agent_id: uuid.UUID,
        correlation_id: uuid.UUID,
        *,
        may_defer: bool = False,
    ) -> None:
        self.run_id = run_id
        self.agent_id = agent_id
        self.correlation_id = correlation_id
        self.events: list[NewEvent] = []
        self.outbox = Outbox()
        self.may_defer = may_defer
        self._deferred: list[asyncio.Task[None]] = []

    def defer(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background, in the current run's scope; `settle` awaits it. Only
        for a recorder made with `may_defer` (otherwise nobody would wait for it)."""
        if not self.may_defer:
            work.close()
            raise RuntimeError(
                "this run's recorder does not defer work: check `may_defer` before calling defer"
            )
        self._deferred.append(asyncio.create_task(work, name=f"run-{self.run_id}-deferred"))

    async def settle(self) -> None:
        """Wait for every deferred piece of work (and what it deferred in turn); the first error
        is raised once all have ended, so the run fails as if the work had been awaited."""
        while self._deferred:
            tasks, self._deferred = self._deferred, []
            results = await asyncio.gather(*tasks, return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                self.cancel_deferred()
                raise errors[0]

    def cancel_deferred(self) -> None:
        """Cancel deferred work still going on (the run failed and will not be appended)."""
        tasks, self._deferred = self._deferred, []
        for task in tasks:
            task.cancel()

    def add(
        self,
        payload: EventData,
        stream_id: str,
        *,
        event_id: uuid.UUID | None = None,
        expected_version: int | None = None,
    ) -> NewEvent:
        """Queue an event of this run. Its id is derived from the run unless given."""
        event = NewEvent.of(
            payload,
            event_id=event_id
            or derived_id(self.run_id, f"{len(self.events)}:{payload.event_type}"),
            stream_id=stream_id,
            metadata=EventMetadata(
                agent_id=self.agent_id,
                run_id=self.run_id,
                correlation_id=self.correlation_id,
                causation_id=self.events[-1].event_id if self.events else None,
            ),
            expected_version=expected_version,
        )
        self.events.append(event)
        return event

    def add_all(self, events: list[NewEvent]) -> None:
        """Queue events built elsewhere (connection facts), stamping them with this run."""
        for event in events:
            event.metadata = EventMetadata(
                agent_id=self.agent_id, run_id=self.run_id, correlation_id=self.correlation_id
            )
            self.events.append(event)

    def scrub(self, scrubber: Scrubber) -> None:
        """Remove the agent's secrets from every queued event and outbound message (before the
        append: nothing secret reaches the log or the bus)."""
        for event in self.events:  # first learn the secrets the run gives its worlds
            if event.type in WORLD_EVENTS:
                remember_world_secrets(event.data.get("metadata"))
        for event in self.events:
            event.data = scrubber.event_data(event.type, event.data)
        for outbound in self.outbox.messages:
            outbound.body = scrubber.data(outbound.body)


@dataclass(frozen=True)
class RunScope:
    """Everything about the run the calling task is in.

    `recorder` is set for a run whose writes are collected for one append (a message's run, the
    start-up probe); `reads` holds that run's read answers (see `read_cache`); `action` is the
    action executing now, if any.
    """

    run_id: uuid.UUID | None
    recorder: RunRecorder | None = None
    action: ActionContext | None = None
    reads: dict[Hashable, asyncio.Future[Any]] | None = None

    @property
    def outbox(self) -> Outbox | None:
        """Where the run's publishes wait for its commit (None: publish at once)."""
        return self.recorder.outbox if self.recorder is not None else None


_scope: ContextVar[RunScope | None] = ContextVar("elizabus_run_scope", default=None)


def current_scope() -> RunScope | None:
    """The run the calling task is in, if any."""
    return _scope.get()


def current_run_id() -> uuid.UUID | None:
    """The id of the run the calling task is in, if any."""
    scope = _scope.get()
    return scope.run_id if scope is not None else None


def current_action() -> ActionContext | None:
    """The action the calling task is executing, if any."""
    scope = _scope.get()
    return scope.action if scope is not None else None


def current_recorder() -> RunRecorder | None:
    """The recorder collecting the current run's writes, if the run has one."""
    scope = _scope.get()
    return scope.recorder if scope is not None else None


def current_outbox() -> Outbox | None:
    """The outbox of the run the calling task is in, if it has one."""
    scope = _scope.get()
    return scope.outbox if scope is not None else None


@contextmanager
def _entered(scope: RunScope) -> Iterator[RunScope]:
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


@contextmanager
def in_recorder(recorder: RunRecorder) -> Iterator[RunRecorder]:
    """Execute the block as the run `recorder` collects: the runtime's writes join its append,
    publishes wait in its outbox, repeated reads are answered once. Entered once per run."""
    reads: dict[Hashable, asyncio.Future[Any]] = {}
    try:
        with _entered(RunScope(run_id=recorder.run_id, recorder=recorder, reads=reads)):
            yield recorder
    finally:
        # The cached reads are tasks whose context holds this scope, which holds them: a cycle
        # that only the cyclic collector would free, taking the run's whole data (its memories,
        # events, states) into the collector's oldest generation with it. Cleared, the run's data
        # is freed as soon as the run lets go of it.
        reads.clear()


@contextmanager
def in_run(run_id: uuid.UUID) -> Iterator[uuid.UUID]:
    """Execute the block as part of run `run_id` (the rest of the current scope, such as the
    recorder collecting a message's writes, stays as it is)."""
    scope = _scope.get()
    inner = RunScope(run_id=run_id) if scope is None else dataclasses.replace(scope, run_id=run_id)
    with _entered(inner):
        yield run_id


@contextmanager
def in_action(action: ActionContext) -> Iterator[ActionContext]:
    """Execute the block inside an action of the current run: model calls add their prompts to
    it (outside a run too)."""
    scope = _scope.get() or RunScope(run_id=None)
    with _entered(dataclasses.replace(scope, action=action)):
        yield action
