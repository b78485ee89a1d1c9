"""`elizabus memories ...`: the agents' memories (re-embedding them after a model change)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from shared.character import Character, load_character
from shared.settings import Settings

memories_app = typer.Typer(help="The agents' memories.", no_args_is_help=True)


@memories_app.command("reembed")
def reembed(
    character: Annotated[
        list[Path] | None,
        typer.Option("--character", "-c", help="the agent's character file (repeat for more)"),
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="memories per model call and append")] = 64,
) -> None:
    """Re-embed every memory whose embedding is not of the current embedding model's dimension.

    Run it after changing the embedding model, when the orchestrator refuses to start ("the
    embedding model answers N-dimension vectors but its memories were embedded at M"), with the
    new model's worker running (`elizabus up` keeps NATS, Postgres and the workers up meanwhile).
    Each batch is recorded as `memory.embedding_added` events; stopped, it resumes where it
    stopped. Progress goes to stderr.
    """
    settings = Settings()
    paths = character or ([settings.character] if settings.character else [])
    characters = [load_character(p) for p in paths] or [load_character(None)]
    for line in asyncio.run(_reembed(settings, characters, batch)):
        typer.echo(line)


async def _reembed(settings: Settings, characters: list[Character], batch: int) -> list[str]:
    from services.orchestrator.agents import build_runtime
    from shared.bus.nats_bus import NatsBus
    from shared.eventstore.migrations import migrate
    from shared.eventstore.postgres import PostgresEventStore, create_pool
    from shared.projections import PostgresProjector
    from shared.runtime.reembed import pending_count, reembed_memories

    url = settings.resolved_database_url()
    await migrate(url)
    pool = await create_pool(url, min_size=1, max_size=4)
    bus = await NatsBus.connect(settings.resolved_nats_url(), name="elizabus-reembed")
    lines: list[str] = []
    try:
        store = PostgresEventStore(pool, PostgresProjector())
        for c in characters:
            runtime = build_runtime(c, store, pool, bus, settings)
            await runtime.initialize(check_embedding_dimension=False)
            try:
                assert runtime.db is not None
                total = await pending_count(runtime, runtime.db)
                with typer.progressbar(
                    length=total, label=f"re-embedding {c.name}'s memories", file=sys.stderr
                ) as bar:
                    result = await reembed_memories(runtime, runtime.db, batch, bar.update)
            finally:
                await runtime.stop()
            line = f"{c.name}: re-embedded {result.reembedded} memories at {result.dimension} "
            line += "dimensions"
            if result.left_without_text:
                line += f" ({result.left_without_text} without text keep their old embedding)"
            lines.append(line)
    finally:
        await bus.close()
        await pool.close()
    return lines
