"""After the load: `elizabus projections rebuild` on the stack's database, and a row-for-row
comparison of every projection table with what the live services had written.

The live tables are read in one repeatable-read snapshot together with the log's last position;
the rebuild takes the append lock, so when the log's last position is the same before and after,
both sides describe the same log (an orchestrator appending meanwhile, e.g. a background repair,
makes the comparison start again).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import asyncpg

from shared.projections import PROJECTION_TABLES, comparable_rows
from tests.chaos.stack import CLI, REPO, UpStack

ATTEMPTS = 3


@dataclass
class ProjectionCheck:
    """Whether the rebuilt projections equal the live ones, and where they differ."""

    equal: bool
    rows: int
    events: int
    differences: dict[str, tuple[int, int]] = field(default_factory=dict)
    """table -> (live rows missing after the rebuild, rebuilt rows not in the live table)."""
    note: str = ""


async def dump(pool: asyncpg.Pool) -> tuple[int, dict[str, list[str]]]:
    """The log's last position and every projection table's rows (as sorted JSON), in one
    snapshot, as `comparable_rows` gives them (without the maintenance columns: a rebuild marks
    every memory indexed, the live maintainer may not have reached the newest)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        head = int(await conn.fetchval("SELECT coalesce(max(position), 0) FROM events"))
        tables: dict[str, list[str]] = {}
        for table in PROJECTION_TABLES:
            tables[table] = await comparable_rows(conn, table)
    return head, tables


async def rebuild_with_cli(stack: UpStack) -> str:
    """Run `elizabus projections rebuild` against the stack, as an operator would."""
    proc = await asyncio.create_subprocess_exec(
        *CLI, "projections", "rebuild", env=stack.service_env(), cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    text = out.decode(errors="replace").strip()
    if proc.returncode != 0:
        raise RuntimeError(f"elizabus projections rebuild failed ({proc.returncode}): {text}")
    return text


def compare(
    live: dict[str, list[str]], rebuilt: dict[str, list[str]]
) -> dict[str, tuple[int, int]]:
    """Per table with differences: (live rows missing in rebuilt, rebuilt rows not live)."""
    out = {}
    for table in PROJECTION_TABLES:
        a, b = live.get(table, []), rebuilt.get(table, [])
        if a != b:
            missing = (Counter(a) - Counter(b)).total()
            extra = (Counter(b) - Counter(a)).total()
            out[table] = (missing, extra)
    return out


async def check_projections(stack: UpStack) -> ProjectionCheck:
    """Dump the live projections, rebuild them with the CLI, dump again, compare."""
    pool = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=2)
    try:
        for _ in range(ATTEMPTS):
            head, live = await dump(pool)
            await rebuild_with_cli(stack)
            after, rebuilt = await dump(pool)
            if after != head:
                continue  # something was appended in between: the two sides differ in log
            differences = compare(live, rebuilt)
            return ProjectionCheck(
                equal=not differences,
                rows=sum(len(v) for v in live.values()),
                events=head,
                differences=differences,
            )
        return ProjectionCheck(False, 0, 0, note="the log kept growing during the comparison")
    finally:
        await pool.close()
