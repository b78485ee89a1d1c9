"""REFLECTION: after enough new messages, note facts and relationships from the conversation.

When it runs: once at least `ceil(conversation_length / 4)` messages (8 by default) came into the
room since the last reflection (ElizaOS's cadence). Each reflection leaves a marker memory in the
`reflections` table (the agent's thought and the newest message it covered), so the cadence
survives restarts and replays from the log.

What it does: TEXT_SMALL is asked (JSON, with XML accepted) for a thought, new facts and
relationships. Facts go to the `facts` table in the message's room, attributed to the message's
sender, with the entity they are about in `metadata["about"]`; known facts are not stored twice.
Relationships between entities of the room are created, or their tags merged and interaction
count raised. Malformed output yields no facts and no relationships, never an error.
"""

from __future__ import annotations

import math
import time
import uuid
from typing import Any

from plugins.bootstrap.actions.common import ask, find_entity, format_entities, transcript
from plugins.bootstrap.parsing import parse_json_block, parse_key_values, parse_tag_list
from plugins.bootstrap.providers.format import conversation_length
from shared.plugin import ActionResult, Entity, Evaluator, HandlerCallback, Memory, Runtime, State

REFLECTIONS_TABLE = "reflections"
FACTS_TABLE = "facts"
KNOWN_FACTS_SHOWN = 30
FACT_TYPES = ("fact", "opinion", "status")


def reflection_interval(runtime: Runtime) -> int:
    """New messages needed between reflections: a quarter of the conversation length."""
    return max(1, math.ceil(conversation_length(runtime) / 4))


async def _last_marker(runtime: Runtime, room_id: uuid.UUID) -> Memory | None:
    markers = await runtime.get_memories(room_id=room_id, table_name=REFLECTIONS_TABLE, count=5)
    return max(markers, key=lambda m: m.created_at, default=None)


async def new_messages(runtime: Runtime, message: Memory) -> list[Memory]:
    """The room's messages since the last reflection, the message being handled included."""
    marker = await _last_marker(runtime, message.room_id)
    since = int(marker.content.get("lastMessageAt") or 0) if marker else 0
    count = conversation_length(runtime)
    recent = await runtime.get_memories(room_id=message.room_id, count=count)
    fresh = {m.id: m for m in recent if m.created_at > since}
    if message.created_at > since:
        fresh[message.id] = message
    return sorted(fresh.values(), key=lambda m: m.created_at)


async def should_reflect(runtime: Runtime, message: Memory, state: State | None) -> bool:
    """Valid once `reflection_interval` new messages came in since the last reflection."""
    return len(await new_messages(runtime, message)) >= reflection_interval(runtime)


def _xml_items(raw: str, group: str, item: str) -> list[dict[str, Any]]:
    block = parse_key_values(raw).get(group, "")
    return [dict(parse_key_values(body)) for body in parse_tag_list(block, item)]


def read_reflection(raw: str) -> dict[str, Any]:
    """The model's answer as {thought, facts: [dict], relationships: [dict]}, from JSON or XML;
    empty lists when it cannot be read."""
    data = parse_json_block(raw)
    if isinstance(data, dict) and ("facts" in data or "relationships" in data):
        facts, relationships = data.get("facts"), data.get("relationships")
        thought = str(data.get("thought") or "")
    else:
        thought = parse_key_values(raw).get("thought", "")
        facts = _xml_items(raw, "facts", "fact")
        relationships = _xml_items(raw, "relationships", "relationship")
    return {
        "thought": thought,
        "facts": [f for f in facts if isinstance(f, dict)] if isinstance(facts, list) else [],
        "relationships": [r for r in relationships if isinstance(r, dict)]
        if isinstance(relationships, list)
        else [],
    }


def _tags(value: Any) -> list[str]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    return [str(t).strip() for t in items if str(t).strip()]


async def _store_facts(
    runtime: Runtime, message: Memory, people: list[Entity], facts: list[dict[str, Any]],
    known: set[str],
) -> list[str]:  # fmt: skip
    stored = []
    for fact in facts:
        claim = str(fact.get("claim") or fact.get("text") or "").strip()
        if not claim or claim.lower() in known or str(fact.get("already_known")).lower() == "true":
            continue
        about = find_entity(people, str(fact.get("entity") or ""))
        kind = str(fact.get("type") or "fact").lower()
        await runtime.create_memory(
            Memory(
                entity_id=message.entity_id,
                agent_id=runtime.agent_id,
                room_id=message.room_id,
                world_id=message.world_id,
                content={"text": claim, "type": kind if kind in FACT_TYPES else "fact",
                         "source": "reflection"},
                metadata={"about": str(about.id) if about else None,
                          "messageId": str(message.id)},
            ),
            FACTS_TABLE,
        )  # fmt: skip
        known.add(claim.lower())
        stored.append(claim)
    return stored


