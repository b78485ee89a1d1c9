"""ENTITIES (who is in the room) and RELATIONSHIPS (whom the sender is linked to)."""

from __future__ import annotations

import asyncio
import uuid

from plugins.bootstrap.providers.format import add_header, compact_json, entity_name
from shared.plugin import Entity, Memory, Provider, ProviderResult, Relationship, Runtime, State


def format_entity(entity: Entity) -> str:
    """An entity: its name, id, other names, and its components' data."""
    lines = [f'- "{entity_name(entity)}" (id {entity.id})']
    if len(entity.names) > 1:
        lines.append(f"  also known as: {', '.join(entity.names[1:])}")
    for component in entity.components:
        if component.data:
            lines.append(f"  {component.type}: {compact_json(component.data)}")
    return "\n".join(lines)


async def get_entities(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """The room's entities with their names and components."""
    entities = await runtime.get_entities_for_room(message.room_id, include_components=True)
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
    """The sender's relationships, strongest (most interactions) first, with the other's name."""
    sender = message.entity_id
    relationships = sorted(await runtime.get_relationships(sender), key=_strength, reverse=True)
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
