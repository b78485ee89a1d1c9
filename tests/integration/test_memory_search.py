"""Vector search on real Postgres + pgvector: every supported embedding size goes through its HNSW
index, filters stay exact under the index, a changed embedding model is refused at start, and
`elizabus memories reembed` moves the memories to the new model's dimension."""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from shared.character import Character
from shared.errors import EmbeddingDimensionMismatchError, ModelError
from shared.eventstore.postgres import PostgresEventStore, init_connection
from shared.model_types import ModelType
from shared.plugin import Memory, Plugin
from shared.projections import PostgresProjector
from shared.projections.vector_index import index_batch
from shared.readmodel.postgres import PostgresAgentReadModel
from shared.readmodel.vector_search import (
    INDEXED_DIMENSIONS,
    iterative_scan_settings,
    memory_filter,
    search_sql,
)
from shared.runtime.agent_runtime import AgentRuntime
from shared.runtime.reembed import reembed_memories
from shared.testing import ScriptedModel
from tests.integration.support import Servers

pytestmark = pytest.mark.integration


def agent_runtime(
    pool: asyncpg.Pool, name: str = "Ada", plugins: list[Plugin] | None = None
) -> AgentRuntime:
    character = Character(name=name)
    return AgentRuntime(
        character, PostgresEventStore(pool, PostgresProjector()),
        db=PostgresAgentReadModel(pool, character.agent_id), plugins=plugins or [],
    )  # fmt: skip


def unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


def random_vectors(n: int, size: int, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [unit([rng.gauss(0.0, 1.0) for _ in range(size)]) for _ in range(n)]


def note(rt: AgentRuntime, room: uuid.UUID, text: str, vector: list[float], at: int) -> Memory:
    return Memory(entity_id=rt.agent_id, agent_id=rt.agent_id, room_id=room,
                  content={"text": text}, embedding=vector, created_at=at)  # fmt: skip


async def index_everything(pool: asyncpg.Pool) -> None:
    """Put every memory into its HNSW index, as the orchestrators' index maintainer does."""
    while await index_batch(pool, 500):
        pass


async def plan_of(pool: asyncpg.Pool, agent: uuid.UUID, query: list[float], **filters: Any) -> str:
    """The plan of the read model's indexed search SQL, with scans and sorts priced out as on a
    table of many rows (on a few dozen, reading them all and sorting is cheapest): an ordered
    index scan is then the only way left, and only if the SQL matches an index expression."""
    where = memory_filter(agent, table_name="documents", **filters)
    sql = search_sql(where, query, 5, indexed=True)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            iterative_scan_settings(5)
            + "; SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off"
        )
        rows = await conn.fetch(f"EXPLAIN (FORMAT JSON) {sql}", *where.args)
    return json.dumps(rows[0][0])


@pytest.mark.parametrize("size", sorted(INDEXED_DIMENSIONS))
async def test_each_embedding_size_is_stored_and_searched_through_its_hnsw_index(
    pool: asyncpg.Pool, size: int
) -> None:
    rt, room = agent_runtime(pool), uuid.uuid4()
    vectors = random_vectors(60, size, seed=size)
    await rt.create_memories(
        [note(rt, room, f"doc {i}", v, i) for i, v in enumerate(vectors)], "documents", unique=True
    )
    await index_everything(pool)  # into the HNSW index (the maintainer's work)
    plan = await plan_of(pool, rt.agent_id, vectors[7], room_id=room)
    assert f"memories_embedding_{size}" in plan, plan  # the index of this size, no other
    hits = await rt.search_memories(embedding=vectors[7], table_name="documents", count=5,
                                    match_threshold=-1.0, room_id=room)  # fmt: skip
    exact = await rt.db.search_memories(embedding=vectors[7], table_name="documents", count=5,  # type: ignore[union-attr,call-arg]
                                        match_threshold=-1.0, room_id=room, exact=True)  # fmt: skip
    assert hits[0].text == "doc 7" and hits[0].similarity == pytest.approx(1.0, abs=1e-2)  # type: ignore[attr-defined]
    assert [m.id for m in hits] == [m.id for m in exact]
    stored = await rt.get_memory_by_id(hits[0].id)
    assert stored is not None and stored.embedding is not None and len(stored.embedding) == size


