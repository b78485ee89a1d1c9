"""Helpers of the bootstrap actions: prompting a model, the transcript, speaking, matching names."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from plugins.bootstrap.providers.format import as_uuid, entity_name, format_message, room_names
from plugins.bootstrap.providers.recent_messages import recent_dialogue
from plugins.bootstrap.templates import render, template_for
from shared.plugin import Content, Entity, HandlerCallback, Memory, Runtime, State

log = logging.getLogger(__name__)


async def ask(runtime: Runtime, model_type: str, template: str, values: dict[str, Any]) -> str:
    """Render the named template (or the character's override) and ask the model; its text."""
    prompt = render(
        template_for(runtime.character.templates, template),
        {"agentName": runtime.character.name, **values},
    )
    answer = await runtime.use_model(model_type, {"prompt": prompt})
    return answer if isinstance(answer, str) else str(answer or "")


async def transcript(runtime: Runtime, message: Memory, state: State | None) -> str:
    """The recent conversation: the state's `recentMessages`, else read from the room (only the
    message itself when the room cannot be read)."""
    if state is not None and state.values.get("recentMessages"):
        return str(state.values["recentMessages"])
    try:
        history = await recent_dialogue(runtime, message)
        names = await room_names(runtime, message.room_id)
    except Exception:
        log.exception("could not read the room's messages; the prompt shows the message only")
        return format_message(message, {})
    return "\n".join(format_message(m, names) for m in history)


async def sender_name(runtime: Runtime, message: Memory, state: State | None) -> str:
    """The sender's display name (from the state, else their entity)."""
    if state is not None and state.values.get("senderName"):
        return str(state.values["senderName"])
    try:
        return entity_name(await runtime.get_entity_by_id(message.entity_id), "the user")
    except Exception:
        log.exception("could not read the sender's entity")
        return "the user"


async def say(callback: HandlerCallback | None, message: Memory, content: Content) -> None:
    """Send `content` through the callback (when there is one), with the message's source."""
    if callback is not None:
        await callback({"source": message.content.get("source"), **content})


def _current_names(entity: Entity) -> set[str]:
    """The names an entity goes by now: its accounts' display names and usernames (lower case)."""
    names = set()
    for account in entity.metadata.values():
        if isinstance(account, dict):
            for key in ("name", "userName", "username"):
                value = account.get(key)
                if isinstance(value, str) and value.strip():
                    names.add(value.strip().lower())
    return names


def entities_named(entities: Iterable[Entity], reference: str) -> list[Entity]:
    """The entities `reference` may mean: the one with that id; else those whose current name or
    username it is (case-insensitive); else, when nobody goes by it now, those who ever went by
    it (names accumulate: an old name alone never beats someone's current one)."""
    listed = list(entities)
    ref_id = as_uuid(reference.strip())
    if ref_id is not None:
        return [e for e in listed if e.id == ref_id]
    wanted = reference.strip().strip("@").lower()
    if not wanted:
        return []
    current = [e for e in listed if wanted in _current_names(e)]
    if current:
        return current
    return [e for e in listed if any(n.strip().lower() == wanted for n in e.names)]


def find_entity(entities: Iterable[Entity], reference: str) -> Entity | None:
    """The one entity `reference` names among `entities` (pass the room's): by id, else by name
    (`entities_named`); None when nobody or more than one person matches."""
    found = entities_named(entities, reference)
    return found[0] if len(found) == 1 else None


def who_is(entities: Iterable[Entity], reference: str) -> str:
    """Why `reference` names nobody: "I don't know who X is here", or that several people match."""
    count = len(entities_named(entities, reference))
    if count > 1:
        return f"{count} people here go by {reference}: name them by their @username or id."
    return f"I don't know who {reference} is here."


def format_entities(entities: Iterable[Entity]) -> str:
    """People as prompt lines: name and id."""
    return "\n".join(f"- {entity_name(e)} (id {e.id})" for e in entities)


def agent_memory(runtime: Runtime, message: Memory, content: Content) -> Memory:
    """A memory of the agent's own in the message's room (e.g. a thought about what it did)."""
    return Memory(
        entity_id=runtime.agent_id,
        agent_id=runtime.agent_id,
        room_id=message.room_id,
        world_id=message.world_id,
        content={"source": message.content.get("source"), **content},
    )


def uuid_or_none(value: Any) -> uuid.UUID | None:
    """`value` as a UUID, or None."""
    return as_uuid(value)
