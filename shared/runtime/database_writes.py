"""The write half of the agent's database surface: every write is an event.

Writes go through `self.record`: inside a message's run they join the run's single append and
become visible to reads when the run commits; outside a run they are appended at once. Facts
(an entity, world, room or participant existing, a relationship) get ids derived from what they
are about, so recording one twice, or from two paths at once, is a no-op; changes (updates,
deletes, removals) get fresh ids.
"""

from __future__ import annotations

import uuid
from typing import Any

from shared.connection_events import (
    ComponentCreated,
    ComponentDeleted,
    ComponentUpdated,
    MemoryDeleted,
    ParticipantRemoved,
    ParticipantStateChanged,
    RelationshipCreated,
    RelationshipUpdated,
    RoomDeleted,
    RoomUpdated,
    WorldUpdated,
)
from shared.events import (
    EntityCreated,
    EntityUpdated,
    EventData,
    NewEvent,
    ParticipantAdded,
    RoomCreated,
    WorldCreated,
    now_ms,
)
from shared.eventstore import EventStore
from shared.ids import derived_id
from shared.readmodel.protocol import AgentReadModel, ConnectionState
from shared.records import Component, Entity, ParticipantState, Relationship, Room, World
from shared.runtime.connections import (
    Connection,
    connection_events,
    default_world_id,
    fact_event,
    fresh_ids_for_undone,
)
from shared.secrets import remember_world_secrets


def relationship_id(
    agent_id: uuid.UUID, source_entity_id: uuid.UUID, target_entity_id: uuid.UUID
) -> uuid.UUID:
    """The one id of the agent's relationship from source to target."""
    return derived_id(source_entity_id, f"relationship:{target_entity_id}:{agent_id}")


