"""`elizabus bench memory`: memory creation and vector search, in the shape of the ElizaOS
harness's search phase (elizaos-bench `bench.mjs`, BENCH_PHASES=search).

One agent on a real Postgres + pgvector: its own embedded Postgres in a temporary directory
(durable defaults, as `elizabus up` runs it), or a new database on ELIZABUS_DATABASE_URL's server.
Memories are sentences of 10 to 20 words drawn from a 40-word vocabulary (as the harness's), in 10
rooms by 20 entities, embedded by the hashed-feature model (`hashed_embedding`, the scripted
double's TEXT_EMBEDDING) and stored with `create_memory` through the event log: the first
`--single` one at a time (one append each), the rest with `create_memories` in batches of `--batch`
(one append each). `unique` is left unset, ElizaOS's default; as in ElizaOS 1.7, a memory embedded
while it is stored is unique without a search (one given with its embedding would cost a
0.95-similarity search: one statement for a batch). A vector index maintainer runs beside the
appends, as an orchestrator runs it, competing for the same cores: `create_per_s` is the append
rate with it running, `index_backlog_after_create` the rows it had not indexed when the last append
returned, `index_rows_per_s` its sustained rate (rows per second of its own work), and
`created_and_indexed_per_s` the rate from the first batched append to the last row indexed (the
sustained figure). Before it catches up, up to 50 searches are timed with that backlog waiting
(`backlogged_search_*`: the exact scan of the rows not yet indexed is in each). Then `--searches`
searches for the 10 nearest of a fresh 6-word sentence, unfiltered and then filtered by room, timed
one after another. recall@10 compares each indexed search with exact search (`exact=True`, no
index), counting a hit as right when it is at most as far as the exact 10th (sentences from a small
vocabulary tie often).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # the command imports the runtime only when it runs (a quick `elizabus`)
    import asyncpg

    from shared.plugin import Memory, Plugin
    from shared.readmodel.postgres import PostgresAgentReadModel

bench_app = typer.Typer(help="Benchmarks of parts of elizabus.", no_args_is_help=True)

VOCABULARY = [
    "latency",
    "memory",
    "database",
    "agent",
    "reply",
    "question",
    "python",
    "typescript",
    "runtime",
    "message",
    "room",
    "entity",
    "vector",
    "search",
    "embedding",
    "cache",
    "provider",
    "action",
    "evaluator",
    "reflection",
    "benchmark",
    "throughput",
    "postgres",
    "pglite",
    "wasm",
    "node",
    "event",
    "callback",
    "state",
    "prompt",
    "template",
    "model",
    "token",
    "fact",
    "relationship",
]
ROOMS, ENTITIES, COUNT = 10, 20, 10


def sentence(seed: int, words: int) -> str:
    """A deterministic sentence of `words` vocabulary words (a 32-bit xorshift from `seed`)."""
    x = (seed & 0xFFFFFFFF) or 1
    out = []
    for _ in range(words):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out.append(VOCABULARY[x % len(VOCABULARY)])
    return " ".join(out)


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 3),
        "p95": round(_percentile(values, 0.95), 3),
        "p99": round(_percentile(values, 0.99), 3),
    }


@asynccontextmanager
async def _database() -> AsyncIterator[str]:
    """A fresh, migrated database: on ELIZABUS_DATABASE_URL's server, or an embedded Postgres."""
    import asyncpg

    from shared.embedded import EmbeddedPostgres
    from shared.eventstore.migrations import migrate

    server = os.environ.get("ELIZABUS_DATABASE_URL")
    if server:
        name = f"bench_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()
        url = server.rsplit("/", 1)[0] + f"/{name}"
        await migrate(url)
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="elizabus-bench-memory-") as tmp:
        async with EmbeddedPostgres(Path(tmp)) as pg:
            await migrate(pg.url)
            yield pg.url


