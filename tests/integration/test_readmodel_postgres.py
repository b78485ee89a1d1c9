"""What only Postgres has: the in-memory double, folding the same log, answers every read as
PostgresAgentReadModel does; a rebuild gives identical rows in every projection table. Every read
after every write, search, isolation and connection_state are the AgentReadModel contract
(tests/contracts/), run on both."""

from __future__ import annotations

import asyncpg
import pytest

from shared.character import Character
from shared.eventstore.postgres import PostgresEventStore
from shared.projections import PROJECTION_TABLES, PostgresProjector, rebuild_projections
from shared.projections.vector_index import index_batch
from shared.readmodel.postgres import PostgresAgentReadModel
from shared.records import ParticipantState
from shared.runtime.agent_runtime import AgentRuntime
from shared.testing import InMemoryAgentReadModel, InMemoryEventStore, ScriptedModel
from tests.contracts.agent_read_model_contract import Scenario, all_reads, write_everything

pytestmark = pytest.mark.integration


async def runtime(pool: asyncpg.Pool, name: str, with_model: bool = False) -> AgentRuntime:
    character = Character(name=name)
    store = PostgresEventStore(pool, PostgresProjector())
    rt = AgentRuntime(character, store, db=PostgresAgentReadModel(pool, character.agent_id),
                      plugins=[ScriptedModel().as_plugin()] if with_model else [])  # fmt: skip
    await rt.initialize()  # the agent's own entity, world and room (and embedding dimension)
    return rt


async def test_the_in_memory_double_folding_the_same_log_answers_every_read_alike(
    pool: asyncpg.Pool,
) -> None:
    rt, s = await runtime(pool, "Ada"), Scenario()
    await write_everything(rt, s)
    await rt.set_participant_user_state(s.room, s.carol, ParticipantState.MUTED)
    double_store = InMemoryEventStore()
    double_store.events = await rt.store.read_all(0, 100_000)
    double = await all_reads(InMemoryAgentReadModel(double_store, rt.agent_id), s)
    live = await all_reads(rt.db, s)
    assert double == live


async def snapshot(pool: asyncpg.Pool) -> dict[str, list[str]]:
    """Every row of every projection table, every column (the maintenance ones too)."""
    tables: dict[str, list[str]] = {}
    async with pool.acquire() as conn:
        for table in PROJECTION_TABLES:
            rows = await conn.fetch(f"SELECT * FROM {table}")
            tables[table] = sorted(repr(sorted(dict(r).items())) for r in rows)
    return tables


async def index_everything(pool: asyncpg.Pool) -> None:
    """Run the vector index maintainer until no memory waits for it."""
    while await index_batch(pool, 100):
        pass


async def test_a_rebuild_gives_identical_rows_in_every_table(pool: asyncpg.Pool) -> None:
    ada, bea, s = (
        await runtime(pool, "Ada", with_model=True),
        await runtime(pool, "Bea"),
        Scenario(),
    )
    await write_everything(ada, s)
    await write_everything(bea, Scenario())
    cleo = await runtime(pool, "Cleo")
    await write_everything(cleo, Scenario())
    await cleo.clear_all_agent_memories()
    before = await snapshot(pool)
    assert {"components", "relationships", "agent_embedding_dimensions"} <= set(before)
    for table in ("entities", "worlds", "rooms", "participants", "memories", "components",
                  "relationships", "agent_embedding_dimensions"):  # fmt: skip
        assert before[table], f"{table} is empty: the scenario should have written to it"
    dims = await pool.fetch("SELECT DISTINCT vector_dims(embedding) AS d FROM memories "
                            "WHERE embedding IS NOT NULL")  # fmt: skip
    assert {384, 3072} <= {r["d"] for r in dims}  # two indexed sizes go through the rebuild
    assert not await pool.fetchval("SELECT count(*) FROM memories WHERE agent_id = $1",
                                   cleo.agent_id)  # fmt: skip
    await index_everything(pool)  # the maintainer has caught up before ...
    before = await snapshot(pool)
    assert await rebuild_projections(pool) > 0
    # the rebuild built the HNSW indexes again in bulk, every memory in them: every column of
    # every row is as it was, `indexed` (maintenance state) included
    assert await snapshot(pool) == before
    hnsw = await pool.fetch("SELECT indexname FROM pg_indexes WHERE indexdef ILIKE '% hnsw %'")
    assert {r["indexname"] for r in hnsw} == {
        f"memories_embedding_{d}" for d in (384, 512, 768, 1024, 1536, 3072)
    }
