"""SEND_MESSAGE: send a message to another person or room than the current one.

TEXT_SMALL reads the target and the text; the callback gets `{"text", "target": {...}}` and the
message handler's callback routes it (`target` has `type` "user" with `entityId`, or "room" with
`roomId`, and `source` when one was named).
"""

from __future__ import annotations

import asyncio
from typing import Any

from plugins.bootstrap.actions.common import (
    ask,
    find_entity,
    format_entities,
    say,
    sender_name,
    transcript,
)
from plugins.bootstrap.parsing import parse_key_values
from plugins.bootstrap.providers.format import as_uuid
from shared.plugin import Action, ActionResult, HandlerCallback, Memory, Room, Runtime, State


def _find_room(rooms: list[Room], reference: str) -> Room | None:
    ref_id, wanted = as_uuid(reference.strip()), reference.strip().lstrip("#").lower()
    for room in rooms:
        if room.id == ref_id or (wanted and (room.name or "").lstrip("#").lower() == wanted):
            return room
    return None


async def _agent_rooms(runtime: Runtime) -> list[Room]:
    ids = await runtime.get_rooms_for_participant(runtime.agent_id)
    rooms = await asyncio.gather(*(runtime.get_room(i) for i in ids))
    return [r for r in rooms if r is not None]


async def send_message_handler(
    runtime: Runtime,
    message: Memory,
    state: State | None,
    options: dict[str, Any],
    callback: HandlerCallback | None,
    responses: list[Memory],
) -> ActionResult:
    """Find the target and text with TEXT_SMALL and hand the message to the callback."""
    rooms = await _agent_rooms(runtime)
    entities = await runtime.get_entities_for_room(message.room_id)
    raw = await ask(runtime, "TEXT_SMALL", "SEND_MESSAGE_TEMPLATE", {
        "rooms": "\n".join(f"- {r.name or r.id} (id {r.id}, {r.source})" for r in rooms),
        "entitiesInRoom": format_entities(entities),
        "recentMessages": await transcript(runtime, message, state),
        "senderName": await sender_name(runtime, message, state),
    })  # fmt: skip
    answer = parse_key_values(raw)
    kind = answer.get("targettype", "").strip().lower()
    reference, text = answer.get("target", ""), answer.get("text", "").strip()
    target: dict[str, Any] | None = None
    if kind == "room" and (room := _find_room(rooms, reference)) is not None:
        target = {"type": "room", "roomId": str(room.id), "source": room.source}
    elif kind in ("user", "entity") and (entity := find_entity(entities, reference)) is not None:
        target = {"type": "user", "entityId": str(entity.id)}
    if target is None or not text:
        problem = f"I couldn't find {reference or 'who or where to send it'}." if target is None \
            else "I couldn't tell what to send."  # fmt: skip
        await say(callback, message, {"text": problem, "actions": ["SEND_MESSAGE_FAILED"]})
        return ActionResult(success=False, error=problem,
                            data={"actionName": "SEND_MESSAGE", "answer": raw})  # fmt: skip
    if answer.get("source"):
        target.setdefault("source", answer["source"])
    await say(callback, message, {"text": text, "target": target, "actions": ["SEND_MESSAGE"]})
    return ActionResult(
        text=f"Sent to {reference}: {text}",
        values={"messageSent": True},
        data={"actionName": "SEND_MESSAGE", "target": target, "text": text},
    )


SEND_MESSAGE = Action(
    name="SEND_MESSAGE",
    similes=["DM", "MESSAGE", "SEND_DM", "POST_MESSAGE", "DIRECT_MESSAGE", "NOTIFY"],
    description="Send a message to a specific person or another room (not the current one).",
    handler=send_message_handler,
    examples=[[{"name": "{{user1}}", "content": {"text": "tell Bob in #general that I'm late"}},
               {"name": "{{agentName}}", "content": {"text": "I'll let him know.",
                                                      "actions": ["SEND_MESSAGE"]}}]],
)  # fmt: skip
