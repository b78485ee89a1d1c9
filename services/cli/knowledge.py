"""`elizabus knowledge`: add documents to an agent's knowledge, list them, remove them.

`add` runs the ingestion in this process, on an AgentRuntime of the agent, with the same code the
knowledge plugin runs at agent start (`shared.knowledge`): files are read here, fragments are
embedded by the model workers over the bus (TEXT_EMBEDDING), and the documents and fragments are
recorded in the event log, from which the orchestrators' KNOWLEDGE provider reads them at once.
Why not send the files to an orchestrator on the bus instead: the orchestrators would need a new
request subject and to receive whole files through NATS (1 MB per message by default), while
this command, like `projections rebuild`, already works on the log itself; no service calls
another, the ids are derived (adding twice, from here and from an agent's start at once, records
the same memories), and the command works while no orchestrator runs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from shared.errors import ElizabusError, KnowledgeError
from shared.settings import Settings

if TYPE_CHECKING:  # the runtime and the ingestion are imported when a command runs
    from shared.character import Character
    from shared.knowledge import IngestResult
    from shared.runtime.agent_runtime import AgentRuntime

T = TypeVar("T")

knowledge_app = typer.Typer(
    help="An agent's knowledge: documents the KNOWLEDGE provider searches.", no_args_is_help=True
)

CharacterFile = Annotated[
    Path | None,
    typer.Option(
        "--character", "-c", help="the agent's character file (default: ELIZABUS_CHARACTER, "
        "else the default character)"
    ),
]  # fmt: skip


@asynccontextmanager
async def agent_runtime(settings: Settings, character: Character) -> AsyncIterator[AgentRuntime]:
    """The agent's runtime on the configured Postgres and NATS, its models from the workers
    announced on the bus; no plugin, no start-up run (nothing but what the command records)."""
    from shared.bus.nats_connect import connect_nats
    from shared.eventstore.postgres import PostgresEventStore, create_pool
    from shared.projections import PostgresProjector
    from shared.readmodel.postgres import PostgresAgentReadModel
    from shared.runtime.agent_runtime import AgentRuntime

    pool = await create_pool(settings.resolved_database_url(), min_size=1, max_size=2)
    nc = None
    runtime = None
    try:
        nc = await connect_nats(
            settings.resolved_nats_url(), "elizabus-knowledge", first_connect_timeout=10.0
        )
        runtime = AgentRuntime(
            character, PostgresEventStore(pool, PostgresProjector()), nc=nc,
            db=PostgresAgentReadModel(pool, character.agent_id), pool=pool,
            model_timeout=settings.model_attempt_timeout_seconds,
        )  # fmt: skip
        await runtime.models.start(nc)
        yield runtime
    finally:
        if runtime is not None:
            await runtime.models.stop()
        if nc is not None:
            await nc.close()
        await pool.close()


async def add_paths(
    runtime: AgentRuntime, paths: list[Path], report: Callable[[str], None]
) -> list[IngestResult]:
    """Ingest files and folders for the runtime's agent, reporting one line per document; a
    document that fails is reported and the others go on (KnowledgeError at the end if any
    failed)."""
    from shared.knowledge import add_knowledge, sources_from_paths

    sources = sources_from_paths(paths)
    if not sources:
        raise KnowledgeError(
            f"no .md, .txt or .pdf file in {', '.join(map(str, paths))}: nothing to add"
        )
    results: list[IngestResult] = []
    failed = 0
    for source in sources:
        name = source.path or source.text[:40]
        try:
            result = await add_knowledge(runtime, source)
        except ElizabusError as exc:
            failed += 1
            report(f"failed     {name}: {exc}")
            continue
        results.append(result)
        detail = f"{result.fragments} fragments" if result.fragments else "already stored"
        if result.removed:
            detail += f", {result.removed} older version(s) removed"
        report(f"{result.status:<10} {name} ({detail})")
    if failed:
        raise KnowledgeError(f"{failed} of {len(sources)} document(s) not added: see above")
    return results


def _run(
    settings: Settings, character: Path | None, work: Callable[[AgentRuntime], Awaitable[T]]
) -> T:
    from shared.character import load_character

    agent = load_character(character or settings.character)

    async def go() -> T:
        async with agent_runtime(settings, agent) as runtime:
            return await work(runtime)

    return asyncio.run(go())


def _settings() -> Settings:
    from services.cli.main import _settings as configured

    return configured()


@knowledge_app.command("add")
def add(
    paths: Annotated[list[Path], typer.Argument(help=".md, .txt or .pdf files, or folders")],
    character: CharacterFile = None,
) -> None:
    """Add documents to the agent's knowledge (an unchanged file is skipped, a changed one
    replaces its older version). Needs a model worker for TEXT_EMBEDDING."""
    settings = _settings()
    results = _run(settings, character, lambda rt: add_paths(rt, paths, typer.echo))
    stored = sum(r.status != "unchanged" for r in results)
    typer.echo(f"{stored} document(s) stored, {len(results) - stored} unchanged")


@knowledge_app.command("list")
def list_documents(character: CharacterFile = None) -> None:
    """List the agent's knowledge documents: id, fragments, origin, title or path."""
    settings = _settings()

    async def work(runtime: AgentRuntime) -> None:
        from shared.knowledge.ingest import stored_documents

        for d in sorted(await stored_documents(runtime), key=lambda d: d.created_at):
            meta = d.metadata
            where = meta.get("path") or meta.get("title") or d.text[:40]
            typer.echo(f"{d.id}  {meta.get('fragmentCount', 0):>5}  {meta.get('source')}  {where}")

    _run(settings, character, work)


@knowledge_app.command("remove")
def remove(
    document: Annotated[uuid.UUID, typer.Argument(help="the document id (see `list`)")],
    character: CharacterFile = None,
) -> None:
    """Remove a document and its fragments from the agent's knowledge."""
    settings = _settings()

    async def work(runtime: AgentRuntime) -> int:
        from shared.knowledge import remove_documents
        from shared.knowledge.ingest import stored_documents

        found = [d for d in await stored_documents(runtime) if d.id == document]
        if not found:
            raise KnowledgeError(
                f"the agent has no document {document}: see `elizabus knowledge list`"
            )
        return await remove_documents(runtime, found)

    _run(settings, character, work)
    typer.echo(f"removed document {document}")
