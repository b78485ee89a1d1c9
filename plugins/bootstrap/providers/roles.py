"""ROLES: who is OWNER or ADMIN of the world (world.metadata["roles"]: entity id -> role).

Also the role helpers UPDATE_ROLE and UPDATE_SETTINGS use: ElizaOS's roles are OWNER, ADMIN and
NONE (MEMBER is read as NONE).
"""

from __future__ import annotations

import asyncio
import uuid

from plugins.bootstrap.providers.format import add_header, channel_type, entity_name, room_and_world
from shared.plugin import Memory, Provider, ProviderResult, Runtime, State, World

OWNER, ADMIN, NONE = "OWNER", "ADMIN", "NONE"
ROLES_ORDER = (OWNER, ADMIN, NONE)
MANAGERS = frozenset({OWNER, ADMIN})
"""The roles that may run actions with effects on others (CHOOSE_OPTION, SEND_MESSAGE, another
person's UPDATE_CONTACT, UPDATE_ROLE), as ElizaOS's getUserServerRole checks allow."""


def world_roles(world: World | None) -> dict[str, str]:
    """The world's roles, entity id (as text) -> OWNER / ADMIN / NONE."""
    raw = world.metadata.get("roles") if world is not None else None
    if not isinstance(raw, dict):
        return {}
    return {str(k): normalize_role(v) for k, v in raw.items()}


def normalize_role(value: object) -> str:
    """A role name as OWNER, ADMIN or NONE (anything else is NONE)."""
    role = str(value or "").strip().upper()
    return role if role in (OWNER, ADMIN) else NONE


def role_of(world: World | None, entity_id: uuid.UUID) -> str:
    """The role of an entity in a world (NONE when it has none)."""
    return world_roles(world).get(str(entity_id), NONE)


async def sender_role(runtime: Runtime, message: Memory) -> str:
    """The sender's role in the world of the message's room: OWNER, ADMIN, or NONE (also when the
    room belongs to no world). The agent never holds a role through a message: a message cannot
    speak as the agent."""
    if message.entity_id == runtime.agent_id:
        return NONE
    _, world = await room_and_world(runtime, message)
    return role_of(world, message.entity_id)


async def get_roles(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """The world's owners and admins by name; roles are not shown in DMs."""
    room, world = await room_and_world(runtime, message)
    if channel_type(message, room) in ("DM", "VOICE_DM", "SELF"):
        return ProviderResult(text="", values={"roles": ""}, data={"roles": {}})
    roles = {k: v for k, v in world_roles(world).items() if v != NONE}
    ids = list(roles)
    entities = await asyncio.gather(
        *(runtime.get_entity_by_id(u) for i in ids if (u := _uuid(i)) is not None)
    )
    names = {str(e.id): entity_name(e) for e in entities if e is not None}
    lines = []
    for role in (OWNER, ADMIN):
        holders = [f"{names.get(i, 'Unknown')} ({i})" for i in ids if roles[i] == role]
        if holders:
            lines.append(f"{role.title()}s: {', '.join(holders)}")
    world_name = world.name if world is not None and world.name else "this server"
    text = add_header(f"# Roles in {world_name}", "\n".join(lines))
    return ProviderResult(text=text, values={"roles": "\n".join(lines)}, data={"roles": roles})


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


ROLES = Provider(
    name="ROLES",
    description="The roles in this server: who is OWNER or ADMIN (everyone else is NONE).",
    dynamic=True,
    get=get_roles,
)
