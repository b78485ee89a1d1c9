"""The runtime's event system (ElizaOS's registerEvent / getEvent / emitEvent), fanned out on NATS.

In-process handlers registered by plugins run as in ElizaOS: every handler of an event at once, an
error in one logged and isolated. Each emission is also published on JetStream subject
`event.<name>` as an `EmittedEvent` body, so other services can follow what every agent does
without being loaded into the orchestrator.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shared import subjects
from shared.bus import Bus
from shared.json_safe import json_safe
from shared.messages import EmittedEvent
from shared.plugin import EventHandler
from shared.runtime.event_types import EventType
from shared.runtime.run_scope import current_outbox, current_run_id
from shared.secrets import Scrubber

__all__ = ["EventBus", "EventType", "handler_name"]

log = logging.getLogger(__name__)


class EventBus:
    """Event handlers of one agent runtime, and the publisher of its events on the bus.

    `bus` None keeps events in-process (tests, tools); `agent_id` goes into every published body;
    `scrubber` removes the agent's secrets from every published body, in a run or outside one.
    """

    def __init__(
        self, agent_id: uuid.UUID, bus: Bus | None = None, scrubber: Scrubber | None = None
    ) -> None:
        self.agent_id = agent_id
        self.bus = bus
        self.scrubber = scrubber or Scrubber()
        self._handlers: dict[str, list[EventHandler]] = {}

    def register_event(self, name: str, handler: EventHandler) -> None:
        """Add `handler` to the handlers of event `name` (an EventType or any plugin string)."""
        self._handlers.setdefault(str(name), []).append(handler)

    def unregister_event(self, name: str, handler: EventHandler) -> bool:
        """Remove `handler` from the handlers of event `name` (ElizaOS's `off`); whether it was
        registered. Only its first registration is removed."""
        handlers = self._handlers.get(str(name), [])
        if handler in handlers:
            handlers.remove(handler)
            return True
        return False

    def register_events(self, events: Mapping[str, Iterable[EventHandler]]) -> None:
        """Register every handler of a plugin's `events` mapping."""
        for name, handlers in events.items():
            for handler in handlers:
                self.register_event(name, handler)

    def get_event(self, name: str) -> list[EventHandler]:
        """The handlers of event `name`, in registration order (a copy; empty when none)."""
        return list(self._handlers.get(str(name), ()))

    def event_names(self) -> list[str]:
        """The names that have at least one handler."""
        return [name for name, handlers in self._handlers.items() if handlers]

    def clear(self) -> None:
        """Forget every handler (the runtime's stop)."""
        self._handlers.clear()

    async def emit_event(
        self, event: str | Sequence[str], params: dict[str, Any], *, raise_errors: bool = False
    ) -> None:
        """Run the handlers of each named event and publish it on `event.<name>`.

        Names are handled one after the other; for each, its handlers and the publish run at
        once. A failing handler or publish is logged and never raised, so emitting is safe
        anywhere in a run. Inside a message's run the publish is queued in the run's outbox and
        happens after the run commits, so a run that is redone publishes nothing twice.

        `raise_errors` (the orchestrator's MESSAGE_RECEIVED): every handler still runs, then the
        first handler error is raised, so the delivery is retried instead of lost.
        """
        names = [event] if isinstance(event, str) else list(event)
        for name in names:
            key = str(name)
            jobs = [
                self._run_handler(key, handler, params, raise_errors)
                for handler in self.get_event(key)
            ]
            outbox = current_outbox()
            if outbox is not None:  # inside a run: published after the run commits
                body = self.envelope(key, params)
                outbox.add(subjects.event(key), body.model_dump(mode="json"), str(body.id))
            elif self.bus is not None:
                # the body is taken before any handler runs, so it is what was emitted
                jobs.append(self._publish(self.bus, self.envelope(key, params)))
            if jobs:
                results = await asyncio.gather(*jobs, return_exceptions=raise_errors)
                errors = [r for r in results if isinstance(r, BaseException)]
                if errors:
                    raise errors[0]

    async def _run_handler(
        self, name: str, handler: EventHandler, params: dict[str, Any], reraise: bool = False
    ) -> None:
        """Await one handler; log its error with the event and handler names (and re-raise it
        only when asked)."""
        try:
            await handler(params)
        except Exception:
            if reraise:
                raise
            log.exception(
                "event %s: handler %s failed (the other handlers still ran); fix the handler or "
                "the plugin that registered it",
                name,
                handler_name(handler),
            )

    async def _publish(self, bus: Bus, body: EmittedEvent) -> None:
        """Publish one emission durably, `Nats-Msg-Id` = its id; log a failure, never raise."""
        subject = subjects.event(body.name)
        try:
            await bus.publish_durable(subject, body.model_dump_json().encode(), str(body.id))
        except Exception:
            log.exception(
                "event %s: publishing on %s failed (in-process handlers still ran); check the "
                "NATS connection and that stream %s exists (ensure_streams)",
                body.name,
                subject,
                subjects.EVENTS_STREAM,
            )

    def envelope(self, name: str, params: Mapping[str, Any]) -> EmittedEvent:
        """The body published for emitting `name` with `params` in the calling task's run, with
        the agent's secrets scrubbed."""
        safe = self.scrubber.data(json_safe(params))
        return EmittedEvent(
            name=str(name),
            agent_id=self.agent_id,
            run_id=current_run_id(),
            params=safe if isinstance(safe, dict) else {"value": safe},
        )


def handler_name(handler: object) -> str:
    """A readable name for a handler in logs: its module and qualified name when it has them."""
    qualname = getattr(handler, "__qualname__", None)
    if qualname is None:
        return repr(handler)
    module = getattr(handler, "__module__", None)
    return f"{module}.{qualname}" if module else str(qualname)
