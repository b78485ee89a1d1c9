"""get_setting, as ElizaOS 1.x's `runtime.getSetting` reads a setting."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from shared.character import Character
from shared.secrets import environment_secrets, secret_setting_values


def get_setting(
    character: Character, key: str, environment: Mapping[str, str] | None = None
) -> Any:
    """A setting's value, as ElizaOS 1.x's `getSetting` gives it.

    The sources are asked in ElizaOS's order: character `secrets`, character `settings`,
    `settings.secrets`, then the runtime's settings (here the environment, `environment` when
    given). As with JavaScript's `||`, an empty value ("", 0, False, None) does not count and the
    next source is asked; when none has a non-empty value the result is None. Exactly "true" and
    "false" become booleans; every other value is returned as stored.
    """
    nested = character.settings.get("secrets")
    env = os.environ if environment is None else environment
    for source in (
        character.secrets,
        character.settings,
        nested if isinstance(nested, Mapping) else {},
        env,
    ):
        value = source.get(key)
        if value:  # JavaScript truthiness: "", 0, false, null and undefined fall through
            break
    else:
        return None
    if value == "true":
        return True
    if value == "false":
        return False
    return value


def secret_values(character: Character, environment: Mapping[str, str] | None = None) -> list[str]:
    """Every secret string an agent's process knows, so logs and events can be scrubbed of them:
    the character's `secrets` and `settings.secrets`, its settings whose name looks secret
    (`*_API_KEY`, `*_TOKEN`, ...), and the environment's secrets (`environment_secrets`: what
    `get_setting` may fall back to, `os.environ` unless `environment` is given)."""
    nested = character.settings.get("secrets")
    found: list[str] = []
    for source in (character.secrets, nested if isinstance(nested, dict) else {}):
        found += [str(v) for v in source.values() if isinstance(v, str | int) and str(v)]
    found += secret_setting_values({k: v for k, v in character.settings.items() if k != "secrets"})
    return found + environment_secrets(environment)
