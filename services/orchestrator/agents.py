"""How the orchestrator builds an agent: its AgentRuntime over the shared store, pool and bus."""

from __future__ import annotations

import asyncpg

from plugins.bootstrap.plugin import bootstrap_plugin
from shared.bus.nats_bus import NatsBus
from shared.character import Character
from shared.eventstore import EventStore
from shared.plugin import Plugin
from shared.readmodel.postgres import PostgresAgentReadModel
from shared.runtime.agent_runtime import AgentRuntime
from shared.settings import Settings


def default_plugins(character: Character) -> list[Plugin]:
    """The bootstrap plugin, unless the character's settings say IGNORE_BOOTSTRAP (as ElizaOS)."""
    ignore = str(character.settings.get("IGNORE_BOOTSTRAP", "")).lower() in ("1", "true", "yes")
    return [] if ignore else [bootstrap_plugin()]


def build_runtime(
    character: Character,
    store: EventStore,
    pool: asyncpg.Pool,
    bus: NatsBus,
    settings: Settings,
) -> AgentRuntime:
    """One agent's runtime: its own plugins, models, caches and agent-scoped reads."""
    return AgentRuntime(
        character,
        store,
        bus=bus,
        nc=bus.nc,
        db=PostgresAgentReadModel(pool, character.agent_id),
        pool=pool,
        plugins=default_plugins(character),
        model_timeout=settings.model_timeout_seconds,
    )
