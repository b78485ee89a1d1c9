"""An in-memory ReadModel over an InMemoryEventStore: the test double of the projections."""

from __future__ import annotations

import uuid
from typing import Any

from services.orchestrator.readmodel import ConnectionState, MessageView
from shared.eventstore.memory import InMemoryEventStore


class InMemoryReadModel:
    """Test double of ReadModel: answers by folding the double store's events on every query."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self.store = store

    def _entities(self) -> dict[uuid.UUID, dict[str, Any]]:
        entities: dict[uuid.UUID, dict[str, Any]] = {}
        for e in self.store.events:
            if e.type in ("entity.created", "entity.updated"):
                key = uuid.UUID(e.data["id"])
                row = entities.setdefault(key, {"names": [], "metadata": {}})
                row["names"] += [n for n in e.data["names"] if n not in row["names"]]
                row["metadata"] |= e.data.get("metadata") or {}
        return entities

    async def recent_messages(
        self, agent_id: uuid.UUID, room_id: uuid.UUID, limit: int
    ) -> list[MessageView]:
        """The room's last `limit` messages, oldest first."""
        names = self._entities()
        rows = [
            e.data
            for e in self.store.events
            if e.type == "memory.created"
            and e.data["room_id"] == str(room_id)
            and e.data["agent_id"] == str(agent_id)
            and e.data.get("table_name", "messages") == "messages"
        ]
        rows.sort(key=lambda d: (d["created_at"], d["id"]))
        views = [
            MessageView(
                id=uuid.UUID(d["id"]),
                entity_id=uuid.UUID(d["entity_id"]),
                author=(names.get(uuid.UUID(d["entity_id"]), {}).get("names") or ["Unknown"])[0],
                text=str(d["content"].get("text", "")),
                created_at=d["created_at"],
                content=d["content"],
            )
            for d in rows
        ]
        return views[-limit:] if limit else []

    async def connection_state(
        self, agent_id: uuid.UUID, entity_id: uuid.UUID, room_id: uuid.UUID, world_id: uuid.UUID
    ) -> ConnectionState:
        """Which parts of a connection the double's log already has."""
        entity = self._entities().get(entity_id)
        types = {(e.type, e.data.get("id")) for e in self.store.events}
        members = frozenset(
            uuid.UUID(e.data["entity_id"])
            for e in self.store.events
            if e.type == "participant.added" and e.data["room_id"] == str(room_id)
        )
        return ConnectionState(
            entity_names=entity["names"] if entity else None,
            entity_metadata=entity["metadata"] if entity else {},
            room_exists=("room.created", str(room_id)) in types,
            world_exists=("world.created", str(world_id)) in types,
            participants=members & {agent_id, entity_id},
        )
