"""SEND_MESSAGE: send a message to another person or room than the current one.

Only an OWNER or ADMIN of the current room's world may make the agent speak elsewhere. The
targets offered (and accepted) are the other rooms of that world where both the sender and the
agent take part (never another person's DM, never another world's rooms), and the people in the
current room. TEXT_SMALL reads the target and the text; the callback gets `{"text", "target":
{...}}` and the message handler's callback routes it (`target` has `type` "user" with
`entityId`, or "room" with `roomId` and the room's `source`).
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
    who_is,
)
from plugins.bootstrap.parsing import parse_key_values
from plugins.bootstrap.providers.format import as_uuid, room_and_world
from plugins.bootstrap.providers.roles import MANAGERS, sender_role
from shared.plugin import Action, ActionResult, HandlerCallback, Memory, Room, Runtime, State


def _find_room(rooms: list[Room], reference: str) -> Room | None:
    """The one room `reference` names (id, else name without a leading #), or None."""
    ref_id, wanted = as_uuid(reference.strip()), reference.strip().lstrip("#").lower()
    if ref_id is not None:
        return next((r for r in rooms if r.id == ref_id), None)
    named = [r for r in rooms if wanted and (r.name or "").lstrip("#").lower() == wanted]
    return named[0] if len(named) == 1 else None


async def allowed_rooms(runtime: Runtime, message: Memory) -> list[Room]:
    """Where the sender may make the agent speak: the other rooms of the current room's world in
    which both the sender and the agent take part."""
    _, world = await room_and_world(runtime, message)
    if world is None:
        return []
    rooms, senders, agents = await asyncio.gather(
        runtime.get_rooms(world.id),
        runtime.get_rooms_for_participant(message.entity_id),
        runtime.get_rooms_for_participant(runtime.agent_id),
    )
    shared = set(senders) & set(agents)
    return [r for r in rooms if r.id in shared and r.id != message.room_id]


async def may_send(runtime: Runtime, message: Memory, state: State | None) -> bool:
    """Valid when the sender is OWNER or ADMIN of the current room's world."""
    return await sender_role(runtime, message) in MANAGERS


async def send_message_handler(
    runtime: Runtime,
    message: Memory,
    state: State | None,
    options: dict[str, Any],
    callback: HandlerCallback | None,
    responses: list[Memory],
) -> ActionResult:
    """Find the target and text with TEXT_SMALL and hand the message to the callback."""
    if await sender_role(runtime, message) not in MANAGERS:
        refusal = "Only an owner or admin of this server can have me send messages elsewhere."
        await say(callback, message, {"text": refusal, "actions": ["SEND_MESSAGE_REFUSED"]})
        return ActionResult(success=False, error="the sender is neither OWNER nor ADMIN",
                            data={"actionName": "SEND_MESSAGE"})  # fmt: skip
    rooms = await allowed_rooms(runtime, message)
    entities = [
        e for e in await runtime.get_entities_for_room(message.room_id)
        if e.id != runtime.agent_id
    ]  # fmt: skip
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
        if target is None and kind in ("user", "entity") and reference:
            problem = who_is(entities, reference)
        elif target is None:
            problem = f"I couldn't find {reference or 'who or where to send it'} here."
        else:
            problem = "I couldn't tell what to send."
        await say(callback, message, {"text": problem, "actions": ["SEND_MESSAGE_FAILED"]})
        return ActionResult(success=False, error=problem,
                            data={"actionName": "SEND_MESSAGE", "answer": raw})  # fmt: skip
    if answer.get("source") and target["type"] == "user":
        target["source"] = answer["source"]
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
    validate=may_send,
    handler=send_message_handler,
    examples=[[{"name": "{{user1}}", "content": {"text": "tell Bob in #general that I'm late"}},
               {"name": "{{agentName}}", "content": {"text": "I'll let him know.",
                                                      "actions": ["SEND_MESSAGE"]}}]],
)  # fmt: skip
