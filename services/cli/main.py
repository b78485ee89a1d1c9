"""The `elizabus` command: run the stack or one service, talk to an agent, replay a run."""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer

from services.cli.bench_memory import bench_app
from services.cli.knowledge import knowledge_app
from services.cli.memories import memories_app
from shared.bus.nats_connect import NatsAuth
from shared.errors import ElizabusError
from shared.messages import MessageSent
from shared.settings import Settings

app = typer.Typer(
    help="elizabus: the ElizaOS agent runtime on NATS JetStream and Postgres.",
    no_args_is_help=True,
    add_completion=False,
)
worker_app = typer.Typer(help="Run a worker process.", no_args_is_help=True)
projections_app = typer.Typer(help="Manage the projections of the event log.", no_args_is_help=True)
schemas_app = typer.Typer(help="Exported schemas.", no_args_is_help=True)
ids_app = typer.Typer(help="Ids in the event log.", no_args_is_help=True)
nats_app = typer.Typer(help="NATS users and permissions.", no_args_is_help=True)
app.add_typer(worker_app, name="worker")
app.add_typer(projections_app, name="projections")
app.add_typer(schemas_app, name="schemas")
app.add_typer(ids_app, name="ids")
app.add_typer(nats_app, name="nats")
app.add_typer(memories_app, name="memories")
app.add_typer(bench_app, name="bench")
app.add_typer(knowledge_app, name="knowledge")

CharacterOption = Annotated[
    list[Path] | None,
    typer.Option("--character", "-c", help="ElizaOS character JSON file (repeat for more agents)"),
]


def _settings() -> Settings:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return settings


def _cli_login(settings: Settings) -> NatsAuth | None:
    """The CLI's NATS login: the configured one, else the embedded stack's `cli` user."""
    from shared.bus.nats_permissions import CLI

    return settings.resolved_nats_auth(CLI)


@app.command()
def up(character: CharacterOption = None) -> None:
    """Start everything: NATS + Postgres (embedded unless configured), migrations, services."""
    from services.cli.stack import run_stack

    settings = _settings()
    paths = character or ([settings.character] if settings.character else [])
    raise typer.Exit(asyncio.run(run_stack(settings, paths[0] if paths else None)))


FAULT_EXIT_AT_START = "exit_at_start"
"""Test-only fault (ELIZABUS_FAULT): `elizabus orchestrator` exits with code 3 at once, as a
service that keeps failing at start does (tests of `elizabus up`'s supervisor)."""


@app.command()
def orchestrator(character: CharacterOption = None) -> None:
    """Run the orchestrator alone (consumes message.received)."""
    from services.orchestrator.app import run_orchestrator

    settings = _settings()
    if settings.fault == FAULT_EXIT_AT_START:
        typer.echo("fault injection: the orchestrator exits at start", err=True)
        raise typer.Exit(3)
    paths = character or ([settings.character] if settings.character else [])
    asyncio.run(run_orchestrator(settings, paths))


@worker_app.command("model")
def worker_model() -> None:
    """Run a model worker (answers model.<TYPE> requests)."""
    from services.model_worker.app import run_worker

    asyncio.run(run_worker(_settings()))