async def _store_relationships(
    runtime: Runtime, people: list[Entity], relationships: list[dict[str, Any]]
) -> int:
    changed = 0
    for item in relationships:
        source = find_entity(people, str(item.get("source") or item.get("sourceEntityId") or ""))
        target = find_entity(people, str(item.get("target") or item.get("targetEntityId") or ""))
        if source is None or target is None or source.id == target.id:
            continue
        tags = _tags(item.get("tags"))
        existing = await runtime.get_relationship(source.id, target.id)
        if existing is None:
            await runtime.create_relationship(source.id, target.id, tags, {"interactions": 1})
        else:
            merged = list(dict.fromkeys([*existing.tags, *tags]))
            count = existing.metadata.get("interactions", 0)
            metadata = {
                **existing.metadata,
                "interactions": (count if isinstance(count, int) else 0) + 1,
            }
            await runtime.update_relationship(
                existing.model_copy(update={"tags": merged, "metadata": metadata})
            )  # fmt: skip
        changed += 1
    return changed


async def reflection_handler(
    runtime: Runtime,
    message: Memory,
    state: State | None,
    options: dict[str, Any],
    callback: HandlerCallback | None,
    responses: list[Memory],
) -> ActionResult:
    """Ask the model to reflect, store new facts and relationships, and mark the reflection."""
    covered = await new_messages(runtime, message)
    people = await runtime.get_entities_for_room(message.room_id)
    agent = Entity(id=runtime.agent_id, agent_id=runtime.agent_id,
                   names=[runtime.character.name])  # fmt: skip
    people = [*people, agent] if all(p.id != runtime.agent_id for p in people) else people
    facts = await runtime.get_memories(
        room_id=message.room_id, table_name=FACTS_TABLE, count=KNOWN_FACTS_SHOWN
    )
    relationships = await runtime.get_relationships(message.entity_id)
    names = {p.id: p.names[0] if p.names else str(p.id) for p in people}
    raw = await ask(runtime, "TEXT_SMALL", "REFLECTION_TEMPLATE", {
        "entitiesInRoom": format_entities(people),
        "knownFacts": "\n".join(f"- {f.text}" for f in facts) or "none yet",
        "existingRelationships": "\n".join(
            f"- {names.get(r.source_entity_id, r.source_entity_id)} -> "
            f"{names.get(r.target_entity_id, r.target_entity_id)}: {', '.join(r.tags)}"
            for r in relationships) or "none yet",
        "recentMessages": await transcript(runtime, message, state),
    })  # fmt: skip
    reflection = read_reflection(raw)
    known = {f.text.strip().lower() for f in facts}
    stored = await _store_facts(runtime, message, people, reflection["facts"], known)
    linked = await _store_relationships(runtime, people, reflection["relationships"])
    last = covered[-1] if covered else message
    await runtime.create_memory(
        Memory(entity_id=runtime.agent_id, agent_id=runtime.agent_id, room_id=message.room_id,
               world_id=message.world_id,
               content={"thought": reflection["thought"], "type": "reflection",
                        "lastMessageId": str(last.id), "lastMessageAt": last.created_at,
                        "at": int(time.time() * 1000)}),
        REFLECTIONS_TABLE,
    )  # fmt: skip
    return ActionResult(
        text=reflection["thought"] or None,
        values={"reflected": True},
        data={"thought": reflection["thought"], "facts": stored, "relationships": linked},
    )


REFLECTION = Evaluator(
    name="REFLECTION",
    similes=["REFLECT", "SELF_REFLECT", "EVALUATE_INTERACTION", "ASSESS_SITUATION"],
    description="Every few messages, reflect on the conversation and remember new facts about "
    "people and the relationships between them.",
    validate=should_reflect,
    handler=reflection_handler,
    examples=[[{"name": "{{user1}}", "content": {"text": "I just moved to Lisbon."}},
               {"name": "{{agentName}}", "content": {"text": "How do you like it?"}}]],
)  # fmt: skip
