"""Move an event log from elizabus's first id scheme to ElizaOS's (`elizabus ids migrate`).

elizabus first derived ids with UUIDv5 in a namespace of its own; it now computes them as ElizaOS
1.x does (`shared.ids`). Ids that ElizaOS computes, and that a restarted agent recomputes, must
change in an existing log, or the agent would no longer find its own history:

- the agent's id, when its character names no `id` (old: from "agent:<name>"; now: from the name);
- entity, room and world ids derived from platform ids (old: the old hash; worlds also had a
  "server:" prefix; now: ElizaOS's `createUniqueUuid(agent, platform id)`);
- ids elizabus derives from those and recomputes later: the ids of fact events (an entity's,
  room's, world's or relationship's `*.created`, a participant's `participant.added`, an
  `entity.updated`), relationship ids, and the agent's start-up run.

Each old id is recognised by recomputing it from what the log itself states (the agent entity's
names, a room's `channel_id`, a world's `server_id`, an entity's account ids in its metadata), so
an id that was not derived that way (given by a plugin, drawn at random) is never touched. Every
occurrence of a mapped id is then rewritten, in event ids, stream ids, data (keys too) and
metadata, and the projections are rebuilt from the rewritten log, all in one transaction.

Message memory ids and run ids are kept: they are elizabus's own. A message already handled but
still waiting in JetStream when the log is migrated would be handled again, so stop the
orchestrators and let them drain their queue first. Tables that plugins created themselves
(`Plugin.schema`) are not rewritten.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from shared.errors import EventStoreError
from shared.events import RecordedEvent
from shared.eventstore.postgres import APPEND_LOCK_KEY, EVENT_COLUMNS, row_to_event
from shared.ids import create_unique_uuid, derived_id, string_to_uuid

__all__ = [
    "LEGACY_NAMESPACE",
    "IdMigrationPlan",
    "legacy_agent_id",
    "legacy_create_unique_uuid",
    "legacy_ids_in_use",
    "migrate_ids",
    "plan_id_migration",
    "rewrite_ids",
]

LEGACY_NAMESPACE = uuid.UUID("6f2b6d1e-8a3c-4c59-9a71-5d3f0c2e7b10")
"""The UUIDv5 namespace of elizabus's first id scheme."""

_UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_SUBJECT_STREAM = re.compile(rf"^(entity|world|room|relationship)-({_UUID_TEXT.pattern})$")
_RUN_EVENTS_MAX = 10_000
"""The most events one start-up run is searched for (it records one or two)."""


def legacy_string_to_uuid(text: str) -> uuid.UUID:
    """The first scheme's `string_to_uuid`."""
    return uuid.uuid5(LEGACY_NAMESPACE, text)


def legacy_create_unique_uuid(agent_id: uuid.UUID, base_id: str) -> uuid.UUID:
    """The first scheme's `create_unique_uuid`."""
    if base_id == str(agent_id):
        return agent_id
    return legacy_string_to_uuid(f"{base_id}:{agent_id}")


def legacy_agent_id(name: str) -> uuid.UUID:
    """The first scheme's id of a character without an `id`."""
    return legacy_string_to_uuid(f"agent:{name}")


@dataclass
class IdMigrationPlan:
    """What the migration changes: old id -> new id, and which events it rewrites."""

    ids: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    agents: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    rewritten: list[RecordedEvent] = field(default_factory=list)

    @property
    def needed(self) -> bool:
        """Whether the log holds any id of the first scheme."""
        return bool(self.ids)


def _agent_ids(events: Iterable[RecordedEvent]) -> dict[uuid.UUID, uuid.UUID]:
    """Old -> new agent ids, recognised from each agent entity's names."""
    agents: dict[uuid.UUID, uuid.UUID] = {}
    for event in events:
        data = event.data
        if event.type != "entity.created" or data.get("id") != data.get("agent_id"):
            continue
        agent = uuid.UUID(str(data["id"]))
        for name in data.get("names") or []:
            if isinstance(name, str) and legacy_agent_id(name) == agent:
                agents[agent] = string_to_uuid(name)
                break
        else:
            agents.setdefault(agent, agent)  # an explicit `id`: kept, its connections may move
    return agents