@app.command()
def migrate() -> None:
    """Apply the SQL migrations in schemas/migrations."""
    from shared.eventstore.migrations import migrate as apply

    applied = asyncio.run(apply(_settings().resolved_database_url()))
    typer.echo(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none needed'}")


@app.command()
def send(
    text: str,
    room: str = "cli-room",
    user: str = "cli-user",
    agent: Annotated[
        uuid.UUID | None, typer.Option(help="agent id; default agent if unset")
    ] = None,
    timeout: float = 30.0,
) -> None:
    """Publish one message and print the agent's reply."""
    from services.cli.client import BusClient

    settings = _settings()

    async def go() -> MessageSent:
        client = await BusClient.connect(settings.resolved_nats_url(), auth=_cli_login(settings))
        try:
            return await client.send(text, room=room, user=user, agent_id=agent, timeout=timeout)
        finally:
            await client.close()

    reply = asyncio.run(go())
    typer.echo(reply.content.text)
    typer.echo(
        f"(run {reply.run_id}: replay it with `elizabus events --run {reply.run_id}`)", err=True
    )


@app.command()
def chat(room: str = "cli-chat", user: str = "cli-user", name: str = "You") -> None:
    """Chat with the agent in the terminal, through the bus (Ctrl-D to leave)."""
    from services.cli.client import BusClient

    settings = _settings()

    async def go() -> None:
        client = await BusClient.connect(settings.resolved_nats_url(), auth=_cli_login(settings))
        try:
            while True:
                line = await asyncio.to_thread(_read_line, f"{name}> ")
                if line is None:
                    return
                if line.strip():
                    reply = await client.send(line, room=room, user=user, user_name=name)
                    typer.echo(f"agent> {reply.content.text}")
        finally:
            await client.close()

    asyncio.run(go())


def _read_line(prompt: str) -> str | None:
    try:
        return input(prompt)
    except EOFError:
        return None


@app.command()
def events(
    run: Annotated[uuid.UUID, typer.Option("--run", help="the run id to replay")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Print a run's events in order: what happened, step by step."""
    from services.cli.replay import format_line, shown_event
    from shared.eventstore.postgres import PostgresEventStore, create_pool

    settings = _settings()

    async def go() -> None:
        pool = await create_pool(settings.resolved_database_url(), min_size=1, max_size=1)
        try:
            found = await PostgresEventStore(pool).read_run(run)
        finally:
            await pool.close()
        if not found:
            raise ElizabusError(f"no events for run {run}: check the id (it is in message.sent)")
        for e in found:
            if as_json:
                typer.echo(shown_event(e).model_dump_json())
            else:
                typer.echo(format_line(e))

    asyncio.run(go())


@projections_app.command("rebuild")
def projections_rebuild() -> None:
    """Empty every projection table and rebuild it from the event log."""
    from shared.eventstore.postgres import create_pool
    from shared.projections import rebuild_projections

    settings = _settings()

    async def go() -> int:
        pool = await create_pool(settings.resolved_database_url(), min_size=1, max_size=1)
        try:
            return await rebuild_projections(pool)
        finally:
            await pool.close()

    typer.echo(f"rebuilt projections from {asyncio.run(go())} events")


@ids_app.command("migrate")
def ids_migrate(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="say what would change, change nothing")
    ] = False,
) -> None:
    """Rewrite a log written before elizabus used ElizaOS's ids, then rebuild the projections.

    Stop every orchestrator first and let it finish its queue: see README, "Ids".
    """
    from shared.eventstore.id_migration import migrate_ids
    from shared.eventstore.migrations import migrate as apply
    from shared.eventstore.postgres import create_pool

    settings = _settings()

    async def go() -> tuple[int, int, int]:
        url = settings.resolved_database_url()
        await apply(url)
        pool = await create_pool(url, min_size=1, max_size=1)
        try:
            plan = await migrate_ids(pool, dry_run=dry_run)
        finally:
            await pool.close()
        return len(plan.ids), len(plan.agents), len(plan.rewritten)

    ids, agents, events = asyncio.run(go())
    if not ids:
        typer.echo("the log already uses ElizaOS's ids: nothing to do")
        return
    done = "would rewrite" if dry_run else "rewrote"
    typer.echo(f"{done} {ids} id(s) ({agents} agent id(s)) in {events} event(s)")
    if not dry_run:
        typer.echo("projections rebuilt from the rewritten log")


@nats_app.command("config")
def nats_config(
    out: Annotated[
        Path | None,
        typer.Option(
            help="a directory to write nats-auth.conf and nats-credentials to (mode 0600; "
            "passwords already there are kept); default: print the config with new passwords"
        ),
    ] = None,
    worker: Annotated[
        list[str] | None,
        typer.Option(help="a model worker provider (repeat); default: this machine's settings"),
    ] = None,
    adapter: Annotated[
        list[str] | None, typer.Option(help="a platform adapter's source (repeat)")
    ] = None,
    action: Annotated[
        list[str] | None, typer.Option(help="a remote action the action servers serve (repeat)")
    ] = None,
    provider: Annotated[
        list[str] | None,
        typer.Option(help="a remote provider the provider servers serve (repeat)"),
    ] = None,
    nsc: Annotated[
        bool, typer.Option("--nsc", help="print `nsc add user` commands (JWT accounts) instead")
    ] = False,
    nkeys: Annotated[
        bool,
        typer.Option(
            "--nkeys", help="users as nkeys (a seed file per role in --out) instead of passwords"
        ),
    ] = False,
) -> None:
    """The NATS users elizabus's roles need, with their permissions, for a NATS you run
    yourself: an `authorization` block to include in nats-server's config, or nsc commands."""
    from services.cli.nats_config import write_nats_config, write_nkeys_config
    from services.cli.stack import worker_provider
    from shared.bus.nats_permissions import RoleSet

    settings = _settings()
    roles = RoleSet.of(
        worker_providers=worker or [worker_provider(settings)],
        model_timeout_seconds=settings.model_attempt_timeout_seconds,
        adapters=adapter or (),
        actions=action or (),
        providers=provider or (),
    )
    if nsc:
        typer.echo("\n".join(roles.nsc_commands()))
        return
    if nkeys:
        if out is None:
            raise ElizabusError("--nkeys writes a seed file per role: give --out DIR")
        typer.echo(write_nkeys_config(roles, out))
        return
    typer.echo(write_nats_config(roles, out))


@schemas_app.command("export")
def schemas_export(
    directory: Annotated[
        Path | None, typer.Option(help="where to write them; default the repo's schemas/json")
    ] = None,
) -> None:
    """Write the JSON Schemas of bus messages and events to schemas/json."""
    from shared.schema_export import SCHEMA_DIR, export_schemas

    typer.echo(f"wrote {len(export_schemas(directory or SCHEMA_DIR))} schema files")


def main() -> None:
    """Console entry point: runs the CLI, turning elizabus errors into a one-line message."""
    try:
        app()
    except ElizabusError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
