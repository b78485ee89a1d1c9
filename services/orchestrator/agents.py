"""How the orchestrator builds an agent: its AgentRuntime over the shared store, pool and bus."""

from __future__ import annotations

import asyncpg

from shared.bus.nats_bus import NatsBus
from shared.character import Character
from shared.eventstore import EventStore
from shared.readmodel.postgres import PostgresAgentReadModel
from shared.runtime.agent_runtime import AgentRuntime
from shared.runtime.model_breaker import BreakerPolicy
from shared.runtime.model_registry import ModelCallPolicy
from shared.runtime.settings_lookup import get_setting
from shared.settings import Settings

BOOTSTRAP_PLUGIN = "bootstrap"
"""The bootstrap plugin's entry point name (group `elizabus.plugins`): the service loads it like
any other plugin, by name, and never imports a plugin package."""


KNOWLEDGE_PLUGIN = "knowledge"
"""The knowledge plugin's entry point name: every agent gets it (its character's `knowledge`
ingested at start, `elizabus knowledge add` documents searched for each message)."""

_NAMES_OF_KNOWLEDGE = frozenset({KNOWLEDGE_PLUGIN, "@elizaos/plugin-knowledge"})


def default_plugins(character: Character) -> list[str]:
    """The bootstrap plugin, unless setting IGNORE_BOOTSTRAP is set (as ElizaOS), looked up as
    `get_setting` does: the character's settings, its secrets, then the environment; and the
    knowledge plugin, unless the character lists it itself (then it is loaded from there)."""
    ignore = str(get_setting(character, "IGNORE_BOOTSTRAP")).lower() in ("1", "true", "yes")
    plugins = [] if ignore else [BOOTSTRAP_PLUGIN]
    if not _NAMES_OF_KNOWLEDGE & set(character.plugins):
        plugins.append(KNOWLEDGE_PLUGIN)
    return plugins


def model_call_policy(settings: Settings) -> ModelCallPolicy:
    """The model call settings (`ELIZABUS_MODEL_ATTEMPT_TIMEOUT_SECONDS`, accept window,
    keep-alive misses, lost-request retries, circuit breaker) as the registry takes them."""
    return ModelCallPolicy(
        attempt_timeout=settings.model_attempt_timeout_seconds,
        accept_seconds=settings.model_accept_seconds,
        keepalive_misses=settings.model_keepalive_misses,
        lost_retries=settings.model_lost_retries,
        breaker=BreakerPolicy(
            failures=settings.model_breaker_failures,
            window=max(settings.model_breaker_window, settings.model_breaker_failures),
            cooldown=settings.model_breaker_cooldown_seconds,
        ),
    )


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
        model_policy=model_call_policy(settings),
        allow_plugin_paths=settings.allow_plugin_paths,
    )
