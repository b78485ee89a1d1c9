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


def find_entity(entities: Iterable[Entity], reference: str) -> Entity | None:
    """The entity `reference` names: by id, else by any of its names (case-insensitive)."""
    wanted = reference.strip().strip("@").lower()
    ref_id = as_uuid(reference.strip())
    listed = list(entities)
    for entity in listed:
        if ref_id is not None and entity.id == ref_id:
            return entity
    for entity in listed:
        if wanted and any(n.strip().lower() == wanted for n in entity.names):
            return entity
    return None


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
