"""The bootstrap plugin: an ElizaOS agent's default behaviour, loaded into every agent unless the
character's settings say IGNORE_BOOTSTRAP."""

from __future__ import annotations

from plugins.bootstrap.actions import BOOTSTRAP_ACTIONS
from plugins.bootstrap.evaluators import BOOTSTRAP_EVALUATORS
from plugins.bootstrap.events import BOOTSTRAP_EVENTS
from plugins.bootstrap.providers import BOOTSTRAP_PROVIDERS
from shared.plugin import Plugin

BOOTSTRAP_PLUGIN_NAME = "bootstrap"


def bootstrap_plugin() -> Plugin:
    """A fresh bootstrap Plugin (one per agent: registering mutates nothing shared)."""
    return Plugin(
        name=BOOTSTRAP_PLUGIN_NAME,
        description="Message handling, core actions, providers and the reflection evaluator",
        actions=list(BOOTSTRAP_ACTIONS),
        providers=list(BOOTSTRAP_PROVIDERS),
        evaluators=list(BOOTSTRAP_EVALUATORS),
        events={name: list(handlers) for name, handlers in BOOTSTRAP_EVENTS.items()},
    )
