"""ENTITIES (who is in the room) and RELATIONSHIPS (whom the sender is linked to).

Both keep to the room: ENTITIES shows an entity's components only when they were given in this
room (or, given in no room, belong to this room's world or to no world), so a contact card said
in a DM never reaches a group's prompt; RELATIONSHIPS lists only people who are in this room, so
whom the sender talks to elsewhere is not told here.
"""

from __future__ import annotations

import asyncio
import uuid

from plugins.bootstrap.providers.format import (
    add_header,
    compact_json,
    entity_name,
    room_and_world,
)
from shared.plugin import (
    Component,
    Entity,
    Memory,
    Provider,
    ProviderResult,
    Relationship,
    Runtime,
    State,
)


def format_entity(entity: Entity) -> str:
    """An entity: its name, id, other names, and its components' data."""
    lines = [f'- "{entity_name(entity)}" (id {entity.id})']
    if len(entity.names) > 1:
        lines.append(f"  also known as: {', '.join(entity.names[1:])}")
    for component in entity.components:
        if component.data:
            lines.append(f"  {component.type}: {compact_json(component.data)}")
    return "\n".join(lines)


def visible_here(component: Component, room_id: uuid.UUID, world_id: uuid.UUID | None) -> bool:
    """Whether a component may be shown in this room: given here, or given in no room and of
    this world (or of none)."""
    if component.room_id is not None:
        return component.room_id == room_id
    return component.world_id is None or component.world_id == world_id


async def get_entities(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """The room's entities with their names and the components given in this room."""
    _, world = await room_and_world(runtime, message)
    world_id = world.id if world is not None else message.world_id
    entities = [
        e.model_copy(update={"components": [
            c for c in e.components if visible_here(c, message.room_id, world_id)
        ]})
        for e in await runtime.get_entities_for_room(message.room_id, include_components=True)
    ]  # fmt: skip
    body = "\n".join(format_entity(e) for e in entities)
    sender = next((e for e in entities if e.id == message.entity_id), None)
    text = add_header("# People in this conversation", body)
    return ProviderResult(
        text=text,
        values={
            "entities": body,
            "entitiesInRoom": body,
            "senderName": entity_name(sender, "User"),
        },
        data={"entities": [e.model_dump(mode="json") for e in entities]},
    )


def _strength(relationship: Relationship) -> float:
    value = relationship.metadata.get("interactions", 0)
    return float(value) if isinstance(value, int | float) else 0.0


async def get_relationships(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """The sender's relationships with people in this room, strongest (most interactions) first,
    with the other's name."""
    sender = message.entity_id
    present = set(await runtime.get_participants_for_room(message.room_id))
    relationships = sorted(
        (
            r for r in await runtime.get_relationships(sender)
            if (r.target_entity_id if r.source_entity_id == sender else r.source_entity_id)
            in present
        ),
        key=_strength,
        reverse=True,
    )  # fmt: skip
    others: list[uuid.UUID] = [
        r.target_entity_id if r.source_entity_id == sender else r.source_entity_id
        for r in relationships
    ]
    entities = await asyncio.gather(*(runtime.get_entity_by_id(i) for i in others))
    sender_entity = await runtime.get_entity_by_id(sender)
    lines = []
    for relationship, other_id, other in zip(relationships, others, entities, strict=True):
        tags = f" (tags: {', '.join(relationship.tags)})" if relationship.tags else ""
        lines.append(f"- {entity_name(other)} [{other_id}]{tags}")
    header = (
        f"# {runtime.character.name} has seen {entity_name(sender_entity, 'the sender')} "
        "interact with these people"
    )
    text = add_header(header, "\n".join(lines))
    return ProviderResult(
        text=text,
        values={"relationships": "\n".join(lines)},
        data={"relationships": [r.model_dump(mode="json") for r in relationships]},
    )


ENTITIES = Provider(
    name="ENTITIES",
    description="The people in this conversation, with their names and what is known of them.",
    dynamic=True,
    get=get_entities,
)
RELATIONSHIPS = Provider(
    name="RELATIONSHIPS",
    description="The people the sender is related to, as the agent has observed.",
    dynamic=True,
    get=get_relationships,
)
