"""`elizabus memories ...`: the agents' memories (re-embedding them after a model change)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shared.character import Character, load_character
from shared.errors import ConfigurationError
from shared.settings import Settings

if TYPE_CHECKING:  # the runtime is imported when the command runs (a quick `elizabus`)
    from shared.plugin import Plugin

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
    embedding model answers N-dimension vectors but its memories were embedded at M"). It uses
    the running stack's servers and model workers when there is one (ELIZABUS_DATABASE_URL and
    ELIZABUS_NATS_URL, or a running `elizabus up`); otherwise it starts the data dir's embedded
    Postgres itself (`elizabus up` must not run meanwhile) and runs the model the worker
    settings name (ELIZABUS_MODEL_PROVIDER, ELIZABUS_EMBEDDING_DIMENSIONS, ...) in process.
    Each batch is recorded as `memory.embedding_added` events; stopped, it resumes where it
    stopped. Progress goes to stderr.
    """
    settings = Settings()
    paths = character or ([settings.character] if settings.character else [])
    characters = [load_character(p) for p in paths] or [load_character(None)]
    for line in asyncio.run(_reembed(settings, characters, batch)):
        typer.echo(line)


def _running(resolve: Callable[[], str]) -> str | None:
    try:
        return resolve()
    except ConfigurationError:
        return None


async def _reembed(settings: Settings, characters: list[Character], batch: int) -> list[str]:
    database_url = _running(settings.resolved_database_url)
    if database_url is not None:
        return await _reembed_on(database_url, _running(settings.resolved_nats_url), settings,
                                 characters, batch)  # fmt: skip
    from services.cli.stack import LOCK_FILE, exclusive_lock
    from shared.embedded import EmbeddedPostgres

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with exclusive_lock(settings.data_dir / LOCK_FILE) as lock_fd:
        postgres = EmbeddedPostgres(settings.data_dir, settings.postgres_port, hold_fds=(lock_fd,))
        await postgres.start()
        try:
            return await _reembed_on(postgres.url, None, settings, characters, batch)
        finally:
            await postgres.stop()


def _in_process_model(settings: Settings) -> Plugin:
    """The model worker's TEXT_EMBEDDING (as its settings choose it), served in this process."""
    from services.model_worker.app import build_model
    from shared.messages import ModelRequest
    from shared.model_types import ModelType
    from shared.plugin import Plugin

    model = build_model(settings)

    async def embed(_runtime: Any, params: dict[str, Any]) -> Any:
        return await model.handle(ModelRequest(model_type=ModelType.TEXT_EMBEDDING, params=params))

    return Plugin(name="reembed-model", priority=100, models={"TEXT_EMBEDDING": embed})


async def _reembed_on(
    database_url: str,
    nats_url: str | None,
    settings: Settings,
    characters: list[Character],
    batch: int,
) -> list[str]:
    from services.orchestrator.agents import build_runtime
    from shared.bus.nats_bus import NatsBus
    from shared.eventstore.migrations import migrate
    from shared.eventstore.postgres import PostgresEventStore, create_pool
    from shared.projections import PostgresProjector
    from shared.readmodel.postgres import PostgresAgentReadModel
    from shared.runtime.agent_runtime import AgentRuntime
    from shared.runtime.reembed import pending_count, reembed_memories

    await migrate(database_url)
    pool = await create_pool(database_url, min_size=1, max_size=4)
    bus = await NatsBus.connect(nats_url, name="elizabus-reembed") if nats_url else None
    lines: list[str] = []
    try:
        store = PostgresEventStore(pool, PostgresProjector())
        for c in characters:
            if bus is not None:
                runtime = build_runtime(c, store, pool, bus, settings)
            else:
                db = PostgresAgentReadModel(pool, c.agent_id)
                model = _in_process_model(settings)
                runtime = AgentRuntime(c, store, db=db, pool=pool, plugins=[model])
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
        if bus is not None:
            await bus.close()
        await pool.close()
    return lines
