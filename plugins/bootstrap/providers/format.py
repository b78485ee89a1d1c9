"""Helpers the bootstrap providers, actions and evaluator share: names, transcripts, lookups."""

from __future__ import annotations

import json
import uuid
from typing import Any

from shared.plugin import Entity, Memory, Room, Runtime, World

DEFAULT_CONVERSATION_LENGTH = 32
"""Messages in a prompt's transcript (ElizaOS's default conversation length)."""


def add_header(header: str, body: str) -> str:
    """`body` under a markdown `header`, or "" when there is no body."""
    return f"{header}\n{body}" if body.strip() else ""


def conversation_length(runtime: Runtime) -> int:
    """How many recent messages prompts show: setting CONVERSATION_LENGTH, else 32."""
    raw = runtime.get_setting("CONVERSATION_LENGTH")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return DEFAULT_CONVERSATION_LENGTH
    return value if value > 0 else DEFAULT_CONVERSATION_LENGTH


DEFAULT_HISTORY_CHARS = 100_000
"""How many characters of conversation a prompt holds at most, by default: the prompt must fit in
one NATS message (1 MB by default, and a character may take 4 bytes) with room for the rest."""


def history_budget(runtime: Runtime) -> int:
    """How many characters of conversation prompts show: setting PROMPT_HISTORY_MAX_CHARS, else
    100,000; the oldest messages are left out first."""
    raw = runtime.get_setting("PROMPT_HISTORY_MAX_CHARS")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return DEFAULT_HISTORY_CHARS
    return value if value > 0 else DEFAULT_HISTORY_CHARS


def entity_name(entity: Entity | None, fallback: str = "Unknown") -> str:
    """An entity's display name (its first name), or `fallback`."""
    if entity is not None:
        for name in entity.names:
            if name and name.strip():
                return name.strip()
    return fallback


async def room_names(runtime: Runtime, room_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """Display names of the room's entities by id, the agent's own name included."""
    names = {e.id: entity_name(e) for e in await runtime.get_entities_for_room(room_id)}
    names[runtime.agent_id] = runtime.character.name
    return names


async def room_and_world(runtime: Runtime, message: Memory) -> tuple[Room | None, World | None]:
    """The message's room and its world (the room's world, else the message's)."""
    room = await runtime.get_room(message.room_id)
    world_id = (room.world_id if room is not None else None) or message.world_id
    world = await runtime.get_world(world_id) if world_id is not None else None
    return room, world


def channel_type(message: Memory, room: Room | None = None) -> str:
    """The channel type (DM, GROUP, VOICE_DM, ...) from the message content, else the room."""
    value = message.content.get("channelType")
    if isinstance(value, str) and value:
        return value.upper()
    return room.type.upper() if room is not None else "GROUP"


def format_message(memory: Memory, names: dict[uuid.UUID, str]) -> str:
    """One transcript line: "Name: text", with the actions and attachments it carried."""
    name = names.get(memory.entity_id) or str(memory.content.get("name") or "Unknown")
    line = f"{name}: {memory.text}"
    actions = memory.content.get("actions")
    if isinstance(actions, list) and actions:
        shown = [str(a) for a in actions if str(a).upper() not in ("REPLY", "NONE")]
        if shown:
            line += f" ({name}'s actions: {', '.join(shown)})"
    attachments = memory.content.get("attachments")
    if isinstance(attachments, list) and attachments:
        titles = [
            str(a.get("title") or a.get("id") or "file") for a in attachments if isinstance(a, dict)
        ]
        line += f" (attachments: {', '.join(titles)})"
    return line


def memory_data(memory: Memory) -> dict[str, Any]:
    """A memory as JSON data for a provider's `data` (without its embedding)."""
    data: dict[str, Any] = memory.model_dump(mode="json", exclude={"embedding"})
    return data


def as_uuid(value: Any) -> uuid.UUID | None:
    """`value` as a UUID, or None when it is not one."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def compact_json(value: Any) -> str:
    """Short JSON for prompt text."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
