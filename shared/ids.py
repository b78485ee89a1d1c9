"""Deterministic ids: ElizaOS 1.x's `stringToUuid` and `createUniqueUuid`, and elizabus's own.

`string_to_uuid` and `create_unique_uuid` give the same UUIDs as ElizaOS 1.x (packages/core
`utils.ts` / `entities.ts`), so ids computed by ElizaOS (an agent's id from its name, an entity's
or room's id from a platform id) are the ids elizabus computes, and ElizaOS data or integrations
can be carried over. `derived_id` is elizabus's own (run and event ids derived from a message).
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from decimal import Decimal
from urllib.parse import quote

__all__ = [
    "create_unique_uuid",
    "derived_id",
    "is_uuid",
    "string_to_uuid",
]

_UUID_SHAPE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE
)

_URI_COMPONENT_SAFE = "!'()*-._~"
"""What JavaScript's encodeURIComponent leaves unescaped besides letters and digits."""


def is_uuid(text: str) -> bool:
    """Whether `text` has a UUID's shape (8-4-4-4-12 hex digits, any case), as ElizaOS's
    `validateUuid` checks it."""
    return bool(_UUID_SHAPE.match(text))


def string_to_uuid(target: str | int | float) -> uuid.UUID:
    """ElizaOS's `stringToUuid`: the same UUID for the same input, on every machine.

    A string that already is a UUID is that UUID. Anything else is escaped as JavaScript's
    `encodeURIComponent` does, hashed with SHA-1, and the first 16 bytes are shaped as a UUID
    with the RFC 4122 variant bits and version nibble 0 (ElizaOS's own format). Numbers are
    accepted and read as their decimal text, as `Number.prototype.toString` writes it.
    """
    if isinstance(target, bool) or not isinstance(target, str | int | float):
        raise TypeError(f"string_to_uuid needs a string or a number, got {type(target).__name__}")
    text = _js_number_text(target) if not isinstance(target, str) else target
    if is_uuid(text):
        return uuid.UUID(text)
    escaped = quote(text, safe=_URI_COMPONENT_SAFE, encoding="utf-8", errors="strict")
    digest = bytearray(hashlib.sha1(escaped.encode("ascii")).digest()[:16])
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    digest[6] = digest[6] & 0x0F  # version nibble 0: ElizaOS's custom UUID format
    return uuid.UUID(bytes=bytes(digest))


def _js_number_text(number: int | float) -> str:
    """A number as JavaScript's `String(number)` writes it: the shortest round-trip digits,
    positional between 1e-6 and 1e21, else `d.ddde+N` / `d.ddde-N`."""
    if isinstance(number, int):
        return str(number)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    exact = Decimal(repr(number))
    if 1e-6 <= abs(number) < 1e21:
        text = format(exact, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    sign, digits, exponent = exact.normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits))
    power = exponent + len(digits) - 1
    body = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    return f"{'-' if sign else ''}{body}e{'+' if power >= 0 else '-'}{abs(power)}"


def create_unique_uuid(agent_id: uuid.UUID, base_id: str) -> uuid.UUID:
    """ElizaOS's `createUniqueUuid(runtime, baseUserId)`: the agent-scoped UUID of a platform id,
    so two agents never share an entity or room id. The agent's own id maps to itself."""
    if base_id == str(agent_id):
        return agent_id
    return string_to_uuid(f"{base_id}:{agent_id}")


def derived_id(parent: uuid.UUID, purpose: str) -> uuid.UUID:
    """An id derived from another one for a purpose (a run for a message, an event for a run).

    Redeliveries recompute the same ids, which is what makes appends and replies idempotent.
    This is elizabus's own scheme (ElizaOS draws these ids at random).
    """
    return uuid.uuid5(parent, purpose)
