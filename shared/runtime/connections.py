"""ensure_connection as events: entity, world, room and both participants, each recorded once."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

from services.orchestrator.readmodel import ReadModel
from shared.events import (
    EntityCreated,
    EntityUpdated,
    EventData,
    EventMetadata,
    NewEvent,
    ParticipantAdded,
    RoomCreated,
    WorldCreated,
)
from shared.ids import derived_id


@dataclass(frozen=True)
class Connection:
    """Who spoke where, in agent-scoped ids, with the platform's names for them."""

    agent_id: uuid.UUID
    entity_id: uuid.UUID
    room_id: uuid.UUID
    world_id: uuid.UUID
    source: str
    platform_user_id: str
    name: str | None
    username: str | None
    room_name: str | None
    room_type: str
    channel_id: str
    server_id: str


# A participant belongs to its room's stream; every other fact to the stream of what it is about.
_STREAM_OF_KIND = {"participant": "room"}


def fact_event(
    payload: EventData,
    subject: uuid.UUID,
    key: str | None = None,
    agent_id: uuid.UUID | None = None,
) -> NewEvent:
    """An event stating a fact about `subject` once: its id is derived from the subject and `key`
    (default: the event type), so whichever path records the fact first wins and the others'
    appends of it are no-ops. All connection paths build their facts here."""
    kind = payload.event_type.split(".", 1)[0]
    return NewEvent.of(
        payload,
        event_id=derived_id(subject, key or payload.event_type),
        stream_id=f"{_STREAM_OF_KIND.get(kind, kind)}-{subject}",
        metadata=EventMetadata(agent_id=agent_id),
    )


def entity_created_event(
    entity_id: uuid.UUID, agent_id: uuid.UUID, names: list[str], metadata: dict[str, object]
) -> NewEvent:
    """The one `entity.created` an entity ever gets."""
    return fact_event(
        EntityCreated(id=entity_id, agent_id=agent_id, names=names, metadata=metadata),
        entity_id,
        agent_id=agent_id,
    )


class ConnectionManager:
    """Emits the events that make a connection exist, skipping what is known to exist.

    A process-local cache remembers connections already complete; on a miss one read of the
    projections says what is lacking. Event ids are derived from the facts, so two orchestrators
    racing on the same connection append each fact once.
    """

    def __init__(self, read_model: ReadModel, max_cached: int = 100_000) -> None:
        self.read_model = read_model
        self.max_cached = max_cached
        self._complete: set[Connection] = set()

    def remember(self, conn: Connection) -> None:
        """Mark a connection complete (call after its events are committed)."""
        if len(self._complete) >= self.max_cached:
            self._complete.clear()
        self._complete.add(conn)

    async def missing_events(self, c: Connection) -> list[NewEvent]:
        """The events this connection still needs; empty when it is complete."""
        if c in self._complete:
            return []
        state = await self.read_model.connection_state(
            c.agent_id, c.entity_id, c.room_id, c.world_id
        )
        names = [n for n in (c.name, c.username) if n]
        meta: dict[str, object] = {
            c.source: {"id": c.platform_user_id, "name": c.name, "userName": c.username}
        }
        events: list[NewEvent] = []
        if state.entity_names is None:
            events.append(entity_created_event(c.entity_id, c.agent_id, names, meta))
        elif not set(names) <= set(state.entity_names) or any(
            state.entity_metadata.get(k) != v for k, v in meta.items()
        ):
            digest = hashlib.sha256(json.dumps([names, meta], sort_keys=True).encode()).hexdigest()[
                :32
            ]
            events.append(
                fact_event(
                    EntityUpdated(id=c.entity_id, agent_id=c.agent_id, names=names, metadata=meta),
                    c.entity_id,
                    f"entity.updated:{digest}",
                    c.agent_id,
                )
            )
        if not state.world_exists:
            events.append(
                fact_event(
                    WorldCreated(
                        id=c.world_id,
                        agent_id=c.agent_id,
                        name=f"World for server {c.server_id}",
                        server_id=c.server_id,
                    ),
                    c.world_id,
                    agent_id=c.agent_id,
                )
            )
        if not state.room_exists:
            events.append(
                fact_event(
                    RoomCreated(
                        id=c.room_id,
                        agent_id=c.agent_id,
                        name=c.room_name,
                        source=c.source,
                        type=c.room_type,
                        channel_id=c.channel_id,
                        server_id=c.server_id,
                        world_id=c.world_id,
                    ),
                    c.room_id,
                    agent_id=c.agent_id,
                )
            )
        for member in (c.entity_id, c.agent_id):
            if member not in state.participants:
                events.append(
                    fact_event(
                        ParticipantAdded(room_id=c.room_id, entity_id=member, agent_id=c.agent_id),
                        c.room_id,
                        f"participant:{member}",
                        c.agent_id,
                    )
                )
        return events
