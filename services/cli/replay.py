"""One line per event for `elizabus events`: what happened, without the payload's bulk."""

from __future__ import annotations

import json
from typing import Any

from shared.events import RecordedEvent
from shared.secrets import REDACTED, WORLD_EVENTS

WIDTH = 110


def _clip(text: Any, width: int = 60) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= width else s[: width - 1] + "…"


def shown_event(event: RecordedEvent) -> RecordedEvent:
    """The event as it may be shown: a world's secret settings with their values hidden (the
    log keeps them; nothing else does)."""
    if event.type not in WORLD_EVENTS:
        return event
    metadata = event.data.get("metadata") or {}
    settings = metadata.get("settings") if isinstance(metadata, dict) else None
    if not isinstance(settings, dict):
        return event
    hidden = {
        k: {**v, "value": REDACTED} if isinstance(v, dict) and v.get("secret") else v
        for k, v in settings.items()
    }
    data = {**event.data, "metadata": {**metadata, "settings": hidden}}
    return event.model_copy(update={"data": data})


def describe(event: RecordedEvent) -> str:
    """A short human summary of an event's payload (secret world settings hidden)."""
    d = shown_event(event).data
    match event.type:
        case "run.started":
            return f"source={d['source']} message={d['message_id']}"
        case "run.ended":
            error = f" error={_clip(d['error'])}" if d.get("error") else ""
            return f"status={d['status']} duration={d['duration_ms']:.1f} ms{error}"
        case "model.used":
            shown = d["params"].get("prompt") or d["params"].get("text") or ""
            return (
                f"{d['model_type']} via {d['provider']} in {d['duration_ms']:.1f} ms: "
                f"{_clip(shown, 40)!r} -> {_clip(d['response'], 40)!r}"
            )
        case "memory.created":
            text = _clip(d["content"].get("text", ""))
            return f"{d.get('table_name', 'messages')} by {d['entity_id']}: {text!r}"
        case "message.sent":
            return f"{d['subject']}: {_clip(d['message']['content']['text'])!r}"
        case "action.executed":
            return f"{d['action_name']} {d['status']}"
        case "entity.created" | "entity.updated":
            return f"{d['id']} names={d['names']}"
        case "room.created":
            return f"{d['id']} {d['type']} {d.get('name') or ''} (source {d['source']})"
        case "world.created":
            return f"{d['id']} {d['name']}"
        case "participant.added":
            return f"{d['entity_id']} in {d['room_id']}"
        case "message.rejected":
            return f"{_clip(d['reason'], 80)}"
        case "run.outbox":
            subjects = [m["subject"] for m in d["messages"]]
            return f"{len(subjects)} published after commit: {_clip(', '.join(subjects), 70)}"
    return _clip(json.dumps(d, default=str), 80)


def format_line(event: RecordedEvent) -> str:
    """`position  time  type  summary`, cut to a terminal's width."""
    line = f"{event.position:>8} {event.recorded_at:%H:%M:%S.%f} {event.type:<18} {describe(event)}"
    return line if len(line) <= WIDTH + 40 else line[: WIDTH + 39] + "…"
