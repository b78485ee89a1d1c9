"""Task CRUD, the task scheduler and bulk connections as AgentRuntime methods (a mixin).

They need the Postgres pool (reads of the `tasks`, `rooms` and `entities` projections); a runtime
built without one raises a ConfigurationError that says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

import asyncpg

from shared.errors import ConfigurationError
from shared.eventstore import EventStore
from shared.plugin import Runtime, TaskWorker
from shared.records import Task
from shared.runtime.bulk_connections import (
    EntitySpec,
    RoomSpec,
    WorldSpec,
)
from shared.runtime.bulk_connections import (
    ensure_connections as bulk_ensure_connections,
)
from shared.runtime.read_cache import cached_read
from shared.runtime.tasks import TaskScheduler, TaskStore


class TaskApi:
    """ElizaOS's createTask / getTasks / getTask / updateTask / deleteTask and
    ensureConnections on the runtime; the scheduler runs repeating and queued tasks."""

    pool: asyncpg.Pool | None
    store: EventStore
    task_workers: dict[str, TaskWorker]
    _task_store: TaskStore | None
    _scheduler: TaskScheduler | None

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

    async def create_task(self, name: str, **fields: Any) -> uuid.UUID:
        """Create a task (tags "queue"/"repeat", metadata.updateInterval in ms); its id."""
        return await self._tasks().create_task(name, **fields)

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

    async def update_task(self, task_id: uuid.UUID, **changes: Any) -> None:
        """Change a task's name, description, tags, or merge into its metadata."""
        await self._tasks().update_task(task_id, **changes)

    async def delete_task(self, task_id: uuid.UUID) -> None:
        """Delete a task."""
        await self._tasks().delete_task(task_id)

    def start_task_scheduler(self, tick: float = 1.0) -> TaskScheduler:
        """Run due tasks of this agent every `tick` seconds until the runtime stops."""
        if self._scheduler is None:
            runtime = cast("Runtime", self)  # TaskApi is a mixin of AgentRuntime, a Runtime
            self._scheduler = TaskScheduler(
                self._tasks(), self.store, self.task_workers, runtime, tick
            )
            self._scheduler.start()
        return self._scheduler

    async def stop_task_scheduler(self) -> None:
        """Stop the scheduler (a run in progress is cancelled and runs again later)."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            await scheduler.stop()

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