def _account_ids(metadata: object) -> list[str]:
    """The platform account ids an entity's metadata states ({source: {"id": ...}})."""
    if not isinstance(metadata, Mapping):
        return []
    return [
        str(account["id"])
        for account in metadata.values()
        if isinstance(account, Mapping) and isinstance(account.get("id"), str | int)
    ]


def _connection_ids(
    events: Iterable[RecordedEvent], agents: Mapping[uuid.UUID, uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """Old -> new ids of entities, rooms and worlds derived from platform ids."""
    ids: dict[uuid.UUID, uuid.UUID] = {}
    for event in events:
        data = event.data
        raw_id, raw_agent = data.get("id"), data.get("agent_id")
        if (
            not raw_id
            or not raw_agent
            or event.type.split(".")[0]
            not in (
                "entity",
                "room",
                "world",
            )
        ):
            continue
        old, agent = uuid.UUID(str(raw_id)), uuid.UUID(str(raw_agent))
        new_agent = agents.get(agent, agent)
        if old == agent:
            ids[old] = new_agent
            continue
        bases: list[tuple[str, str]] = []  # (old base, new base)
        if event.type == "room.created" and data.get("channel_id"):
            bases.append((str(data["channel_id"]), str(data["channel_id"])))
        elif event.type == "world.created" and data.get("server_id"):
            server = str(data["server_id"])
            bases += [(f"server:{server}", server), (server, server)]
        elif event.type in ("entity.created", "entity.updated"):
            bases += [(pid, pid) for pid in _account_ids(data.get("metadata"))]
        for old_base, new_base in bases:
            if legacy_create_unique_uuid(agent, old_base) == old:
                ids[old] = create_unique_uuid(new_agent, new_base)
                break
    return ids


def _map_text(text: str, ids: Mapping[uuid.UUID, uuid.UUID]) -> str:
    def one(match: re.Match[str]) -> str:
        found = ids.get(uuid.UUID(match.group(0)))
        return str(found) if found is not None else match.group(0)

    return _UUID_TEXT.sub(one, text)


def rewrite_ids(value: Any, ids: Mapping[uuid.UUID, uuid.UUID]) -> Any:
    """`value` (JSON) with every mapped UUID replaced, in strings and in object keys."""
    if isinstance(value, str):
        return _map_text(value, ids)
    if isinstance(value, Mapping):
        return {_map_text(str(k), ids): rewrite_ids(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [rewrite_ids(v, ids) for v in value]
    return value


def _fact_keys(event_type: str, data: Mapping[str, Any]) -> list[str]:
    """The keys `connections.fact_event` may have derived this event's id with."""
    keys = [event_type]
    if event_type == "participant.added" and data.get("entity_id"):
        keys.append(f"participant:{data['entity_id']}")
    if event_type == "entity.updated":
        body = json.dumps([data.get("names") or [], data.get("metadata") or {}], sort_keys=True)
        keys.append(f"entity.updated:{hashlib.sha256(body.encode()).hexdigest()[:32]}")
    return keys


def _derived_ids(
    events: list[RecordedEvent],
    ids: dict[uuid.UUID, uuid.UUID],
    agents: Mapping[uuid.UUID, uuid.UUID],
) -> None:
    """Add the ids derived from mapped ids that elizabus recomputes: relationship ids, fact
    event ids and the agent's start-up run (its id and its events')."""
    for event in events:  # relationship ids first: their fact events are keyed by them
        data = event.data
        if event.type not in ("relationship.created", "relationship.updated"):
            continue
        source, target = (
            uuid.UUID(str(data["source_entity_id"])),
            uuid.UUID(str(data["target_entity_id"])),
        )
        agent = uuid.UUID(str(data["agent_id"]))
        old = uuid.UUID(str(data["id"]))
        if old == derived_id(source, f"relationship:{target}:{agent}"):
            new = derived_id(
                ids.get(source, source),
                f"relationship:{ids.get(target, target)}:{agents.get(agent, agent)}",
            )
            if new != old:
                ids[old] = new
    for event in events:
        match = _SUBJECT_STREAM.match(event.stream_id)
        if match is None:
            continue
        subject = uuid.UUID(match.group(2))
        new_data = rewrite_ids(event.data, ids)
        for old_key, new_key in zip(
            _fact_keys(event.type, event.data), _fact_keys(event.type, new_data), strict=True
        ):
            if event.event_id == derived_id(subject, old_key):
                new = derived_id(ids.get(subject, subject), new_key)
                if new != event.event_id:
                    ids[event.event_id] = new
                break
    for old_agent, new_agent in agents.items():
        if old_agent == new_agent:
            continue
        old_run, new_run = derived_id(old_agent, "startup"), derived_id(new_agent, "startup")
        run_events = [e for e in events if e.metadata.get("run_id") == str(old_run)]
        if not run_events:
            continue
        ids[old_run] = new_run
        for event in run_events:
            for n in range(min(len(events), _RUN_EVENTS_MAX)):
                purpose = f"{n}:{event.type}"
                if event.event_id == derived_id(old_run, purpose):
                    ids[event.event_id] = derived_id(new_run, purpose)
                    break


def plan_id_migration(events: list[RecordedEvent]) -> IdMigrationPlan:
    """What migrating these events (the whole log, in order) changes; nothing is written."""
    agents = _agent_ids(events)
    ids = {old: new for old, new in _connection_ids(events, agents).items() if old != new}
    ids.update({old: new for old, new in agents.items() if old != new})
    _derived_ids(events, ids, agents)
    plan = IdMigrationPlan(ids=ids, agents={o: n for o, n in agents.items() if o != n})
    if not ids:
        return plan
    for event in events:
        new_event_id = ids.get(event.event_id, event.event_id)
        stream_id = _map_text(event.stream_id, ids)
        data = rewrite_ids(event.data, ids)
        metadata = rewrite_ids(event.metadata, ids)
        if (new_event_id, stream_id, data, metadata) != (
            event.event_id,
            event.stream_id,
            event.data,
            event.metadata,
        ):
            plan.rewritten.append(
                event.model_copy(
                    update={
                        "event_id": new_event_id,
                        "stream_id": stream_id,
                        "data": data,
                        "metadata": metadata,
                    }
                )
            )
    return plan


async def migrate_ids(pool: asyncpg.Pool, *, dry_run: bool = False) -> IdMigrationPlan:
    """Rewrite the log's first-scheme ids and rebuild the projections, in one transaction under
    the append lock (appends wait). `dry_run` plans and rolls back. Stop the orchestrators first
    (see the module docstring)."""
    from shared.projections.rebuild import rebuild_in

    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK_KEY)
        rows = await conn.fetch(f"SELECT {EVENT_COLUMNS} FROM events ORDER BY position")
        plan = plan_id_migration([row_to_event(r) for r in rows])
        if dry_run or not plan.rewritten:
            return plan
        try:
            await conn.executemany(
                "UPDATE events SET event_id = $2, stream_id = $3, data = $4, metadata = $5 "
                "WHERE position = $1",
                [(e.position, e.event_id, e.stream_id, e.data, e.metadata) for e in plan.rewritten],
            )
        except asyncpg.UniqueViolationError as exc:
            raise EventStoreError(
                "the log already holds events under some of the new ids (an agent ran with the "
                f"new ids before this migration: {exc}); restore a backup taken before that "
                "run, then migrate"
            ) from exc
        await rebuild_in(conn)
    return plan


async def legacy_ids_in_use(
    pool: asyncpg.Pool, agents: Iterable[tuple[str, uuid.UUID, bool]]
) -> list[str]:
    """Which of these agents (name, id, whether the character names its id) still have ids of
    the first scheme in the projections; empty when none. Cheap: a few indexed reads."""
    found: list[str] = []
    async with pool.acquire() as conn:
        for name, agent_id, explicit in agents:
            if not explicit:
                old = legacy_agent_id(name)
                if await conn.fetchval("SELECT 1 FROM entities WHERE id = $1", old):
                    found.append(f"{name}: agent id {old} (now {agent_id})")
                    continue
            rows = await conn.fetch(
                "SELECT id, channel_id FROM rooms WHERE agent_id = $1 AND channel_id IS NOT NULL "
                "AND id <> $1 LIMIT 20",
                agent_id,
            )
            if any(r["id"] == legacy_create_unique_uuid(agent_id, r["channel_id"]) for r in rows):
                found.append(f"{name}: room ids derived from platform ids")
    return found
