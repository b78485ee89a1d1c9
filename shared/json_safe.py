"""Any Python value as plain JSON data, never raising: how runtime event params, model calls and
remote requests are made fit for the log and the bus."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import math
import pathlib
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

__all__ = ["MAX_DEPTH", "json_safe"]

MAX_DEPTH = 32
"""Nesting below this depth is converted to a placeholder string."""


def json_safe(value: Any, drop_keys: frozenset[str] = frozenset()) -> Any:
    """`value` as plain JSON data; never raises.

    UUIDs, dates, paths and decimals become strings, enums their value, pydantic models and
    dataclasses objects, sets lists, non-finite floats strings; callables are left out of objects
    (`"<callable>"` in lists); anything else, cycles, and nesting deeper than MAX_DEPTH become
    `"<TypeName>"`-style placeholders, so the event is published with everything that can be.
    Mapping keys in `drop_keys` are left out at every depth (e.g. a `runtime` handed along).
    """
    converted = _safe(value, 0, set(), drop_keys)
    return "<callable>" if converted is _DROP else converted


_DROP = object()


def _safe(value: Any, depth: int, seen: set[int], drop: frozenset[str]) -> Any:
    """Convert one value; `seen` holds the ids of the containers being converted (cycle guard)."""
    if value is None or isinstance(value, (bool, int, str)):
        return _plain(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return _safe(value.value, depth, seen, drop)
    if isinstance(value, (uuid.UUID, decimal.Decimal, pathlib.PurePath)):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, type):
        return f"<class {value.__qualname__}>"
    if callable(value) and not _is_data(value):
        return _DROP
    if depth >= MAX_DEPTH:
        return "<max depth>"
    if id(value) in seen:
        return "<cycle>"
    seen.add(id(value))
    try:
        return _container(value, depth + 1, seen, drop)
    except Exception:
        return f"<{type(value).__name__}>"
    finally:
        seen.discard(id(value))


def _plain(value: bool | int | str | None) -> bool | int | str | None:
    """A str or int subclass instance as the built-in type (StrEnum members included)."""
    if value is None or type(value) in (bool, int, str):
        return value
    return str(value) if isinstance(value, str) else int(value)


def _is_data(value: Any) -> bool:
    """Whether `value` is a data object that happens to be callable (converted, not dropped)."""
    return isinstance(value, (BaseModel, Mapping)) or dataclasses.is_dataclass(value)


def _container(value: Any, depth: int, seen: set[int], drop: frozenset[str]) -> Any:
    """Convert a model, dataclass, mapping or collection; other objects become placeholders."""
    if isinstance(value, BaseModel):
        try:
            dumped = value.model_dump(mode="json")
        except Exception:
            dumped = value.model_dump()
        return _mapping(dumped, depth, seen, drop)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return _mapping(fields, depth, seen, drop)
    if isinstance(value, Mapping):
        return _mapping(value, depth, seen, drop)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = (_safe(item, depth, seen, drop) for item in value)
        converted = [item if item is not _DROP else "<callable>" for item in items]
        return sorted(converted, key=repr) if isinstance(value, (set, frozenset)) else converted
    return f"<{type(value).__name__}>"


def _mapping(
    value: Mapping[Any, Any], depth: int, seen: set[int], drop: frozenset[str]
) -> dict[str, Any]:
    """A mapping with string keys and JSON-safe values; callables are left out."""
    result: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(key, str) and key in drop:
            continue
        converted = _safe(item, depth, seen, drop)
        if converted is not _DROP:
            result[_key(key)] = converted
    return result


def _key(key: Any) -> str:
    """A mapping key as a JSON object key."""
    if isinstance(key, str):
        return str(_plain(key))
    if isinstance(key, enum.Enum):
        return str(key.value)
    return str(key)
