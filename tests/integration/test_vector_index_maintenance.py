"""The vector index maintainer on real Postgres + pgvector: the append stores memories outside the
HNSW index, searches still find every memory (once) while the maintainer has not indexed it,
the maintainer catches up, several maintainers share the work without doubling it or waiting for
each other, and ElizaOS's `unique` check sees the memories not yet indexed and the batch's own."""

from __future__ import annotations

import asyncio
import math
import random
import uuid

import asyncpg
import pytest

from shared.character import Character
from shared.eventstore.postgres import PostgresEventStore
from shared.plugin import Memory
from shared.projections import PostgresProjector, rebuild_projections
from shared.projections.vector_index import VectorIndexMaintainer, index_backlog, index_batch
from shared.readmodel.postgres import (
    NEAR_DUPLICATE_PART_MIN,
    NEAR_DUPLICATE_PARTS,
    PostgresAgentReadModel,
)
from shared.readmodel.vector_search import iterative_scan_settings, memory_filter, search_sql
from shared.runtime.agent_runtime import AgentRuntime
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration


def agent_runtime(pool: asyncpg.Pool, name: str = "Ada") -> AgentRuntime:
    character = Character(name=name)
    return AgentRuntime(character, PostgresEventStore(pool, PostgresProjector()),
                        db=PostgresAgentReadModel(pool, character.agent_id))  # fmt: skip


def unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


def random_vectors(n: int, seed: int, size: int = 384) -> list[list[float]]:
    rng = random.Random(seed)
    return [unit([rng.gauss(0.0, 1.0) for _ in range(size)]) for _ in range(n)]


def note(rt: AgentRuntime, room: uuid.UUID, text: str, vector: list[float] | None) -> Memory:
    return Memory(entity_id=rt.agent_id, agent_id=rt.agent_id, room_id=room,
                  content={"text": text}, embedding=vector)  # fmt: skip