def _embedding_plugin(dimensions: int) -> Plugin:
    from shared.hashed_embedding import hashed_embedding
    from shared.plugin import Plugin

    async def embed(_runtime: Any, params: dict[str, Any]) -> Any:
        text = params.get("text")
        if isinstance(text, list):  # a batch: one vector per text
            return [hashed_embedding(t, dimensions) for t in text]
        return hashed_embedding(text if isinstance(text, str) else None, dimensions)

    return Plugin(name="bench-embedding", models={"TEXT_EMBEDDING": embed})


async def run_memory_bench(
    memories: int, dimensions: int, searches: int, single: int, batch: int
) -> dict[str, Any]:
    """Create `memories` memories and time searches over them; the figures as one dict."""
    from shared.eventstore.postgres import create_pool

    async with _database() as url:
        pool = await create_pool(url, max_size=10)
        try:
            return await _bench(pool, memories, dimensions, searches, single, batch)
        finally:
            await pool.close()


async def _bench(
    pool: asyncpg.Pool, n: int, dimensions: int, searches: int, single: int, batch: int
) -> dict[str, Any]:
    from shared.character import Character
    from shared.eventstore.postgres import PostgresEventStore
    from shared.hashed_embedding import hashed_embedding
    from shared.ids import create_unique_uuid
    from shared.plugin import Memory
    from shared.projections import PostgresProjector
    from shared.projections.vector_index import VectorIndexMaintainer, index_backlog
    from shared.readmodel.postgres import PostgresAgentReadModel
    from shared.runtime.agent_runtime import AgentRuntime

    character = Character(name="BenchAgent")
    db = PostgresAgentReadModel(pool, character.agent_id)
    runtime = AgentRuntime(character, PostgresEventStore(pool, PostgresProjector()), db=db,
                           pool=pool, plugins=[_embedding_plugin(dimensions)])  # fmt: skip
    await runtime.initialize()
    agent = runtime.agent_id
    rooms = [create_unique_uuid(agent, f"search-room-{r}") for r in range(ROOMS)]
    entities = [create_unique_uuid(agent, f"search-entity-{e}") for e in range(ENTITIES)]
    world = create_unique_uuid(agent, "search-world")

    def memory(i: int) -> Memory:
        return Memory(id=create_unique_uuid(agent, f"search-mem-{i}"),
                      entity_id=entities[i % ENTITIES], agent_id=agent, room_id=rooms[i % ROOMS],
                      world_id=world, content={"text": sentence(i * 2654435761 + 7, 10 + i % 11),
                                               "source": "bench"})  # fmt: skip

    maintainer = VectorIndexMaintainer(pool)
    maintainer.start()  # as an orchestrator runs it: beside the appends, competing for the CPU
    single = min(single, n)
    started = time.perf_counter()
    for i in range(single):
        await runtime.create_memory(memory(i), "memories")
    single_s = time.perf_counter() - started
    started = time.perf_counter()
    for first in range(single, n, batch):
        chunk = [memory(i) for i in range(first, min(n, first + batch))]
        await runtime.create_memories(chunk, "memories")
    batched_s = time.perf_counter() - started
    created_at = time.perf_counter()
    await maintainer.stop()
    backlog = await index_backlog(pool)
    queries = [
        hashed_embedding(sentence(i * 40503 + 99991, 6), dimensions) for i in range(searches)
    ]
    backlogged_ms: list[float] = []
    for q in queries[: min(50, searches)] if backlog else ():  # searches while rows wait
        t = time.perf_counter()
        await runtime.search_memories(embedding=q, table_name="memories", count=COUNT)
        backlogged_ms.append((time.perf_counter() - t) * 1000)
    paused_s = time.perf_counter() - created_at
    while await maintainer.run_once():  # the maintainer catching up
        pass
    indexed_s = time.perf_counter() - started - paused_s  # first batched append to all indexed
    await pool.execute("VACUUM ANALYZE memories")

    async def timed(room: bool) -> tuple[list[float], list[list[Memory]]]:
        latencies, results = [], []
        for i, q in enumerate(queries):
            started = time.perf_counter()
            hits = await runtime.search_memories(
                embedding=q, table_name="memories", match_threshold=0.0, count=COUNT,
                room_id=rooms[i % ROOMS] if room else None,
            )  # fmt: skip
            latencies.append((time.perf_counter() - started) * 1000)
            results.append(hits)
        return latencies, results

    for q in queries[:5]:  # warm-up
        await runtime.search_memories(embedding=q, table_name="memories", count=COUNT)
    search_ms, found = await timed(room=False)
    room_ms, room_found = await timed(room=True)
    recall = await _recall(db, queries, found, None)
    room_recall = await _recall(db, queries, room_found, rooms)
    await runtime.stop()
    return {
        "memories": n,
        "dimensions": dimensions,
        "create_per_s": round((n - single) / batched_s, 1) if n > single else None,
        "create_single_per_s": round(single / single_s, 1) if single else None,
        "create_batch_size": batch,
        "index_backlog_after_create": backlog,
        "index_rows_per_s": round(maintainer.stats.rows_per_second or 0.0, 1),
        "created_and_indexed_per_s": round((n - single) / indexed_s, 1) if n > single else None,
        "backlogged_search_p50_ms": _ms(backlogged_ms)["p50"] if backlogged_ms else None,
        "backlogged_search_p95_ms": _ms(backlogged_ms)["p95"] if backlogged_ms else None,
        "search_p50_ms": _ms(search_ms)["p50"],
        "search_p95_ms": _ms(search_ms)["p95"],
        "search_p99_ms": _ms(search_ms)["p99"],
        "room_search_p50_ms": _ms(room_ms)["p50"],
        "room_search_p95_ms": _ms(room_ms)["p95"],
        "recall_at_10": recall,
        "room_recall_at_10": room_recall,
        "avg_hits": round(sum(len(h) for h in found) / max(len(found), 1), 2),
        "searches": searches,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


def _similarity(memory: Memory) -> float:
    return float(getattr(memory, "similarity"))  # noqa: B009  # an extra field of search hits


async def _recall(
    db: PostgresAgentReadModel,
    queries: list[list[float]],
    found: list[list[Memory]],
    rooms: list[uuid.UUID] | None,
) -> float:
    """Mean share of the indexed search's hits at most as far as exact search's 10th."""
    shares = []
    for i, (query, hits) in enumerate(zip(queries, found, strict=True)):
        exact = await db.search_memories(
            embedding=query, table_name="memories", match_threshold=0.0, count=COUNT,
            room_id=rooms[i % len(rooms)] if rooms else None, exact=True,
        )  # fmt: skip
        if not exact:
            continue
        bound = min(_similarity(m) for m in exact) - 1e-6
        right = sum(1 for m in hits[:COUNT] if _similarity(m) >= bound)
        shares.append(right / len(exact))
    return round(sum(shares) / len(shares), 4) if shares else 0.0


@bench_app.command("memory")
def bench_memory(
    memories: Annotated[int, typer.Option("--memories", min=1, help="memories to create")] = 5000,
    dim: Annotated[int, typer.Option("--dim", min=1, help="embedding dimensions")] = 384,
    searches: Annotated[int, typer.Option(min=1, help="timed searches of each kind")] = 200,
    single: Annotated[int, typer.Option(min=0, help="memories created one at a time")] = 500,
    batch: Annotated[int, typer.Option(min=1, help="memories per create_memories")] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Create memories through the event log and time vector search over them (see docs/
    benchmarks.md, "Issue 16: memory search")."""
    result = asyncio.run(run_memory_bench(memories, dim, searches, single, batch))
    if as_json:
        typer.echo(json.dumps(result))
        return
    for key, value in result.items():
        typer.echo(f"{key:>22}: {value}")
    print("(load average is the machine's 1/5/15-minute load at the end)", file=sys.stderr)
