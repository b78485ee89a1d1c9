"""Tasks through the AgentRuntime's public API on real Postgres: a plugin's repeating task runs on
the runtime's scheduler, and keeps its schedule when the agent restarts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import pytest

from shared.character import Character
from shared.eventstore.postgres import PostgresEventStore, create_pool
from shared.plugin import Plugin, Runtime, TaskWorker
from shared.projections import PostgresProjector
from shared.readmodel.postgres import PostgresAgentReadModel
from shared.runtime.agent_runtime import AgentRuntime
from shared.testing import ScriptedModel
from tests.integration.support import fresh_database, wait_for

pytestmark = pytest.mark.integration


def ticking_plugin(runs: list[uuid.UUID]) -> Plugin:
    async def execute(runtime: Runtime, options: dict[str, Any], task: Any) -> None:
        runs.append(task.id)

    async def init(config: Mapping[str, Any], runtime: Runtime) -> None:
        runtime.register_task_worker(TaskWorker(name="tick", execute=execute))

    return Plugin(name="ticking", init=init)


async def test_a_plugins_repeating_task_runs_and_survives_an_agent_restart(
    database_url: str,
) -> None:
    pool = await create_pool(await fresh_database(database_url))
    character = Character(name="Ticker")
    runs: list[uuid.UUID] = []

    def runtime() -> AgentRuntime:
        store = PostgresEventStore(pool, PostgresProjector())
        plugins = [ScriptedModel().as_plugin(), ticking_plugin(runs)]
        db = PostgresAgentReadModel(pool, character.agent_id)
        return AgentRuntime(character, store, pool=pool, db=db, plugins=plugins)

    try:
        first = runtime()
        await first.initialize()
        task_id = await first.create_task("tick", tags=["queue", "repeat"],
                                          metadata={"updateInterval": 300})  # fmt: skip
        first.start_task_scheduler(tick=0.05)

        async def ran(times: int) -> bool:
            return runs.count(task_id) >= times

        await wait_for(lambda: ran(2), timeout=15)
        await first.stop()
        stopped_at = len(runs)

        second = runtime()  # a new process's agent: the schedule comes from the log
        await second.initialize()
        assert [t.id for t in await second.get_tasks(tags=["repeat"])] == [task_id]
        second.start_task_scheduler(tick=0.05)
        await wait_for(lambda: ran(stopped_at + 2), timeout=15)
        await second.stop()
        claims = await pool.fetchval(
            "SELECT count(*) FROM events WHERE type = 'task.claimed' AND data->>'id' = $1",
            str(task_id),
        )
        assert claims == len(runs)  # each run claimed its slot once
    finally:
        await pool.close()
