"""Apply the SQL migrations in `schemas/migrations` once each, in name order.

Each file runs in its own transaction and is recorded in `schema_migrations`. A session
advisory lock serialises concurrent runs (two services starting at once), so running
`migrate` anywhere, any number of times, is safe.
"""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg

from shared.errors import ConfigurationError, EventStoreError

log = logging.getLogger(__name__)

MIGRATIONS_LOCK_ID = 0x656C697A61627573  # "elizabus" as a bigint: our pg_advisory_lock key
DEFAULT_MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "schemas" / "migrations"

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text        PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def migration_files(migrations_dir: Path | None = None) -> list[Path]:
    """The `*.sql` files of `migrations_dir` (default: the repo's schemas/migrations), by name."""
    directory = migrations_dir or DEFAULT_MIGRATIONS_DIR
    if not directory.is_dir():
        raise ConfigurationError(
            f"migrations directory {directory} does not exist: run from a checkout of elizabus "
            "or pass the directory that holds the *.sql migrations"
        )
    return sorted(directory.glob("*.sql"), key=lambda p: p.name)


async def migrate(database_url: str, migrations_dir: Path | None = None) -> list[str]:
    """Apply every migration not yet recorded; return the versions (file stems) it applied."""
    scripts = [(path, path.read_text(encoding="utf-8")) for path in migration_files(migrations_dir)]
    try:
        conn = await asyncpg.connect(database_url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ConfigurationError(
            f"cannot connect to Postgres to migrate ({exc}): check ELIZABUS_DATABASE_URL or "
            "start the stack with `elizabus up`"
        ) from exc
    applied: list[str] = []
    try:
        # Session lock: on an error, closing the connection below releases it too.
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATIONS_LOCK_ID)
        await conn.execute(_CREATE_TABLE)
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for path, sql in scripts:
            if path.stem not in done:
                await _apply(conn, path, sql)
                applied.append(path.stem)
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATIONS_LOCK_ID)
    finally:
        await conn.close()
    return applied


async def _apply(conn: asyncpg.Connection, path: Path, sql: str) -> None:
    """Run one migration file and record it, all in one transaction."""
    try:
        async with conn.transaction():
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", path.stem)
    except asyncpg.PostgresError as exc:
        raise EventStoreError(
            f"migration {path.name} failed and was rolled back: {exc}. Fix the SQL in {path} "
            "and run `elizabus migrate` again"
        ) from exc
    log.info("applied migration %s", path.stem)


async def apply_plugin_schema(pool: asyncpg.Pool, plugin: str, statements: list[str]) -> list[str]:
    """Apply a plugin's `schema` statements (its migrations) once each, in order, recorded in
    `schema_migrations` as `plugin:<name>:<n>`; returns the versions applied now. A failing
    statement is rolled back and stops the caller's start-up with an error naming it."""
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATIONS_LOCK_ID)
        try:
            await conn.execute(_CREATE_TABLE)
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for n, sql in enumerate(statements):
                version = f"plugin:{plugin}:{n}"
                if version in done:
                    continue
                try:
                    async with conn.transaction():
                        await conn.execute(sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (version) VALUES ($1)", version
                        )
                except asyncpg.PostgresError as exc:
                    raise EventStoreError(
                        f"plugin {plugin}'s schema statement {n} failed and was rolled back: "
                        f"{exc}. Fix the plugin's `schema` list"
                    ) from exc
                log.info("applied %s", version)
                applied.append(version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATIONS_LOCK_ID)
    return applied
