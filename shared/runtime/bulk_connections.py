"""ensure_connections: a world, many rooms and many entities at once (ElizaOS's bulk version).

As in ElizaOS: the world is ensured, missing rooms are created in it, missing entities are created
in batches, the agent joins the first room and so do the entities that are not in it yet. Every
fact is an event whose id is derived from what it is about, so running it twice, or beside the
message path, records each fact once. Each batch is one append: one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

import asyncpg

from shared.events import NewEvent, ParticipantAdded, RoomCreated, WorldCreated
from shared.eventstore import EventStore
from shared.records import EntitySpec, RoomSpec, WorldSpec
from shared.runtime.connections import entity_created_event, fact_event

BATCH_SIZE = 5000


def _batches(items: Sequence[NewEvent], size: int) -> Iterator[Sequence[NewEvent]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def ensure_connections(
    pool: asyncpg.Pool,
    store: EventStore,
    agent_id: uuid.UUID,
    entities: Sequence[EntitySpec],
    rooms: Sequence[RoomSpec],
    source: str,
    world: WorldSpec,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Connect many entities and rooms in one world; returns how many events were recorded."""
    room_ids = [r.id for r in rooms]
    entity_ids = [e.id for e in entities]
    known_rooms = {r["id"] for r in await pool.fetch(
        "SELECT id FROM rooms WHERE id = any($1::uuid[])", room_ids)}  # fmt: skip
    known_entities = {r["id"] for r in await pool.fetch(
        "SELECT id FROM entities WHERE id = any($1::uuid[])", entity_ids)}  # fmt: skip
    events: list[NewEvent] = [
        fact_event(
            WorldCreated(id=world.id, agent_id=agent_id, name=world.name,
                         server_id=world.server_id, metadata=world.metadata),
            world.id, agent_id=agent_id,
        )
    ]  # fmt: skip
    events += [
        fact_event(
            RoomCreated(id=r.id, agent_id=agent_id, name=r.name, source=source, type=r.type,
                        channel_id=r.channel_id, server_id=world.server_id, world_id=world.id),
            r.id, agent_id=agent_id,
        )
        for r in rooms
        if r.id not in known_rooms
    ]  # fmt: skip
    events += [
        entity_created_event(e.id, agent_id, e.names, e.metadata)
        for e in entities
        if e.id not in known_entities
    ]
    if rooms:
        first = rooms[0].id
        present = {r["entity_id"] for r in await pool.fetch(
            "SELECT entity_id FROM participants WHERE room_id = $1", first)}  # fmt: skip
        events += [
            fact_event(ParticipantAdded(room_id=first, entity_id=member, agent_id=agent_id),
                       first, f"participant:{member}", agent_id)
            for member in [agent_id, *entity_ids]
            if member not in present
        ]  # fmt: skip
    recorded = 0
    for batch in _batches(events, batch_size):
        recorded += len((await store.append(batch)).recorded)
    return recorded
