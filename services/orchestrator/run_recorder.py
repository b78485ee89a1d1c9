"""Collects a run's events in memory, with ids a redelivery recomputes, for one atomic append."""

from __future__ import annotations

import uuid
from typing import Any

from services.orchestrator.runtime.models import redact_response
from shared.events import EventData, EventMetadata, ModelUsed, NewEvent, now_ms
from shared.ids import derived_id
from shared.messages import ModelType
from shared.model_client import ModelClient


class RunRecorder:
    """The events of one run, in order. Nothing is written until the pipeline appends them."""

    def __init__(self, run_id: uuid.UUID, agent_id: uuid.UUID, correlation_id: uuid.UUID) -> None:
        self.run_id = run_id
        self.agent_id = agent_id
        self.correlation_id = correlation_id
        self.events: list[NewEvent] = []
        self.action_context: dict[str, Any] | None = None

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
        """Queue events built elsewhere (connections), stamping them with this run."""
        for event in events:
            event.metadata = EventMetadata(
                agent_id=self.agent_id, run_id=self.run_id, correlation_id=self.correlation_id
            )
            self.events.append(event)

    async def use_model(
        self,
        client: ModelClient,
        model_type: ModelType,
        params: dict[str, Any],
        room_id: uuid.UUID | None = None,
    ) -> Any:
        """Call a model and log the call as a `model.used` event (ElizaOS's useModel)."""
        call = await client.call(model_type, params, run_id=self.run_id, agent_id=self.agent_id)
        if self.action_context is not None:
            self.action_context.setdefault("prompts", []).append(
                {"model_type": model_type.value, "prompt": params.get("prompt"), "at": now_ms()}
            )
        self.add(
            ModelUsed(
                agent_id=self.agent_id,
                room_id=room_id,
                run_id=self.run_id,
                model_type=model_type.value,
                provider=call.provider,
                params=params,
                response=redact_response(call.result),
                duration_ms=call.duration_ms,
                action_context=dict(self.action_context) if self.action_context else None,
                at=now_ms(),
            ),
            f"run-{self.run_id}",
        )
        return call.result