@asynccontextmanager
async def index_first_pool(pool: asyncpg.Pool, max_scan_tuples: int) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the same database whose planner takes the HNSW index even for a room filter (as
    it does on a table of millions): sorting and sequential scans priced out, so the b-tree on
    rooms plus a sort is not chosen and the filter is applied under the index walk. An iterative
    scan gives up after `max_scan_tuples` index tuples."""
    url = pool._connect_args[0]  # type: ignore[attr-defined]
    planner = {"enable_sort": "off", "enable_seqscan": "off",
               "hnsw.max_scan_tuples": str(max_scan_tuples)}  # fmt: skip
    index_first = await asyncpg.create_pool(url, min_size=1, max_size=2, init=init_connection,
                                            server_settings=planner)  # fmt: skip
    assert index_first is not None
    try:
        yield index_first
    finally:
        await index_first.close()


@pytest.mark.parametrize(
    "max_scan_tuples",
    [20_000, 1],  # pgvector's default: the walk finds them; 1: it gives up, exact search does
)
async def test_a_room_with_few_memories_among_many_still_returns_its_k_nearest(
    pool: asyncpg.Pool, max_scan_tuples: int
) -> None:
    async with index_first_pool(pool, max_scan_tuples) as index_first:
        await few_among_many(index_first)


async def few_among_many(pool: asyncpg.Pool) -> None:
    ada, bea = agent_runtime(pool, "Ada"), agent_runtime(pool, "Bea")
    busy, quiet = uuid.uuid4(), uuid.uuid4()
    query = random_vectors(1, 384, seed=1)[0]
    near = [unit([q + 0.05 * x for q, x in zip(query, v, strict=True)])
            for v in random_vectors(1500, 384, seed=2)]  # fmt: skip
    far = random_vectors(12, 384, seed=3)  # the quiet room's, all far from the query
    await ada.create_memories([note(ada, busy, f"busy {i}", v, i) for i, v in enumerate(near)],
                              "documents", unique=True)  # fmt: skip
    await ada.create_memories([note(ada, quiet, f"quiet {i}", v, 10_000 + i)
                               for i, v in enumerate(far)], "documents", unique=True)  # fmt: skip
    await bea.create_memories([note(bea, quiet, "bea's twin", query, 1)], "documents", unique=True)
    await index_everything(pool)
    await pool.execute("ANALYZE memories")
    want = sorted(
        range(len(far)), key=lambda i: -sum(a * b for a, b in zip(far[i], query, strict=True))
    )

    hits = await ada.search_memories(embedding=query, table_name="documents", count=10,
                                     match_threshold=-1.0, room_id=quiet)  # fmt: skip
    assert [m.text for m in hits] == [f"quiet {i}" for i in want[:10]]  # Bea's twin is not hers
    everything = await ada.search_memories(embedding=query, table_name="documents", count=50,
                                           match_threshold=-1.0, room_id=quiet)  # fmt: skip
    assert len(everything) == len(far)  # fewer than asked: all of them, none lost to the index
    unfiltered = await ada.search_memories(embedding=query, table_name="documents", count=10,
                                           match_threshold=-1.0)  # fmt: skip
    assert all(m.text.startswith("busy") for m in unfiltered)
    plan = await plan_of(pool, ada.agent_id, query, room_id=quiet)
    assert "memories_embedding_384" in plan  # the filter was applied under the index walk


async def test_a_changed_embedding_model_is_refused_at_start_until_memories_are_reembedded(
    pool: asyncpg.Pool,
) -> None:
    old = agent_runtime(pool, plugins=[ScriptedModel(dimensions=384).as_plugin()])
    await old.initialize()
    assert old.embedding_dimension == 384
    assert await old.db.get_embedding_dimension() == 384  # type: ignore[union-attr]  # recorded
    room = uuid.uuid4()
    texts = [f"tea fact number {i}" for i in range(5)]
    await old.create_memories(
        [Memory(entity_id=old.agent_id, agent_id=old.agent_id, room_id=room,
                content={"text": t}, created_at=i) for i, t in enumerate(texts)],
        "facts",
    )  # fmt: skip
    await old.create_memory(note(old, room, "", [1.0] * 384, 99).model_copy(
        update={"content": {"thought": "no text"}}), "facts")  # fmt: skip
    await old.stop()

    new_model = ScriptedModel(dimensions=768)
    refused = agent_runtime(pool, plugins=[new_model.as_plugin()])
    with pytest.raises(EmbeddingDimensionMismatchError, match="elizabus memories reembed"):
        await refused.initialize()

    failing = FlakyEmbedder(768, fail_on_call=3)  # the probe, one batch, then the model fails
    rt = agent_runtime(pool, plugins=[failing.plugin()])
    await rt.initialize(check_embedding_dimension=False)
    db = rt.db
    assert isinstance(db, PostgresAgentReadModel)
    with pytest.raises(ModelError, match="run the command again"):
        await reembed_memories(rt, db, batch=2)
    assert await db.count_memories_by_dimension() == {384: 4, 768: 2}  # the first batch kept
    steps: list[int] = []
    failing.fail_on_call = None
    result = await reembed_memories(rt, db, batch=2, progress=steps.append)
    assert (result.reembedded, result.left_without_text, steps) == (3, 1, [2, 1])  # resumed
    assert await db.count_memories_by_dimension() == {768: 5, 384: 1}
    assert await db.get_embedding_dimension() == 768
    await rt.stop()

    restarted = agent_runtime(pool, plugins=[ScriptedModel(dimensions=768).as_plugin()])
    await restarted.initialize()  # accepted now
    hits = await restarted.get_relevant_memories("tea fact number 3", room, count=1,
                                                 table_name="facts")  # fmt: skip
    assert [m.text for m in hits] == ["tea fact number 3"]


class FlakyEmbedder:
    """A TEXT_EMBEDDING plugin (the hashed embedding, batches too) whose n-th call fails."""

    def __init__(self, dimensions: int, fail_on_call: int | None) -> None:
        self.model = ScriptedModel(dimensions=dimensions)
        self.fail_on_call = fail_on_call
        self.calls = 0

    def plugin(self) -> Plugin:
        async def embed(_runtime: Any, params: dict[str, Any]) -> Any:
            self.calls += 1
            if self.calls == self.fail_on_call:
                raise ModelError("the embedding worker went away")
            return self.model.respond(ModelType.TEXT_EMBEDDING, params)

        return Plugin(name="flaky-embedding", models={"TEXT_EMBEDDING": embed})


async def test_memories_reembed_command_reembeds_with_the_running_worker(
    servers: Servers,
) -> None:
    old = agent_runtime(servers.pool, "Eliza", plugins=[ScriptedModel().as_plugin()])
    await old.initialize()
    room = uuid.uuid4()
    await old.create_memories(
        [Memory(entity_id=old.agent_id, agent_id=old.agent_id, room_id=room,
                content={"text": f"note {i}"}, created_at=i) for i in range(3)],
    )  # fmt: skip
    await servers.start_worker(ScriptedModel(dimensions=512))

    code, out, err = await servers.run("memories", "reembed", "--batch", "2", timeout=120)

    assert code == 0, err
    assert "re-embedded 3 memories at 512 dimensions" in out
    assert "re-embedding Eliza's memories" in err  # the progress bar's label, on stderr
    db = PostgresAgentReadModel(servers.pool, old.agent_id)
    assert await db.count_memories_by_dimension() == {512: 3}
    assert await db.get_embedding_dimension() == 512
    code, out, err = await servers.run("memories", "reembed", timeout=120)
    assert code == 0, err
    assert "re-embedded 0 memories at 512 dimensions" in out  # nothing left: nothing done

    code, out, err = await servers.run(  # no stack's NATS: the worker's model in process
        "memories", "reembed", timeout=120, nats_url="", model_provider="scripted",
        embedding_dimensions="768",
    )  # fmt: skip
    assert code == 0, err
    assert "re-embedded 3 memories at 768 dimensions" in out
    assert await db.count_memories_by_dimension() == {768: 3}
