"""Tasks and task workers, as ElizaOS's: CRUD as events, and a scheduler that runs queued tasks.

A task tagged "queue" runs when a worker of its name is registered; tagged "repeat" it runs again
every `metadata.updateInterval` milliseconds, otherwise it is deleted after its run. The last run
time is in the log (`task.claimed`), so schedules survive restarts. Before running, a scheduler
claims the run with an event whose id is derived from the task and its due slot: a second
scheduler's claim of the same slot is a no-op, so a run happens once even with many orchestrators.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any, Literal

import asyncpg

from shared.events import (
    EventMetadata,
    NewEvent,
    TaskClaimed,
    TaskCreated,
    TaskDeleted,
    TaskExecuted,
    TaskUpdated,
    now_ms,
)
from shared.eventstore import EventStore
from shared.ids import derived_id
from shared.plugin import Memory, Runtime, TaskWorker
from shared.records import Task
from shared.runtime.sinks import EventSink

log = logging.getLogger(__name__)


_COLUMNS = (
    "id, name, description, room_id, world_id, entity_id, tags, metadata, created_at, updated_at"
)


class TaskStore:
    """Create, read, update and delete an agent's tasks; writes are events, reads the projection."""

    def __init__(self, pool: asyncpg.Pool, agent_id: uuid.UUID, sink: EventSink) -> None:
        self.pool = pool
        self.agent_id = agent_id
        self.sink = sink

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
        """Schedule a task; returns its id."""
        task_id = task_id or uuid.uuid4()
        await self.sink.record(
            TaskCreated(
                id=task_id, agent_id=self.agent_id, name=name, description=description,
                room_id=room_id, world_id=world_id, entity_id=entity_id, tags=tags or [],
                metadata=metadata or {}, created_at=now_ms(),
            )
        )  # fmt: skip
        return task_id

    async def get_task(self, task_id: uuid.UUID) -> Task | None:
        """One task by id."""
        row = await self.pool.fetchrow(
            f"SELECT {_COLUMNS} FROM tasks WHERE id = $1 AND agent_id = $2", task_id, self.agent_id
        )
        return Task(**dict(row)) if row else None

    async def get_tasks(
        self,
        *,
        room_id: uuid.UUID | None = None,
        tags: list[str] | None = None,
        entity_id: uuid.UUID | None = None,
        name: str | None = None,
    ) -> list[Task]:
        """Tasks matching every given filter (`tags`: has all of them), oldest first."""
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM tasks WHERE agent_id = $1"
            " AND ($2::uuid IS NULL OR room_id = $2) AND ($3::text[] IS NULL OR tags @> $3)"
            " AND ($4::uuid IS NULL OR entity_id = $4) AND ($5::text IS NULL OR name = $5)"
            " ORDER BY created_at, id",
            self.agent_id, room_id, tags, entity_id, name,
        )  # fmt: skip
        return [Task(**dict(r)) for r in rows]

    async def get_tasks_by_name(self, name: str) -> list[Task]:
        """Tasks with this name."""
        return await self.get_tasks(name=name)

    async def update_task(
        self,
        task_id: uuid.UUID,
        *,
        name: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Change a task: given fields replace; metadata is merged key by key."""
        await self.sink.record(
            TaskUpdated(
                id=task_id, agent_id=self.agent_id, name=name, description=description,
                tags=tags, metadata=metadata or {}, updated_at=now_ms(),
            )
        )  # fmt: skip

    async def delete_task(self, task_id: uuid.UUID) -> None:
        """Remove a task."""
        await self.sink.record(TaskDeleted(id=task_id, agent_id=self.agent_id, deleted_at=now_ms()))


class TaskScheduler:
    """Runs due queued tasks with their workers, every `tick` seconds, until stopped."""

    def __init__(
        self,
        tasks: TaskStore,
        store: EventStore,
        workers: dict[str, TaskWorker],
        runtime: Runtime,
        tick: float = 1.0,
    ) -> None:
        self.tasks = tasks
        self.store = store
        self.workers = workers
        self.runtime = runtime
        self.tick = tick
        self._loop: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the background loop."""
        if self._loop is None:
            self._loop = asyncio.create_task(self._run(), name="elizabus-task-scheduler")

    async def stop(self) -> None:
        """Stop the loop. A task run in progress is cancelled; its slot stays claimed, so a
        repeating task runs again at its next interval and a one-shot task does not run again."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None

    async def _run(self) -> None:
        while True:
            try:
                await self.run_due()
            except Exception:
                log.exception("task scheduler tick failed; trying again next tick")
            await asyncio.sleep(self.tick)

    async def run_due(self, now: int | None = None) -> list[uuid.UUID]:
        """Run every due task once; returns the ids of the tasks this scheduler ran."""
        now = now if now is not None else now_ms()
        ran: list[uuid.UUID] = []
        for task in await self.tasks.get_tasks(tags=["queue"]):
            worker = self.workers.get(task.name)
            if worker is None:
                continue
            repeat = "repeat" in task.tags
            interval = int(task.metadata.get("updateInterval") or 0)
            if repeat and now - task.updated_at < interval:
                continue
            if worker.validate is not None and not await worker.validate(
                self.runtime,
                self._message_for(task),
                None,
            ):
                continue
            if await self._claim(task, slot=task.updated_at if repeat else 0, now=now):
                await self._execute(task, worker, slot=task.updated_at if repeat else 0)
                ran.append(task.id)
        return ran

    def _message_for(self, task: Task) -> Memory:
        agent = self.tasks.agent_id
        return Memory(entity_id=agent, agent_id=agent, room_id=task.room_id or agent,
                      content={"text": task.description, "task": str(task.id)})  # fmt: skip

    async def _claim(self, task: Task, slot: int, now: int) -> bool:
        claim = TaskClaimed(id=task.id, agent_id=self.tasks.agent_id, name=task.name, slot=slot,
                            at=now)  # fmt: skip
        result = await self.store.append(
            [
                NewEvent.of(
                    claim,
                    event_id=derived_id(task.id, f"claim:{slot}"),
                    stream_id=f"task-{task.id}",
                    metadata=EventMetadata(agent_id=self.tasks.agent_id),
                )
            ]
        )
        return bool(result.recorded)

    async def _execute(self, task: Task, worker: TaskWorker, slot: int) -> None:
        started = time.perf_counter()
        status: Literal["completed", "failed"] = "completed"
        error: str | None = None
        try:
            await worker.execute(self.runtime, dict(task.metadata), task)
        except Exception as exc:
            log.exception("task %s (%s) failed", task.name, task.id)
            status, error = "failed", repr(exc)
        events = [
            NewEvent.of(
                TaskExecuted(
                    id=task.id, agent_id=self.tasks.agent_id, name=task.name, slot=slot,
                    status=status, error=error,
                    duration_ms=(time.perf_counter() - started) * 1000, at=now_ms(),
                ),
                event_id=derived_id(task.id, f"executed:{slot}"), stream_id=f"task-{task.id}",
            )
        ]  # fmt: skip
        if "repeat" not in task.tags:
            events.append(
                NewEvent.of(
                    TaskDeleted(id=task.id, agent_id=self.tasks.agent_id, deleted_at=now_ms()),
                    event_id=derived_id(task.id, "deleted"),
                    stream_id=f"task-{task.id}",
                )
            )
        await self.store.append(events)
