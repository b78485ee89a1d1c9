"""`elizabus events` lines say what happened in a run."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.cli.replay import format_line, shown_event
from shared.events import RecordedEvent
from shared.secrets import REDACTED


def event(type_: str, data: dict[str, object]) -> RecordedEvent:
    return RecordedEvent(
        position=3, event_id=uuid.uuid4(), stream_id="s", stream_version=1, type=type_,
        data=data, metadata={}, recorded_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip


def test_model_call_line_names_type_provider_and_duration() -> None:
    line = format_line(event("model.used", {
        "model_type": "TEXT_LARGE", "provider": "scripted", "duration_ms": 1.25,
        "params": {"prompt": "# Task: reply\n" + "x" * 500}, "response": "<response/>",
    }))  # fmt: skip
    assert "TEXT_LARGE via scripted in 1.2 ms" in line and "# Task: reply" in line
    assert len(line) < 200


def test_unknown_types_fall_back_to_json() -> None:
    assert '"a": 1' in format_line(event("something.new", {"a": 1}))


def test_a_worlds_secret_settings_are_hidden_in_lines_and_json() -> None:
    world = event("world.updated", {"id": "w", "name": "Guild", "server_id": "s", "metadata": {
        "settings": {"API_TOKEN": {"value": "tok-in-the-log", "secret": True},
                     "CHANNEL": {"value": "#lobby"}}}})  # fmt: skip
    assert "tok-in-the-log" not in format_line(world)
    shown = shown_event(world).model_dump_json()
    assert "tok-in-the-log" not in shown and "#lobby" in shown and REDACTED in shown
    assert world.data["metadata"]["settings"]["API_TOKEN"]["value"] == "tok-in-the-log"
