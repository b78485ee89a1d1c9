"""UPDATE_CONTACT: save contact details about a person, as their `contact_info` component.

The model reads whose details they are and which fields (email, phone, ...) from the message;
the agent keeps the card as a component of that entity, with itself as the source entity.
Anyone may change their own card; changing someone else's takes an OWNER or ADMIN of the room's
world (ElizaOS keys such cards by who gave them; here the agent keeps one card, so who may
write it is checked instead). A card belongs to the room it was given in: what someone said in
a DM is never read back, or shown in a prompt, in another room (see providers/people.py).
"""

from __future__ import annotations

import uuid
from typing import Any

from plugins.bootstrap.actions.common import (
    ask,
    find_entity,
    format_entities,
    say,
    transcript,
    who_is,
)
from plugins.bootstrap.parsing import parse_json_block, parse_key_values
from plugins.bootstrap.providers.format import compact_json, entity_name
from plugins.bootstrap.providers.roles import MANAGERS, sender_role
from shared.plugin import Action, ActionResult, Component, HandlerCallback, Memory, Runtime, State

CONTACT_COMPONENT = "contact_info"
OPERATIONS = ("merge", "replace", "remove")


async def contact_card(
    runtime: Runtime, entity_id: uuid.UUID, room_id: uuid.UUID
) -> Component | None:
    """The agent's contact card of an entity given in this room, or None."""
    components = await runtime.get_components(entity_id, source_entity_id=runtime.agent_id)
    cards = [c for c in components if c.type == CONTACT_COMPONENT and c.room_id == room_id]
    return min(cards, key=lambda c: c.created_at) if cards else None


def _request(raw: str) -> dict[str, Any]:
    """The model's answer as {entity, operation, fields} (tolerating XML or broken JSON)."""
    data = parse_json_block(raw)
    if not isinstance(data, dict) or not ({"fields", "entity"} & set(data)):
        data = dict(parse_key_values(raw))
        fields = parse_json_block(str(data.get("fields", "")))
        data["fields"] = fields if isinstance(fields, dict) else {}
    fields = data.get("fields")
    operation = str(data.get("operation") or "merge").lower()
    return {
        "entity": str(data.get("entity") or "sender"),
        "operation": operation if operation in OPERATIONS else "merge",
        "fields": {str(k): v for k, v in fields.items() if k} if isinstance(fields, dict) else {},
    }


def updated(current: dict[str, Any], operation: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The contact card after applying `operation` with `fields`."""
    if operation == "replace":
        return dict(fields)
    if operation == "remove":
        return {k: v for k, v in current.items() if k not in fields}
    return {**current, **fields}


async def update_contact_handler(
    runtime: Runtime,
    message: Memory,
    state: State | None,
    options: dict[str, Any],
    callback: HandlerCallback | None,
    responses: list[Memory],
) -> ActionResult:
    """Extract the details with TEXT_SMALL and create or update the contact component."""
    entities = await runtime.get_entities_for_room(message.room_id)
    sender = next((e for e in entities if e.id == message.entity_id), None)
    sender_card = await contact_card(runtime, message.entity_id, message.room_id)
    raw = await ask(runtime, "TEXT_SMALL", "UPDATE_CONTACT_TEMPLATE", {
        "entitiesInRoom": format_entities(entities),
        "currentContact": compact_json(sender_card.data) if sender_card else "nothing yet",
        "recentMessages": await transcript(runtime, message, state),
        "senderName": entity_name(sender, "the user"),
    })  # fmt: skip
    request = _request(raw)
    if not request["fields"]:
        await say(callback, message, {"text": "I couldn't tell which contact details to save.",
                                      "actions": ["UPDATE_CONTACT_FAILED"]})  # fmt: skip
        return ActionResult(success=False, error="no contact fields in the model's answer",
                            data={"actionName": "UPDATE_CONTACT", "answer": raw})  # fmt: skip
    reference = request["entity"]
    if reference.lower() in ("sender", "me", "self", ""):
        target = sender.id if sender else message.entity_id
        name = entity_name(sender, "you")
    else:
        found = find_entity(entities, reference)
        if found is None:
            problem = who_is(entities, reference)
            await say(callback, message, {"text": problem,
                                          "actions": ["UPDATE_CONTACT_FAILED"]})  # fmt: skip
            return ActionResult(success=False, error=f"no one entity {reference!r} in the room",
                                data={"actionName": "UPDATE_CONTACT"})  # fmt: skip
        target, name = found.id, entity_name(found)
    if target == runtime.agent_id or (
        target != message.entity_id and await sender_role(runtime, message) not in MANAGERS
    ):
        refusal = f"Only {name} (or an owner or admin of this server) can change their details."
        await say(callback, message, {"text": refusal, "actions": ["UPDATE_CONTACT_REFUSED"]})
        return ActionResult(
            success=False,
            error="the sender may not change this contact card",
            data={"actionName": "UPDATE_CONTACT", "entityId": str(target)},
        )
    existing = await contact_card(runtime, target, message.room_id)
    data = updated(existing.data if existing else {}, request["operation"], request["fields"])
    if existing is not None:
        await runtime.update_component(existing.model_copy(update={"data": data}))
    else:
        await runtime.create_component(
            Component(entity_id=target, agent_id=runtime.agent_id, room_id=message.room_id,
                      world_id=message.world_id, source_entity_id=runtime.agent_id,
                      type=CONTACT_COMPONENT, data=data)
        )  # fmt: skip
    fields = ", ".join(sorted(request["fields"]))
    verb = "removed" if request["operation"] == "remove" else "saved"
    text = f"I've {verb} {fields} for {name}."
    await say(callback, message, {"text": text, "actions": ["UPDATE_CONTACT"]})
    return ActionResult(
        text=text,
        values={"contactUpdated": True},
        data={"actionName": "UPDATE_CONTACT", "entityId": str(target), "contact": data},
    )


UPDATE_CONTACT = Action(
    name="UPDATE_CONTACT",
    similes=["UPDATE_ENTITY", "SAVE_CONTACT", "ADD_CONTACT_INFO", "UPDATE_CONTACT_INFO"],
    description="Save, change or remove contact details (email, phone, handles, notes) of the "
    "sender (or, for owners and admins, of someone in the room).",
    handler=update_contact_handler,
    examples=[[{"name": "{{user1}}", "content": {"text": "my email is ann@example.org"}},
               {"name": "{{agentName}}", "content": {"text": "Saved your email.",
                                                      "actions": ["UPDATE_CONTACT"]}}]],
)  # fmt: skip
