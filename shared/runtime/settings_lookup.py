"""get_setting: character settings, then secrets, then the environment, as ElizaOS does."""

from __future__ import annotations

import os
from typing import Any

from shared.character import Character


def get_setting(character: Character, key: str) -> Any:
    """A setting's value, looked up in order: character `settings`, character `secrets`,
    `settings.secrets`, then the environment; None when none has it.

    Values are returned as stored; "true"/"false" strings become booleans, as in ElizaOS.
    """
    nested = character.settings.get("secrets")
    for source in (
        character.settings,
        character.secrets,
        nested if isinstance(nested, dict) else {},
    ):
        if key in source and source[key] is not None:
            return _decode(source[key])
    value = os.environ.get(key)
    return _decode(value) if value is not None else None


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def secret_values(character: Character) -> list[str]:
    """Every secret string of a character, so logs and events can be scrubbed of them."""
    nested = character.settings.get("secrets")
    found: list[str] = []
    for source in (character.secrets, nested if isinstance(nested, dict) else {}):
        found += [str(v) for v in source.values() if isinstance(v, str | int) and str(v)]
    return found
