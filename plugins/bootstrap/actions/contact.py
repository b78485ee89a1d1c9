"""UPDATE_CONTACT: save contact details about a person, as their `contact_info` component.

The model reads whose details they are and which fields (email, phone, ...) from the message;
the agent keeps the card as a component of that entity, with itself as the source entity.
"""

from __future__ import annotations

from typing import Any

from plugins.bootstrap.actions.common import ask, find_entity, format_entities, say, transcript
from plugins.bootstrap.parsing import parse_json_block, parse_key_values
from plugins.bootstrap.providers.format import compact_json, entity_name
from shared.plugin import Action, ActionResult, Component, HandlerCallback, Memory, Runtime, State

CONTACT_COMPONENT = "contact_info"
OPERATIONS = ("merge", "replace", "remove")


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
    entities = await runtime.get_entities_for_room(message.room_id, include_components=True)
    sender = next((e for e in entities if e.id == message.entity_id), None)
    sender_card = await runtime.get_component(
        message.entity_id, CONTACT_COMPONENT, source_entity_id=runtime.agent_id
    )
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
            await say(callback, message, {"text": f"I don't know who {reference} is here.",
                                          "actions": ["UPDATE_CONTACT_FAILED"]})  # fmt: skip
            return ActionResult(success=False, error=f"no entity {reference!r} in the room",
                                data={"actionName": "UPDATE_CONTACT"})  # fmt: skip
        target, name = found.id, entity_name(found)
    existing = await runtime.get_component(
        target, CONTACT_COMPONENT, source_entity_id=runtime.agent_id
    )
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
    "sender or someone in the room.",
    handler=update_contact_handler,
    examples=[[{"name": "{{user1}}", "content": {"text": "my email is ann@example.org"}},
               {"name": "{{agentName}}", "content": {"text": "Saved your email.",
                                                      "actions": ["UPDATE_CONTACT"]}}]],
)  # fmt: skip
