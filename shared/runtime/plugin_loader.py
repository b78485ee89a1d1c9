"""Find plugins by name and put them in dependency order.

A character's `plugins` list names each plugin by its Python entry point (group
`elizabus.plugins`, as installed packages declare it). A character file is data, often written
by someone else: naming a module in it must not run arbitrary code, so a dotted path to a
`Plugin` object (`package.module:attribute` or `package.module.attribute`) is accepted from a
character only when the setting ELIZABUS_ALLOW_PLUGIN_PATHS is true; code that builds a runtime
may always pass dotted paths. Even then the attribute must be a `Plugin`, or a factory defined in
that very module (never `os:abort`). Every plugin loaded is logged with the module it came from.

ElizaOS package names are understood too, so an ElizaOS character file loads unchanged:
`@elizaos/plugin-bootstrap` is our bootstrap plugin, `@elizaos/plugin-knowledge` our knowledge
plugin, `@elizaos/plugin-sql` is built in (the event
store), model-provider plugins are served by model workers, and other `@elizaos/` packages
(Node.js code) are skipped with a warning.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable
from importlib.metadata import entry_points

from shared.errors import ConfigurationError
from shared.plugin import Plugin

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "elizabus.plugins"
ALLOW_PATHS_SETTING = "ELIZABUS_ALLOW_PLUGIN_PATHS"


def plugin_paths_allowed() -> bool:
    """Whether characters may name plugins by dotted path (ELIZABUS_ALLOW_PLUGIN_PATHS=true)."""
    return os.environ.get(ALLOW_PATHS_SETTING, "").strip().lower() in ("1", "true", "yes")


ELIZAOS_ALIASES = {
    "@elizaos/plugin-bootstrap": "bootstrap",
    "@elizaos/plugin-knowledge": "knowledge",
}
"""ElizaOS package names with a Python port here, by entry point name."""

BUILT_IN = {"@elizaos/plugin-sql": "the Postgres event store and its projections"}
"""ElizaOS packages whose job the elizabus services do themselves."""

MODEL_PROVIDER_PLUGINS = frozenset(
    f"@elizaos/plugin-{name}"
    for name in ("openai", "anthropic", "ollama", "openrouter", "google-genai", "groq",
                 "local-ai", "local-embedding", "venice", "redpill", "deepseek", "mistral")
)  # fmt: skip
"""ElizaOS model-provider packages: in elizabus, model workers (`elizabus worker model`) serve
their model types over the bus, configured by ELIZABUS_MODEL_* settings."""


def resolve_plugins(specs: Iterable[str], allow_paths: bool | None = None) -> list[Plugin]:
    """The plugins a character's `plugins` list names, ElizaOS names included (see the module
    docstring): installed entry points, and dotted paths only when `allow_paths` (default: the
    ELIZABUS_ALLOW_PLUGIN_PATHS setting). A plugin that cannot be loaded is an error."""
    allowed = plugin_paths_allowed() if allow_paths is None else allow_paths
    plugins: list[Plugin] = []
    for spec in specs:
        if spec in BUILT_IN:
            log.info("plugin %s: built in (%s)", spec, BUILT_IN[spec])
        elif spec in MODEL_PROVIDER_PLUGINS:
            log.info("plugin %s: its models are served by model workers on model.<TYPE>", spec)
        elif spec.startswith("@") and spec not in ELIZAOS_ALIASES:
            log.warning(
                "plugin %s is a Node.js package with no Python port installed: the agent runs "
                "without it (write one and name it by entry point)",
                spec,
            )
        else:
            plugins.append(load_plugin(ELIZAOS_ALIASES.get(spec, spec), allow_paths=allowed))
    return plugins


def load_plugin(spec: str, *, allow_paths: bool = True) -> Plugin:
    """The Plugin named by an installed entry point, or (when `allow_paths`) by a dotted path;
    ConfigurationError if none. The module it comes from is logged."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == spec:
            plugin = _as_plugin(ep.load(), spec)
            log.info("plugin %s: entry point %s = %s", plugin.name, spec, ep.value)
            return plugin
    module_name, sep, attribute = spec.partition(":")
    if not sep:
        module_name, _, attribute = spec.rpartition(".")
    if not module_name or not attribute:
        raise ConfigurationError(
            f"plugin {spec!r} is neither an installed entry point (group {ENTRY_POINT_GROUP}) "
            "nor a dotted path like `package.module:plugin`"
        )
    if not allow_paths:
        raise ConfigurationError(
            f"plugin {spec!r} is not an installed entry point (group {ENTRY_POINT_GROUP}), and "
            f"a character may name a module only when {ALLOW_PATHS_SETTING}=true: install the "
            "plugin's package (it declares the entry point), or set that if you trust the "
            "character file as code"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"plugin {spec!r}: cannot import {module_name!r} ({exc}); install the package that "
            "provides it or fix the character's `plugins` list"
        ) from exc
    try:
        value = getattr(module, attribute)
    except AttributeError as exc:
        raise ConfigurationError(f"plugin {spec!r}: {module_name} has no {attribute!r}") from exc
    if not isinstance(value, Plugin) and getattr(value, "__module__", None) != module.__name__:
        raise ConfigurationError(
            f"plugin {spec!r}: {attribute!r} is neither a Plugin nor a factory defined in "
            f"{module.__name__}: name the module's Plugin object or its own factory"
        )
    plugin = _as_plugin(value, spec)
    log.warning(
        "plugin %s: loaded by dotted path %s from module %s (%s)",
        plugin.name, spec, module.__name__, getattr(module, "__file__", None) or "built in",
    )  # fmt: skip
    return plugin


def _as_plugin(value: object, spec: str) -> Plugin:
    if callable(value) and not isinstance(value, Plugin):
        value = value()
    if not isinstance(value, Plugin):
        raise ConfigurationError(f"plugin {spec!r} is a {type(value).__name__}, not a Plugin")
    return value


def order_plugins(plugins: Iterable[Plugin]) -> list[Plugin]:
    """Plugins in an order where each comes after its dependencies.

    Among plugins whose dependencies are met, higher `priority` comes first, then the given order.
    Duplicate names keep the first. A dependency that is not in the list, or a cycle, is a
    ConfigurationError naming it.
    """
    unique: dict[str, Plugin] = {}
    for plugin in plugins:
        unique.setdefault(plugin.name, plugin)
    position = {name: i for i, name in enumerate(unique)}
    for plugin in unique.values():
        missing = [d for d in plugin.dependencies if d not in unique]
        if missing:
            raise ConfigurationError(
                f"plugin {plugin.name!r} depends on {', '.join(missing)}, which is not loaded: "
                "add it to the character's `plugins` list"
            )
    ordered: list[Plugin] = []
    done: set[str] = set()
    while len(ordered) < len(unique):
        ready = [
            p
            for p in unique.values()
            if p.name not in done and all(d in done for d in p.dependencies)
        ]
        if not ready:
            stuck = sorted(set(unique) - done)
            raise ConfigurationError(f"plugins {', '.join(stuck)} depend on each other in a cycle")
        ready.sort(key=lambda p: (-p.priority, position[p.name]))
        ordered.append(ready[0])
        done.add(ready[0].name)
    return ordered
