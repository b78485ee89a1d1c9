"""Tasks on a real Postgres: CRUD as events, a repeating task surviving a restart, claims."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from shared.events import NewEvent, TaskClaimed
from shared.eventstore.postgres import PostgresEventStore, create_pool
from shared.plugin import TaskWorker
from shared.projections import PostgresProjector, rebuild_projections
from shared.records import Task
from shared.runtime.sinks import StoreSink
from shared.runtime.tasks import TaskScheduler, TaskStore

pytestmark = pytest.mark.integration
AGENT = uuid.uuid4()


def parts(
    pool: asyncpg.Pool, runs: list[Any], fail: bool = False
) -> tuple[TaskStore, TaskScheduler]:
    store = PostgresEventStore(pool, PostgresProjector())
    tasks = TaskStore(pool, AGENT, StoreSink(store, AGENT))

    async def execute(runtime: Any, options: dict[str, Any], task: Task) -> None:
        runs.append((task.id, options))
        if fail:
            raise RuntimeError("worker broke")

    workers = {"tick": TaskWorker(name="tick", execute=execute)}
    return tasks, TaskScheduler(tasks, store, workers, runtime=None)  # type: ignore[arg-type]


async def test_task_crud_is_recorded_and_projected(pool: asyncpg.Pool) -> None:
    tasks, _ = parts(pool, [])
    room = uuid.uuid4()
    tid = await tasks.create_task("tick", description="d", room_id=room, tags=["queue", "x"],
                                  metadata={"a": 1})  # fmt: skip
    got = await tasks.get_task(tid)
    assert got is not None and got.name == "tick" and got.room_id == room
    assert [t.id for t in await tasks.get_tasks(tags=["queue"])] == [tid]
    assert await tasks.get_tasks(tags=["queue", "missing"]) == []
    assert [t.id for t in await tasks.get_tasks_by_name("tick")] == [tid]
    await tasks.update_task(tid, description="new", metadata={"b": 2})
    got = await tasks.get_task(tid)
    assert got is not None and got.description == "new" and got.metadata == {"a": 1, "b": 2}
    await tasks.delete_task(tid)
    assert await tasks.get_task(tid) is None
    types = [r["type"] for r in await pool.fetch("SELECT type FROM events ORDER BY position")]
    assert types == ["task.created", "task.updated", "task.deleted"]


async def test_repeating_task_runs_on_schedule_and_survives_a_restart(pool: asyncpg.Pool) -> None:
    runs: list[Any] = []
    tasks, scheduler = parts(pool, runs)
    tid = await tasks.create_task("tick", tags=["queue", "repeat"],
                                  metadata={"updateInterval": 1000})  # fmt: skip
    created = (await tasks.get_task(tid)).created_at  # type: ignore[union-attr]
    assert await scheduler.run_due(now=created + 10) == []
    assert await scheduler.run_due(now=created + 1000) == [tid]
    assert await scheduler.run_due(now=created + 1500) == []

    # a new process: new pool, new objects; the schedule comes from the log's projection
    restarted_pool = await create_pool(pool._connect_args[0])  # same database
    try:
        _, scheduler2 = parts(restarted_pool, runs)
        assert await scheduler2.run_due(now=created + 1999) == []
        assert await scheduler2.run_due(now=created + 2000) == [tid]
    finally:
        await restarted_pool.close()
    assert len(runs) == 2 and runs[0][1]["updateInterval"] == 1000
    assert (await tasks.get_task(tid)).updated_at == created + 2000  # type: ignore[union-attr]


async def test_two_schedulers_run_a_due_slot_once(pool: asyncpg.Pool) -> None:
    runs: list[Any] = []
    tasks, s1 = parts(pool, runs)
    _, s2 = parts(pool, runs)
    tid = await tasks.create_task("tick", tags=["queue", "repeat"],
                                  metadata={"updateInterval": 100})  # fmt: skip
    created = (await tasks.get_task(tid)).created_at  # type: ignore[union-attr]
    first, second = await asyncio.gather(
        s1.run_due(now=created + 100), s2.run_due(now=created + 100)
    )
    assert sorted(first + second) == [tid] and len(runs) == 1


async def test_one_shot_task_is_deleted_after_its_run_and_failures_are_recorded(
    pool: asyncpg.Pool,
) -> None:
    runs: list[Any] = []
    tasks, scheduler = parts(pool, runs, fail=True)
    tid = await tasks.create_task("tick", tags=["queue"])
    unknown = await tasks.create_task("nobody-handles-this", tags=["queue"])
    assert await scheduler.run_due() == [tid]
    assert await tasks.get_task(tid) is None and await tasks.get_task(unknown) is not None
    executed = await pool.fetchrow("SELECT data FROM events WHERE type = 'task.executed'")
    assert executed is not None and executed["data"]["status"] == "failed"
    assert "worker broke" in executed["data"]["error"]
    assert await scheduler.run_due() == []  # deleted: never again


async def test_task_projection_rebuilds_identically(pool: asyncpg.Pool) -> None:
    tasks, scheduler = parts(pool, [])
    tid = await tasks.create_task("tick", tags=["queue", "repeat"], metadata={"updateInterval": 5})
    await tasks.create_task("other", tags=["x"])
    await tasks.update_task(tid, metadata={"k": "v"})
    await scheduler.run_due(now=(await tasks.get_task(tid)).created_at + 5)  # type: ignore[union-attr]
    before = [dict(r) for r in await pool.fetch("SELECT * FROM tasks ORDER BY id")]
    await rebuild_projections(pool)
    assert [dict(r) for r in await pool.fetch("SELECT * FROM tasks ORDER BY id")] == before
    assert len(before) == 2


async def test_another_agents_update_delete_and_claim_leave_a_task_alone(
    pool: asyncpg.Pool,
) -> None:
    tasks, _ = parts(pool, [])
    store = PostgresEventStore(pool, PostgresProjector())
    intruder = uuid.uuid4()
    other = TaskStore(pool, intruder, StoreSink(store, intruder))
    tid = await tasks.create_task("tick", tags=["queue"], metadata={"a": 1})
    before = await tasks.get_task(tid)
    assert before is not None
    await other.update_task(tid, description="hijacked", metadata={"a": 2})
    await store.append([NewEvent.of(
        TaskClaimed(id=tid, agent_id=intruder, name="tick", slot=1, at=before.updated_at + 5),
        event_id=uuid.uuid4(), stream_id=f"task-{tid}",
    )])  # fmt: skip
    await other.delete_task(tid)
    assert await other.get_task(tid) is None  # its reads never showed the task either
    after = await tasks.get_task(tid)
    assert after == before
    await rebuild_projections(pool)  # the same from the log alone
    assert await tasks.get_task(tid) == before