class DatabaseWrites:
    """ElizaOS's database writes on the runtime (createEntity, ensureConnection, ...)."""

    db: AgentReadModel | None
    store: EventStore

    @property
    def agent_id(self) -> uuid.UUID:
        raise NotImplementedError

    async def record(
        self, payload: EventData, stream_id: str | None = None, event_id: uuid.UUID | None = None
    ) -> None:
        raise NotImplementedError

    async def record_events(self, events: list[NewEvent]) -> None:
        raise NotImplementedError

    async def _fact(self, payload: EventData, subject: uuid.UUID, key: str | None = None) -> None:
        """Record a fact under its derived id; when the log already holds that id while the read
        model lacks the fact (it was undone since), under a fresh id (`fresh_ids_for_undone`)."""
        events = [fact_event(payload, subject, key, self.agent_id)]
        if self.db is not None:
            events = await fresh_ids_for_undone(self.store, events)
        await self.record_events(events)

    # --- memories ---------------------------------------------------------------------------

    async def delete_memory(self, memory_id: uuid.UUID) -> None:
        """Remove a memory (visible once recorded; inside a run, once the run commits)."""
        await self.record(MemoryDeleted(id=memory_id, agent_id=self.agent_id))

    # --- entities and components -------------------------------------------------------------

    async def create_entity(self, entity: Entity) -> bool:
        """Create an entity of this agent; False when it exists already (nothing recorded)."""
        if self.db is not None and await self.db.get_entity_by_id(entity.id) is not None:
            return False
        await self._fact(
            EntityCreated(id=entity.id, agent_id=self.agent_id, names=entity.names,
                          metadata=entity.metadata),
            entity.id,
        )  # fmt: skip
        return True

    async def update_entity(self, entity: Entity) -> None:
        """Merge names and per-source metadata into the entity (entity.updated merges: a name
        or a metadata key is never removed)."""
        await self.record(
            EntityUpdated(id=entity.id, agent_id=self.agent_id, names=entity.names,
                          metadata=entity.metadata)
        )  # fmt: skip

    async def create_component(self, component: Component) -> bool:
        """Attach a component to an entity; recording the same component id again is a no-op."""
        payload = ComponentCreated(
            id=component.id, agent_id=self.agent_id, entity_id=component.entity_id,
            room_id=component.room_id, world_id=component.world_id,
            source_entity_id=component.source_entity_id, type=component.type,
            data=component.data, created_at=component.created_at,
        )  # fmt: skip
        await self.record(payload, event_id=derived_id(component.id, payload.event_type))
        return True

    async def update_component(self, component: Component) -> None:
        """Replace a component's type, data, room, world and source."""
        await self.record(
            ComponentUpdated(
                id=component.id, agent_id=self.agent_id, entity_id=component.entity_id,
                room_id=component.room_id, world_id=component.world_id,
                source_entity_id=component.source_entity_id, type=component.type,
                data=component.data,
            )
        )  # fmt: skip

    async def delete_component(self, component_id: uuid.UUID) -> None:
        """Remove a component."""
        await self.record(ComponentDeleted(id=component_id, agent_id=self.agent_id))

    # --- worlds, rooms, participants ---------------------------------------------------------

    async def ensure_world_exists(self, world: World) -> None:
        """Create the world unless it exists (an existing world is left as it is)."""
        remember_world_secrets(world.metadata)
        if self.db is not None and await self.db.get_world(world.id) is not None:
            return
        await self._fact(
            WorldCreated(id=world.id, agent_id=self.agent_id, name=world.name or "",
                         server_id=world.server_id, metadata=world.metadata),
            world.id,
        )  # fmt: skip

    async def update_world(self, world: World) -> None:
        """Replace the world's name, server id and metadata (roles, settings). The values of
        settings marked secret are kept in this world's events and scrubbed from all else."""
        remember_world_secrets(world.metadata)
        await self.record(
            WorldUpdated(id=world.id, agent_id=self.agent_id, name=world.name or "",
                         server_id=world.server_id, metadata=world.metadata)
        )  # fmt: skip

    async def ensure_room_exists(self, room: Room) -> None:
        """Create the room unless it exists (an existing room is left as it is)."""
        if self.db is not None and await self.db.get_room(room.id) is not None:
            return
        await self._fact(RoomCreated(**_room_fields(room, self.agent_id)), room.id)

    async def update_room(self, room: Room) -> None:
        """Replace the room's fields."""
        await self.record(RoomUpdated(**_room_fields(room, self.agent_id)))

    async def delete_room(self, room_id: uuid.UUID) -> None:
        """Remove the room with its participants and memories."""
        await self.record(RoomDeleted(id=room_id, agent_id=self.agent_id))

    async def add_participant(self, entity_id: uuid.UUID, room_id: uuid.UUID) -> bool:
        """Add the entity to the room (a no-op when it is in it already); True."""
        if self.db is not None and entity_id in await self.db.get_participants_for_room(room_id):
            return True
        payload = ParticipantAdded(room_id=room_id, entity_id=entity_id, agent_id=self.agent_id)
        await self._fact(payload, room_id, f"participant:{entity_id}")
        return True

    async def remove_participant(self, entity_id: uuid.UUID, room_id: uuid.UUID) -> bool:
        """Take the entity out of the room; False when it was not in it."""
        if self.db is not None and entity_id not in await self.db.get_participants_for_room(
            room_id
        ):
            return False
        payload = ParticipantRemoved(room_id=room_id, entity_id=entity_id, agent_id=self.agent_id)
        await self.record(payload, f"room-{room_id}")
        return True

    async def set_participant_user_state(
        self, room_id: uuid.UUID, entity_id: uuid.UUID, state: ParticipantState | None
    ) -> None:
        """Follow (FOLLOWED), mute (MUTED) or reset (None) the room for a participant."""
        payload = ParticipantStateChanged(
            room_id=room_id, entity_id=entity_id, agent_id=self.agent_id,
            state=state.value if state is not None else None,
        )  # fmt: skip
        await self.record(payload, f"room-{room_id}")

    # --- relationships -----------------------------------------------------------------------

    async def create_relationship(
        self,
        source_entity_id: uuid.UUID,
        target_entity_id: uuid.UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> bool:
        """Relate source to target; False when that relationship exists already."""
        if self.db is not None and await self.db.get_relationship(
            source_entity_id, target_entity_id
        ):
            return False
        rel_id = relationship_id(self.agent_id, source_entity_id, target_entity_id)
        payload = RelationshipCreated(
            id=rel_id, agent_id=self.agent_id, source_entity_id=source_entity_id,
            target_entity_id=target_entity_id, tags=list(tags or []),
            metadata=dict(metadata or {}), created_at=now_ms(),
        )  # fmt: skip
        await self._fact(payload, rel_id)
        return True

    async def update_relationship(self, relationship: Relationship) -> None:
        """Replace the tags and metadata of the relationship from its source to its target."""
        await self.record(
            RelationshipUpdated(
                id=relationship_id(self.agent_id, relationship.source_entity_id,
                                   relationship.target_entity_id),
                agent_id=self.agent_id, source_entity_id=relationship.source_entity_id,
                target_entity_id=relationship.target_entity_id, tags=relationship.tags,
                metadata=relationship.metadata,
            )
        )  # fmt: skip

    # --- connections -------------------------------------------------------------------------

    async def ensure_connection(
        self,
        entity_id: uuid.UUID,
        room_id: uuid.UUID,
        world_id: uuid.UUID | None = None,
        user_name: str | None = None,
        name: str | None = None,
        source: str | None = None,
        type: str | None = None,
        channel_id: str | None = None,
        server_id: str | None = None,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        world_name: str | None = None,
    ) -> None:
        """Make sure the entity, the world, the room and both participants (the entity and the
        agent) exist, as ElizaOS's ensureConnection: a known entity gets the new names and this
        source's metadata merged in. The world id defaults to the agent-scoped id of the server
        (`default_world_id`; without a server, the source), as on the message path. The facts are
        built by `connection_events`, the message path's builder. Without a read model every fact
        is recorded under its derived id (a no-op when known) and a known entity is not
        updated."""
        source = source or "elizabus"
        server = server_id or source
        conn = Connection(
            agent_id=self.agent_id, entity_id=entity_id, room_id=room_id,
            world_id=world_id or default_world_id(self.agent_id, server), source=source,
            platform_user_id=user_id, name=name, username=user_name, room_name=name,
            room_type=type or "GROUP", channel_id=channel_id, server_id=server,
            room_server_id=server_id, world_name=world_name, world_metadata=metadata or {},
        )  # fmt: skip
        if self.db is None:
            state = ConnectionState.nothing_known()
            events = connection_events(conn, state)
        else:
            state = await self.db.connection_state(entity_id, room_id, conn.world_id)
            events = await fresh_ids_for_undone(self.store, connection_events(conn, state))
        await self.record_events(events)


def _room_fields(room: Room, agent_id: uuid.UUID) -> dict[str, Any]:
    return {
        "id": room.id, "agent_id": agent_id, "name": room.name, "source": room.source,
        "type": room.type, "channel_id": room.channel_id, "server_id": room.server_id,
        "world_id": room.world_id, "metadata": room.metadata,
    }  # fmt: skip