async def not_indexed(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM memories WHERE NOT indexed"))


async def index_everything(pool: asyncpg.Pool) -> int:
    done = 0
    while n := await index_batch(pool, 100):
        done += n
    return done


async def search(rt: AgentRuntime, query: list[float], room: uuid.UUID, count: int) -> list[Memory]:
    return await rt.search_memories(embedding=query, table_name="documents", count=count,
                                    match_threshold=-1.0, room_id=room)  # fmt: skip


async def exact_search(
    rt: AgentRuntime, query: list[float], room: uuid.UUID, count: int
) -> list[Memory]:
    assert isinstance(rt.db, PostgresAgentReadModel)
    return await rt.db.search_memories(embedding=query, table_name="documents", count=count,
                                       match_threshold=-1.0, room_id=room, exact=True)  # fmt: skip


async def test_a_memory_not_yet_indexed_is_found_and_an_indexed_one_only_once(
    pool: asyncpg.Pool,
) -> None:
    rt, room = agent_runtime(pool), uuid.uuid4()
    vectors = random_vectors(41, seed=7)
    query, older = vectors[0], vectors[1:]
    await rt.create_memories([note(rt, room, f"older {i}", v) for i, v in enumerate(older)],
                             "documents", unique=True)  # fmt: skip
    assert await not_indexed(pool) == len(older)  # the append left them to the maintainer
    assert await index_everything(pool) == len(older)
    await rt.create_memories([note(rt, room, "newest", query)], "documents", unique=True)
    assert await not_indexed(pool) == 1

    # the index alone has 40 rows for the room, more than asked: no exact fallback here, the
    # newest is found by the scan of the rows not yet indexed
    hits = await search(rt, query, room, 5)
    assert hits[0].text == "newest"
    assert [m.id for m in hits] == [m.id for m in await exact_search(rt, query, room, 5)]

    await index_everything(pool)
    assert await not_indexed(pool) == 0
    hits = await search(rt, query, room, 10)
    ids = [m.id for m in hits]
    assert len(set(ids)) == len(ids) == 10  # each once, though both branches ran
    assert ids == [m.id for m in await exact_search(rt, query, room, 10)]
    assert hits[0].text == "newest"


async def indexed_search_finds(pool: asyncpg.Pool, agent: uuid.UUID, query: list[float]) -> bool:
    """Whether the HNSW index itself (the indexed branch alone) returns the memory of `query`."""
    where = memory_filter(agent, table_name="documents")
    sql = search_sql(where, query, 1, indexed=True)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(iterative_scan_settings(1))
        rows = await conn.fetch(sql, *where.args)
    return bool(rows) and float(rows[0]["distance"]) < 1e-4


async def test_the_maintainer_catches_up_and_keeps_up(pool: asyncpg.Pool) -> None:
    ada, bea, room = agent_runtime(pool, "Ada"), agent_runtime(pool, "Bea"), uuid.uuid4()
    vectors = random_vectors(600, seed=11)
    await ada.create_memories([note(ada, room, f"a {i}", v) for i, v in enumerate(vectors[:400])],
                              "documents", unique=True)  # fmt: skip
    await bea.create_memories([note(bea, room, f"b {i}", v) for i, v in enumerate(vectors[400:])],
                              "documents", unique=True)  # fmt: skip
    await ada.create_memories([note(ada, room, "a marker, no text to embed", None)], "documents",
                              embed=False)  # fmt: skip
    assert await index_backlog(pool) == 601
    assert not await indexed_search_finds(pool, ada.agent_id, vectors[123])

    maintainer = VectorIndexMaintainer(pool, batch=100, idle_seconds=0.05)
    maintainer.start()
    try:
        await wait_for(lambda: backlog_is(pool, 0), timeout=120)
        assert maintainer.stats.rows == 601 and maintainer.stats.batches >= 7
        assert (maintainer.stats.rows_per_second or 0) > 0
        assert await indexed_search_finds(pool, ada.agent_id, vectors[123])
        assert await indexed_search_finds(pool, bea.agent_id, vectors[456])
        # while it runs, new memories (and a changed embedding) are indexed as they come
        fresh = random_vectors(2, seed=12)
        await ada.create_memories([note(ada, room, "later", fresh[0])], "documents", unique=True)
        first = (await ada.get_memories(room_id=room, table_name="documents", count=1000))[-1]
        await ada.update_memory(first.id, embedding=fresh[1])
        await wait_for(lambda: backlog_is(pool, 0), timeout=60)
        assert await indexed_search_finds(pool, ada.agent_id, fresh[0])
        assert await indexed_search_finds(pool, ada.agent_id, fresh[1])
    finally:
        await maintainer.stop()


async def backlog_is(pool: asyncpg.Pool, expected: int) -> bool:
    return await index_backlog(pool) == expected


async def test_several_maintainers_share_the_backlog_without_doubling_or_deadlock(
    pool: asyncpg.Pool,
) -> None:
    rt, room = agent_runtime(pool), uuid.uuid4()
    vectors = random_vectors(1500, seed=13, size=64)  # a size without an index: cheap to mark
    await rt.create_memories([note(rt, room, f"m {i}", v) for i, v in enumerate(vectors)],
                             "documents", unique=True)  # fmt: skip
    more = random_vectors(300, seed=14)  # and some that go into the HNSW index
    await rt.create_memories([note(rt, room, f"h {i}", v) for i, v in enumerate(more)],
                             "documents", unique=True)  # fmt: skip
    counts = await pool.fetch("SELECT id FROM memories WHERE NOT indexed")
    assert len(counts) == 1800

    async def one_maintainer() -> int:
        done = 0
        while n := await index_batch(pool, 25):
            done += n
        return done

    done = await asyncio.wait_for(asyncio.gather(*(one_maintainer() for _ in range(4))), 120)
    assert sum(done) == 1800  # every row indexed by exactly one of them
    assert sum(1 for d in done if d) >= 2  # and they did work side by side
    assert await index_backlog(pool) == 0


async def test_unique_sees_memories_not_yet_indexed_and_earlier_ones_of_the_same_batch(
    pool: asyncpg.Pool,
) -> None:
    rt, room, other_room = agent_runtime(pool), uuid.uuid4(), uuid.uuid4()
    base = random_vectors(30, seed=21)
    await rt.create_memories([note(rt, room, f"base {i}", v) for i, v in enumerate(base)],
                             "documents", unique=True)  # fmt: skip
    await index_everything(pool)
    twin = random_vectors(1, seed=22)[0]
    await rt.create_memories([note(rt, room, "stored twin", twin)], "documents", unique=True)
    assert await not_indexed(pool) == 1  # the stored twin waits for the maintainer

    fresh = random_vectors(2, seed=23)
    batch = [
        note(rt, room, "like the stored twin", twin),  # 1.0 similar to a row not yet indexed
        note(rt, room, "new", fresh[0]),
        note(rt, room, "like an earlier one of this batch", fresh[0]),
        note(rt, other_room, "same vector, another room", fresh[0]),
        note(rt, room, "unrelated", fresh[1]),
        note(rt, room, "like a stored, indexed one", base[3]),
    ]
    await rt.create_memories(batch, "documents")  # unique unset: ElizaOS's check
    assert [m.unique for m in batch] == [False, True, False, True, True, False]
    stored = {m.text: m.unique for m in await rt.get_memories(table_name="documents", count=100)}
    assert [stored[m.text] for m in batch] == [False, True, False, True, True, False]


async def test_a_large_batch_checked_in_parts_still_compares_with_its_whole_self(
    pool: asyncpg.Pool,
) -> None:
    rt, room = agent_runtime(pool), uuid.uuid4()
    originals = random_vectors(70, seed=31)
    # each original followed by its copy: with the batch split into interleaved parts, the copy
    # is answered by the other part than its original
    batch = [note(rt, room, f"{kind} {i}", v) for i, v in enumerate(originals)
             for kind in ("original", "copy")]  # fmt: skip
    assert len(batch) >= NEAR_DUPLICATE_PART_MIN * NEAR_DUPLICATE_PARTS  # checked in parts
    await rt.create_memories(batch, "documents")
    assert [m.unique for m in batch] == [True, False] * len(originals)


async def test_a_rebuild_puts_every_memory_into_its_index_at_once(pool: asyncpg.Pool) -> None:
    rt, room = agent_runtime(pool), uuid.uuid4()
    vectors = random_vectors(300, seed=41)
    await rt.create_memories([note(rt, room, f"m {i}", v) for i, v in enumerate(vectors)],
                             "documents", unique=True)  # fmt: skip
    assert await index_backlog(pool) == 300  # no maintainer ran
    await rebuild_projections(pool)
    assert await index_backlog(pool) == 0  # the rebuild built the index in bulk
    assert await indexed_search_finds(pool, rt.agent_id, vectors[42])
    hits = await search(rt, vectors[42], room, 10)
    assert [m.id for m in hits] == [m.id for m in await exact_search(rt, vectors[42], room, 10)]
