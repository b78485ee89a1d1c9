"""Find plugins by name and put them in dependency order.

A character's `plugins` list names each plugin either by its Python entry point (group
`elizabus.plugins`, as installed packages declare it) or by a dotted path to a `Plugin` object
(`package.module:attribute` or `package.module.attribute`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from importlib.metadata import entry_points

from shared.errors import ConfigurationError
from shared.plugin import Plugin

ENTRY_POINT_GROUP = "elizabus.plugins"


def load_plugin(spec: str) -> Plugin:
    """The Plugin named by an entry point or a dotted path; ConfigurationError if none."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == spec:
            return _as_plugin(ep.load(), spec)
    module_name, sep, attribute = spec.partition(":")
    if not sep:
        module_name, _, attribute = spec.rpartition(".")
    if not module_name or not attribute:
        raise ConfigurationError(
            f"plugin {spec!r} is neither an installed entry point (group {ENTRY_POINT_GROUP}) "
            "nor a dotted path like `package.module:plugin`"
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
    return _as_plugin(value, spec)


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
