"""The SQL of memory queries: agent-scoped filters, and nearest-neighbour search through the
per-dimension HNSW indexes of schemas/migrations/0006_memory_vector_indexes.sql.

Each supported embedding size has a partial HNSW index over `embedding::vector(D)` (3072:
`halfvec(D)`, as HNSW on `vector` stops at 2,000 dimensions) holding only rows of that size. A
query uses it only when its ORDER BY is that very expression and its WHERE states
`vector_dims(embedding) = D` as a literal (a parameter would not prove the partial index's
predicate in a generic plan), so the SQL is written per dimension here.

Rows not yet indexed: the append writes a memory with `indexed = false`, outside the partial HNSW
indexes; the background maintainer (shared/projections/vector_index.py) moves rows into them in
batches. `complete_search_sql` therefore asks the index for its `count` nearest among indexed rows
and, in the same statement, an exact scan for the `count` nearest among the rows not yet indexed
(few, found through the partial b-tree `memories_not_indexed`); the caller merges both by
distance. A row is in exactly one branch, so none is missed and none is returned twice.

Filters under the index: the agent, table, room, world, entity and `unique` conditions are
checked on the rows the index walk yields. With pgvector's iterative scans
(`hnsw.iterative_scan = relaxed_order`, pgvector >= 0.8) the walk goes on until `count` rows
pass the filters, or until `hnsw.max_scan_tuples` rows were visited; the rows may come slightly
out of distance order (pgvector's relaxed mode, which finds more of the true nearest than
`strict_order` under a filter), so the caller sorts them by distance. When fewer than `count`
rows come back, the filtered set is small (or the walk gave up on a very selective filter): the
caller then runs the same query by exact distance (`search_sql(..., indexed=False)`), which the
b-tree indexes on (agent, table, room...) make cheap for a small set, so a search never returns
fewer than the k nearest that match.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

INDEXED_DIMENSIONS: dict[int, str] = {
    384: "vector",
    512: "vector",
    768: "vector",
    1024: "vector",
    1536: "vector",
    3072: "halfvec",
}
"""Embedding sizes with an HNSW index, and the pgvector type their index is built on."""

EF_SEARCH = 64
"""HNSW candidate list size per search (pgvector's default is 40). At 20,000 memories of `elizabus
bench memory`'s data, 64 (relaxed iterative scans) found 0.99 of the true 10 nearest, unfiltered
and by room, at 2.4-3.6 ms p95 under load; 100 found a little more unfiltered (0.999) at 2-3x the
p95, 40 less by room (0.96 strict) (docs/benchmarks.md). Raised to `count` when more are asked."""
MAX_EF_SEARCH = 1000  # pgvector's upper bound
NEAR_DUPLICATE_EF_SEARCH = 20
"""The candidate list of the `unique` check's searches (`near_duplicates_sql`): it looks for one
memory at least 0.95 similar, which an HNSW walk finds among its first candidates. At 5,000
memories of `elizabus bench memory`'s data with 333 near-duplicates among 500 new memories, 16,
32 and 64 flagged exactly what exact search flagged; 16 took 0.6 of 64's time
(docs/benchmarks.md)."""

MEMORY_COLUMNS = (
    'id, agent_id, entity_id, room_id, world_id, content, NULL::vector AS embedding, "unique", '
    "created_at, metadata"
)
"""Lists and searches leave embeddings out (384+ floats a row to decode); by id includes it."""
MEMORY_COLUMNS_WITH_EMBEDDING = MEMORY_COLUMNS.replace("NULL::vector AS embedding", "embedding")


@dataclass
class Where:
    """A conjunction of agent-scoped conditions and their positional parameters.

    Only the filters given become conditions (no `$n IS NULL OR ...`), so the planner sees each
    query's real shape and can use the b-tree indexes for it."""

    agent_id: uuid.UUID
    conditions: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.add("agent_id = {}", self.agent_id)

    def param(self, value: Any) -> str:
        """A new positional parameter for `value`: its `$n`."""
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, condition: str, value: Any) -> Where:
        """`condition` with `{}` standing for the new parameter (skipped when value is None)."""
        if value is not None:
            self.conditions.append(condition.format(self.param(value)))
        return self

    def sql(self) -> str:
        """The WHERE clause's body."""
        return " AND ".join(self.conditions)


def memory_filter(
    agent_id: uuid.UUID,
    *,
    table_name: str | None = None,
    room_id: uuid.UUID | None = None,
    room_ids: Sequence[uuid.UUID] | None = None,
    entity_id: uuid.UUID | None = None,
    world_id: uuid.UUID | None = None,
    unique: bool = False,
    start: int | None = None,
    end: int | None = None,
) -> Where:
    """The conditions of a memory query of one agent."""
    where = Where(agent_id)
    where.add("table_name = {}", table_name).add("room_id = {}", room_id)
    where.add("room_id = any({}::uuid[])", list(room_ids) if room_ids is not None else None)
    where.add("entity_id = {}", entity_id).add("world_id = {}", world_id)
    where.add("created_at >= {}", start).add("created_at <= {}", end)
    if unique:
        where.conditions.append('"unique"')
    return where


def _distance(dimension: int, query_param: str, indexed: bool, column: str = "embedding") -> str:
    if not indexed:
        return f"{column} <=> {query_param}::vector"
    kind = INDEXED_DIMENSIONS[dimension]
    query = f"{query_param}::vector({dimension})"
    if kind != "vector":
        query = f"{query}::{kind}({dimension})"
    return f"({column}::{kind}({dimension})) <=> ({query})"


def search_sql(where: Where, embedding: list[float], count: int, *, indexed: bool) -> str:
    """The `count` nearest memories matching `where` (appends its parameters to `where`): among
    the rows already indexed, through the dimension's HNSW index, when `indexed` (run it with
    `iterative_scan_settings`), else among all by exact distance. Rows carry `distance`
    (cosine), nearest first."""
    dimension = len(embedding)
    query = where.param(embedding)
    limit = where.param(count)
    distance = _distance(dimension, query, indexed)
    return (
        f"SELECT {MEMORY_COLUMNS}, {distance} AS distance FROM memories "
        f"WHERE {where.sql()} AND vector_dims(embedding) = {int(dimension)} "
        f"{'AND indexed ' if indexed else ''}ORDER BY {distance} LIMIT {limit}"
    )


def complete_search_sql(where: Where, embedding: list[float], count: int) -> str:
    """The `count` nearest indexed memories matching `where`, through the dimension's HNSW index
    (run it with `iterative_scan_settings`), and the `count` nearest not yet indexed, by exact
    distance; rows carry `distance` and `from_index` (which branch found them). The caller
    keeps the `count` nearest of both, and falls back to `search_sql(..., indexed=False)` when
    the index branch found fewer than `count` (see the module's docstring)."""
    dimension = len(embedding)
    query = where.param(embedding)
    limit = where.param(count)
    distance = _distance(dimension, query, True)
    rows = f"FROM memories WHERE {where.sql()} AND vector_dims(embedding) = {int(dimension)}"
    return (
        f"(SELECT {MEMORY_COLUMNS}, {distance} AS distance, true AS from_index {rows} "
        f"AND indexed ORDER BY {distance} LIMIT {limit}) UNION ALL "
        f"(SELECT {MEMORY_COLUMNS}, {distance} AS distance, false AS from_index {rows} "
        f"AND NOT indexed ORDER BY {distance} LIMIT {limit})"
    )


def near_duplicates_sql(dimension: int) -> str:
    """ElizaOS's `unique` check for a batch of new memories of one embedding size, in one
    statement: for each, the cosine distance of the nearest stored memory of the same agent
    ($1), table ($2), room, entity and (when it has one) world, and of the nearest such memory
    earlier in the batch (as if the batch were created one memory after another).

    Parameters: $1 agent, $2 table, then arrays of equal length: $3 positions (int), $4
    embeddings (as text, `vector_text`), $5 rooms, $6 worlds (NULL: any world), $7 entities;
    $8 the positions to answer for (a part of $3: parts of a batch can run side by side, each
    comparing with the whole batch's earlier memories). Rows: `i`, `stored_distance`,
    `batch_distance` (NULL when there is none). Stored memories are searched as
    `search_memories(count=1)` does: the HNSW index (run it with `iterative_scan_settings`)
    merged with the rows not yet indexed, by exact distance when
    the index finds nothing."""
    same = (
        "m.agent_id = $1 AND m.table_name = $2 AND m.room_id = b.room AND m.entity_id = b.entity "
        f"AND (b.world IS NULL OR m.world_id = b.world) AND vector_dims(m.embedding) = {dimension}"
    )
    exact = f"(SELECT min(m.embedding <=> b.e) FROM memories m WHERE {same})"
    if is_indexed(dimension):
        distance = _distance(dimension, "b.e", True, column="m.embedding")
        nearest_indexed = (
            f"LEFT JOIN LATERAL (SELECT {distance} AS d FROM memories m WHERE {same} AND m.indexed "
            f"ORDER BY {distance} LIMIT 1) idx ON true"
        )
        backlog = f"(SELECT min({distance}) FROM memories m WHERE {same} AND NOT m.indexed)"
        stored = f"CASE WHEN idx.d IS NULL THEN {exact} ELSE least(idx.d, {backlog}) END"
    else:
        nearest_indexed, stored = "", exact
    return (
        "WITH batch AS (SELECT i, e::vector AS e, room, world, entity FROM unnest($3::int[], "
        "$4::text[], $5::uuid[], $6::uuid[], $7::uuid[]) AS b(i, e, room, world, entity)) "
        f"SELECT b.i, {stored} AS stored_distance, "
        "(SELECT min(p.e <=> b.e) FROM batch p WHERE p.i < b.i AND p.room = b.room "
        "AND p.entity = b.entity AND (b.world IS NULL OR p.world = b.world)) AS batch_distance "
        f"FROM batch b {nearest_indexed} WHERE b.i = any($8::int[])"
    )


def vector_text(embedding: list[float]) -> str:
    """An embedding in pgvector's text form (asyncpg sends a list of lists as a 2-D array, not
    as an array of vectors)."""
    return "[" + ",".join(map(repr, embedding)) + "]"


def is_indexed(dimension: int) -> bool:
    """Whether embeddings of this size have an HNSW index."""
    return dimension in INDEXED_DIMENSIONS


def iterative_scan_settings(count: int, ef_search: int = EF_SEARCH) -> str:
    """SET LOCAL statements (run inside the search's transaction) for a filtered index search
    of `count` rows with a candidate list of `ef_search` (at least `count`)."""
    ef_search = min(MAX_EF_SEARCH, max(ef_search, count))
    return (
        "SET LOCAL hnsw.iterative_scan = relaxed_order; "
        f"SET LOCAL hnsw.ef_search = {int(ef_search)}"
    )
