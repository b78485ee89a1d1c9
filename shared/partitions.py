"""Which partition an inbound message belongs to: one conversation (agent + room), one partition.

Every message of one conversation maps to the same partition, and each partition is consumed in
publish order, one message at a time, by whichever orchestrator pulls it; so one conversation is
handled strictly in order while different partitions run at once. The map is a stable hash of the
agent id as sent (empty for the default agent) and the platform room id, modulo the number of
partitions: every process computes the same partition without asking anyone.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic_core import from_json

DEFAULT_PARTITIONS = 256
"""Partitions of a new bus when ELIZABUS_PARTITIONS is not set. With 64, 20 busy rooms shared a
lane about 3 times on average (each such room waits for the other's runs); with 256 about 0.7
times, for 9-11 ms of idle CPU per second per orchestrator (docs/benchmarks.md)."""

__all__ = ["conversation_key", "partition_of"]


def conversation_key(body: bytes) -> str:
    """The conversation of a raw `message.received` body: `<agent_id>|<room.id>`. A body that is
    not a message (invalid JSON, no room) gets a key of its own content, so it still lands on one
    partition, where the orchestrator rejects it."""
    try:
        data: Any = from_json(body)
        room = data["room"]["id"]
        agent = data.get("agent_id") or ""
    except (ValueError, TypeError, KeyError, AttributeError):
        return "invalid:" + hashlib.sha256(body).hexdigest()
    return f"{agent}|{room}"


def partition_of(key: str, partitions: int) -> int:
    """The partition (0 .. partitions-1) of a conversation key: the same on every process."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions
