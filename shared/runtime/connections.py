"""Connections as facts: who spoke where (entity, world, room, participants), each recorded once.

ElizaOS's `ensureConnection` makes sure an entity, its world and room and both participants (the
entity and the agent) exist. Here every such fact is an event whose id is derived from what it
states (`fact_event`), so whichever path records it first wins and the others' appends of it are
no-ops. One builder, `connection_events`, says which facts a connection still lacks; the message
path (`ConnectionManager`, with a process-local cache), the runtime's `ensure_connection` and the
bulk `ensure_connections` all build their facts through it and the `*_fact` functions below.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

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
from shared.eventstore import EventStore
from shared.ids import create_unique_uuid, derived_id
from shared.readmodel.protocol import ConnectionState

__all__ = [
    "Connection",
    "ConnectionManager",
    "NothingKnown",
    "account_sources",
    "connection_events",
    "default_world_id",
    "entity_created_event",
    "fact_event",
    "participant_fact",
    "room_fact",
    "scoped_by_source",
    "source_scoped_id",
    "world_fact",
]

# A participant belongs to its room's stream; every other fact to the stream of what it is about.
_STREAM_OF_KIND = {"participant": "room"}


def default_world_id(agent_id: uuid.UUID, server_id: str) -> uuid.UUID:
    """The agent-scoped id of the world of platform server `server_id` (every path's default):
    ElizaOS's `createUniqueUuid(runtime, serverId)`, as its bootstrap and platform plugins derive
    it. A world and a room may share an id (a server whose id is also a channel's): they are kept
    apart by their streams and tables, as ElizaOS keeps them in separate tables."""
    return create_unique_uuid(agent_id, server_id)


@dataclass(frozen=True)
class Connection:
    """Who spoke where, in agent-scoped ids, with the platform's names for them."""

    agent_id: uuid.UUID
    entity_id: uuid.UUID
    room_id: uuid.UUID
    world_id: uuid.UUID
    source: str
    platform_user_id: str | None
    name: str | None
    username: str | None
    room_name: str | None
    room_type: str
    channel_id: str | None
    server_id: str
    room_server_id: str | None = None
    world_name: str | None = None
    world_metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def names(self) -> list[str]:
        """The entity's names this connection states."""
        return [n for n in (self.name, self.username) if n]

    @property
    def account(self) -> dict[str, Any]:
        """The entity's metadata this connection states: its account on the source."""
        account = {"id": self.platform_user_id, "name": self.name, "userName": self.username}
        return {self.source: account}


def fact_event(
    payload: EventData,
    subject: uuid.UUID,
    key: str | None = None,
    agent_id: uuid.UUID | None = None,
) -> NewEvent:
    """An event stating a fact about `subject` once: its id is derived from the subject and `key`
    (default: the event type), so whichever path records the fact first wins and the others'
    appends of it are no-ops."""
    kind = payload.event_type.split(".", 1)[0]
    return NewEvent.of(
        payload,
        event_id=derived_id(subject, key or payload.event_type),
        stream_id=f"{_STREAM_OF_KIND.get(kind, kind)}-{subject}",
        metadata=EventMetadata(agent_id=agent_id),
    )


def entity_created_event(
    entity_id: uuid.UUID, agent_id: uuid.UUID, names: list[str], metadata: dict[str, Any]
) -> NewEvent:
    """The one `entity.created` an entity ever gets."""
    return fact_event(
        EntityCreated(id=entity_id, agent_id=agent_id, names=names, metadata=metadata),
        entity_id,
        agent_id=agent_id,
    )


def entity_updated_fact(
    entity_id: uuid.UUID, agent_id: uuid.UUID, names: list[str], metadata: dict[str, Any]
) -> NewEvent:
    """New names or account metadata for a known entity, recorded once per distinct content."""
    digest = hashlib.sha256(json.dumps([names, metadata], sort_keys=True).encode()).hexdigest()
    return fact_event(
        EntityUpdated(id=entity_id, agent_id=agent_id, names=names, metadata=metadata),
        entity_id,
        f"entity.updated:{digest[:32]}",
        agent_id,
    )


def world_fact(
    world_id: uuid.UUID,
    agent_id: uuid.UUID,
    name: str,
    server_id: str,
    metadata: dict[str, Any] | None = None,
) -> NewEvent:
    """The world's `world.created`."""
    payload = WorldCreated(
        id=world_id, agent_id=agent_id, name=name, server_id=server_id, metadata=metadata or {}
    )
    return fact_event(payload, world_id, agent_id=agent_id)


def room_fact(
    room_id: uuid.UUID,
    agent_id: uuid.UUID,
    *,
    name: str | None,
    source: str,
    type: str,
    channel_id: str | None,
    server_id: str | None,
    world_id: uuid.UUID | None,
) -> NewEvent:
    """The room's `room.created`."""
    payload = RoomCreated(
        id=room_id, agent_id=agent_id, name=name, source=source, type=type,
        channel_id=channel_id, server_id=server_id, world_id=world_id,
    )  # fmt: skip
    return fact_event(payload, room_id, agent_id=agent_id)


def participant_fact(room_id: uuid.UUID, entity_id: uuid.UUID, agent_id: uuid.UUID) -> NewEvent:
    """The entity's `participant.added` to the room."""
    payload = ParticipantAdded(room_id=room_id, entity_id=entity_id, agent_id=agent_id)
    return fact_event(payload, room_id, f"participant:{entity_id}", agent_id)


def connection_events(c: Connection, state: ConnectionState) -> list[NewEvent]:
    """The facts `c` states that `state` (what the projections know) lacks, in the order they
    must be recorded: entity (created, or updated with new names or account metadata), world,
    room, then the entity and the agent as participants."""
    names, meta = c.names, c.account
    events: list[NewEvent] = []
    if state.entity_names is None:
        events.append(entity_created_event(c.entity_id, c.agent_id, names, meta))
    elif not set(names) <= set(state.entity_names) or any(
        state.entity_metadata.get(k) != v for k, v in meta.items()
    ):
        events.append(entity_updated_fact(c.entity_id, c.agent_id, names, meta))
    if not state.world_exists:
        name = c.world_name or f"World for server {c.server_id}"
        events.append(world_fact(c.world_id, c.agent_id, name, c.server_id, c.world_metadata))
    if not state.room_exists:
        events.append(
            room_fact(
                c.room_id, c.agent_id, name=c.room_name, source=c.source, type=c.room_type,
                channel_id=c.channel_id, server_id=c.room_server_id, world_id=c.world_id,
            )
        )  # fmt: skip
    for member in (c.entity_id, c.agent_id):
        if member not in state.participants:
            events.append(participant_fact(c.room_id, member, c.agent_id))
    return events


async def fresh_ids_for_undone(store: EventStore, events: list[NewEvent]) -> list[NewEvent]:
    """`events` with a fresh id for each fact the log already holds under its derived id: the
    projections lack it, so it was undone since (a room deleted, a participant removed), and the
    append would otherwise drop the restated fact as a repeat."""
    if not events:
        return events
    recorded = {e.event_id for e in await store.get([e.event_id for e in events])}
    for event in events:
        if event.event_id in recorded:
            event.event_id = uuid.uuid4()
    return events


class NothingKnown:
    """The connection state source of a runtime without a read model: every fact is stated
    (under derived ids, so the ones already recorded are no-ops)."""

    async def connection_state(
        self, entity_id: uuid.UUID, room_id: uuid.UUID, world_id: uuid.UUID
    ) -> ConnectionState:
        """Nothing is known."""
        return ConnectionState.nothing_known()


class ConnectionStateSource(Protocol):
    """What ConnectionManager reads: `AgentReadModel.connection_state`."""

    async def connection_state(
        self, entity_id: uuid.UUID, room_id: uuid.UUID, world_id: uuid.UUID
    ) -> ConnectionState: ...


def account_sources(metadata: dict[str, Any]) -> set[str]:
    """The sources an entity has an account on: its metadata keys holding an account
    (`{source: {"id", "name", "userName"}}`, as ElizaOS's ensureConnection stores them)."""
    return {k for k, v in metadata.items() if isinstance(v, dict) and "id" in v}


def source_scoped_id(agent_id: uuid.UUID, kind: str, source: str, platform_id: str) -> uuid.UUID:
    """The id of a platform id on one source, for when its ElizaOS id (`createUniqueUuid`) is
    already another source's: a UUIDv5, so it can never be any platform id's ElizaOS id (those
    have version nibble 0)."""
    return derived_id(agent_id, f"{kind}:{source}:{platform_id}")


def scoped_by_source(c: Connection, state: ConnectionState) -> Connection | None:
    """The connection with source-scoped ids where its ElizaOS ids belong to another source's
    account or room, or None when they are free or this source's.

    ElizaOS derives an entity's and a room's id from the platform id alone, so Telegram user
    "123" and Discord user "123" would be one person. The first source to use an id keeps the
    ElizaOS id (parity with ElizaOS's data, and every id of a single platform unchanged); a
    later source gets `source_scoped_id` for it, so two people are never merged.
    """
    entity_taken = state.entity_names is not None and bool(
        (sources := account_sources(state.entity_metadata)) and c.source not in sources
    )
    room_taken = state.room_source is not None and state.room_source != c.source
    if not (entity_taken or room_taken):
        return None
    changes: dict[str, Any] = {}
    if entity_taken and c.platform_user_id is not None:
        changes["entity_id"] = source_scoped_id(c.agent_id, "entity", c.source, c.platform_user_id)
    if room_taken and c.channel_id is not None:
        changes["room_id"] = source_scoped_id(c.agent_id, "room", c.source, c.channel_id)
    return replace(c, **changes) if changes else None


class ConnectionManager:
    """The message path's ensure-connection: the facts a connection lacks, skipping what is known.

    A process-local cache remembers connections already complete; on a miss one read of the
    agent's projections says what is lacking (and a second when an id is another source's, see
    `scoped_by_source`). Event ids are derived from the facts, so two orchestrators racing on the
    same connection append each fact once.
    """

    def __init__(self, read_model: ConnectionStateSource, max_cached: int = 100_000) -> None:
        self.read_model = read_model
        self.max_cached = max_cached
        self._complete: dict[Connection, Connection] = {}

    def remember(self, asked: Connection, resolved: Connection | None = None) -> None:
        """Mark a connection complete, as `resolved` (call after its events are committed)."""
        if len(self._complete) >= self.max_cached:
            self._complete.clear()
        self._complete[asked] = resolved or asked

    async def resolve(self, c: Connection) -> tuple[Connection, list[NewEvent]]:
        """The connection to use for `c` (its ids scoped by source where another source holds
        them, see `scoped_by_source`) and the events it still needs; none when complete."""
        if c in self._complete:
            return self._complete[c], []
        state = await self.read_model.connection_state(c.entity_id, c.room_id, c.world_id)
        scoped = scoped_by_source(c, state)
        if scoped is not None:
            c = scoped
            state = await self.read_model.connection_state(c.entity_id, c.room_id, c.world_id)
        # Derived ids only: a fact undone since (a room deleted) is not restated here, because a
        # fresh id could not tell it from a racing orchestrator's commit of the same fact.
        return c, connection_events(c, state)

    async def missing_events(self, c: Connection) -> list[NewEvent]:
        """The events connection `c` still needs, as `resolve` finds them."""
        return (await self.resolve(c))[1]
