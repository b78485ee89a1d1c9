"""Task CRUD and bulk connections as AgentRuntime methods (a mixin; AgentRuntime runs the task
scheduler).

They need the Postgres pool (reads of the `tasks`, `rooms` and `entities` projections); a runtime
built without one raises a ConfigurationError that says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from shared.errors import ConfigurationError
from shared.eventstore import EventStore
from shared.records import EntitySpec, RoomSpec, Task, WorldSpec
from shared.runtime.bulk_connections import ensure_connections as bulk_ensure_connections
from shared.runtime.read_cache import cached_read
from shared.runtime.tasks import TaskStore


class TaskApi:
    """ElizaOS's createTask / getTasks / getTask / updateTask / deleteTask and
    ensureConnections on the runtime."""

    pool: asyncpg.Pool | None
    store: EventStore
    _task_store: TaskStore | None

    @property
    def agent_id(self) -> uuid.UUID:
        raise NotImplementedError

    def _tasks(self) -> TaskStore:
        if self._task_store is None:
            if self.pool is None:
                raise ConfigurationError(
                    "tasks need the database: build the AgentRuntime with pool=<asyncpg pool>"
                )
            self._task_store = TaskStore(self.pool, self.agent_id, self)  # type: ignore[arg-type]
        return self._task_store

    async def create_task(
        self,
        name: str,
        *,
        description: str = "",
        room_id: uuid.UUID | None = None,
        world_id: uuid.UUID | None = None,
        entity_id: uuid.UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        task_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Create a task (tags "queue"/"repeat", metadata.updateInterval in ms); its id."""
        return await self._tasks().create_task(
            name, description=description, room_id=room_id, world_id=world_id,
            entity_id=entity_id, tags=tags, metadata=metadata, task_id=task_id,
        )  # fmt: skip

    async def get_task(self, task_id: uuid.UUID) -> Task | None:
        """One task of this agent, or None."""
        return await self._tasks().get_task(task_id)

    async def get_tasks(
        self,
        *,
        room_id: uuid.UUID | None = None,
        tags: list[str] | None = None,
        entity_id: uuid.UUID | None = None,
        name: str | None = None,
    ) -> list[Task]:
        """This agent's tasks matching every filter given (all tags must be present); inside a
        run a repeated query is answered from the first (see read_cache)."""
        store = self._tasks()
        key = ("tasks", room_id, tuple(tags) if tags else None, entity_id, name)
        return await cached_read(
            self.agent_id,
            key,
            lambda: store.get_tasks(room_id=room_id, tags=tags, entity_id=entity_id, name=name),
        )

    async def update_task(
        self,
        task_id: uuid.UUID,
        *,
        name: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Change a task's name, description, tags, or merge into its metadata."""
        await self._tasks().update_task(
            task_id, name=name, description=description, tags=tags, metadata=metadata
        )

    async def delete_task(self, task_id: uuid.UUID) -> None:
        """Delete a task."""
        await self._tasks().delete_task(task_id)

    async def ensure_connections(
        self,
        entities: Sequence[EntitySpec],
        rooms: Sequence[RoomSpec],
        source: str,
        world: WorldSpec,
    ) -> int:
        """Connect many entities and rooms of one world in batches (ElizaOS's
        ensureConnections); returns how many events were recorded."""
        if self.pool is None:
            raise ConfigurationError(
                "ensure_connections needs the database: build the AgentRuntime with pool=..."
            )
        return await bulk_ensure_connections(
            self.pool, self.store, self.agent_id, entities, rooms, source, world
        )
