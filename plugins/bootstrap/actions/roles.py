"""UPDATE_ROLE: change people's roles in the world (world.metadata["roles"]).

Rules, as ElizaOS's: nobody changes their own role or the role of someone of the same rank;
an OWNER may set any role of anyone below; an ADMIN may make people ADMIN or NONE but never
OWNER, and cannot touch OWNERs; everyone else may change nothing (so the action is offered to
OWNERs and ADMINs only). Only in GROUP and WORLD rooms, as ElizaOS. A person is named by id or by
a name only one person in the room goes by.
"""

from __future__ import annotations

from typing import Any

from plugins.bootstrap.actions.common import (
    ask,
    entities_named,
    find_entity,
    say,
    sender_name,
    transcript,
)
from plugins.bootstrap.parsing import parse_json_block
from plugins.bootstrap.providers.format import channel_type, entity_name, room_and_world
from plugins.bootstrap.providers.roles import (
    ADMIN,
    MANAGERS,
    NONE,
    OWNER,
    normalize_role,
    role_of,
    world_roles,
)
from shared.plugin import Action, ActionResult, HandlerCallback, Memory, Runtime, State


def can_modify_role(actor: str, target: str, new: str, self_change: bool = False) -> bool:
    """Whether someone of role `actor` may change a `target`-role person's role to `new`."""
    if self_change or actor == target:
        return False
    if actor == OWNER:
        return True
    if actor == ADMIN:
        return target != OWNER and new != OWNER
    return False


async def in_a_group_world(runtime: Runtime, message: Memory, state: State | None) -> bool:
    """Valid in GROUP and WORLD rooms that belong to a world, for its OWNERs and ADMINs."""
    room, world = await room_and_world(runtime, message)
    if world is None or channel_type(message, room) not in ("GROUP", "WORLD"):
        return False
    return role_of(world, message.entity_id) in MANAGERS and message.entity_id != runtime.agent_id


async def update_role_handler(
    runtime: Runtime,
    message: Memory,
    state: State | None,
    options: dict[str, Any],
    callback: HandlerCallback | None,
    responses: list[Memory],
) -> ActionResult:
    """Read the requested changes with TEXT_SMALL, apply the permitted ones, report the rest."""
    _, world = await room_and_world(runtime, message)
    if world is None:
        return ActionResult(success=False, error="this room belongs to no world",
                            data={"actionName": "UPDATE_ROLE"})  # fmt: skip
    roles = world_roles(world)
    entities = await runtime.get_entities_for_room(message.room_id)
    listing = "\n".join(
        f"- {entity_name(e)} (id {e.id}): {roles.get(str(e.id), NONE)}" for e in entities
    )
    raw = await ask(runtime, "TEXT_SMALL", "UPDATE_ROLE_TEMPLATE", {
        "entitiesWithRoles": listing,
        "recentMessages": await transcript(runtime, message, state),
        "senderName": await sender_name(runtime, message, state),
    })  # fmt: skip
    data = parse_json_block(raw)
    requests = [d for d in (data if isinstance(data, list) else [data]) if isinstance(d, dict)]
    actor = roles.get(str(message.entity_id), NONE)
    applied: list[str] = []
    refused: list[str] = []
    for request in requests:
        reference = str(request.get("entity") or request.get("entityId") or "")
        entity = find_entity(entities, reference)
        if entity is None:
            several = len(entities_named(entities, reference)) > 1
            refused.append(
                f"{reference} ({'several people go by that name' if several else 'not found'})"
            )
            continue
        new = normalize_role(request.get("role") or request.get("newRole"))
        current = roles.get(str(entity.id), NONE)
        if not can_modify_role(actor, current, new, entity.id == message.entity_id):
            refused.append(f"{entity_name(entity)} (not allowed)")
            continue
        roles[str(entity.id)] = new
        applied.append(f"{entity_name(entity)} is now {new}")
    if applied:
        metadata = {**world.metadata, "roles": roles}
        await runtime.update_world(world.model_copy(update={"metadata": metadata}))
    parts = ([f"Updated roles: {'; '.join(applied)}."] if applied else []) + (
        [f"Not changed: {', '.join(refused)}."] if refused else []
    )
    text = " ".join(parts) or "I couldn't find a role change in that."
    await say(callback, message, {"text": text, "actions": ["UPDATE_ROLE"]})
    return ActionResult(
        success=bool(applied),
        text=text,
        error=None if applied else "no role was changed",
        values={"rolesChanged": len(applied)},
        data={"actionName": "UPDATE_ROLE", "applied": applied, "refused": refused,
              "worldId": str(world.id)},
    )  # fmt: skip


UPDATE_ROLE = Action(
    name="UPDATE_ROLE",
    similes=["CHANGE_ROLE", "SET_PERMISSIONS", "ASSIGN_ROLE", "MAKE_ADMIN"],
    description="Make someone OWNER, ADMIN or NONE in this server, if the sender may.",
    validate=in_a_group_world,
    handler=update_role_handler,
    examples=[[{"name": "{{user1}}", "content": {"text": "make Bob an admin"}},
               {"name": "{{agentName}}", "content": {"text": "Bob is now an admin.",
                                                      "actions": ["UPDATE_ROLE"]}}]],
)  # fmt: skip

__all__ = ["UPDATE_ROLE", "can_modify_role"]
