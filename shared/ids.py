"""Stable, agent-scoped UUIDs derived from platform ids, as ElizaOS's createUniqueUuid does."""

from __future__ import annotations

import uuid

ELIZABUS_NAMESPACE = uuid.UUID("6f2b6d1e-8a3c-4c59-9a71-5d3f0c2e7b10")


def string_to_uuid(text: str) -> uuid.UUID:
    """A deterministic UUID for any string (same text, same UUID, on every machine)."""
    return uuid.uuid5(ELIZABUS_NAMESPACE, text)


def create_unique_uuid(agent_id: uuid.UUID, base_id: str) -> uuid.UUID:
    """The agent-scoped UUID for a platform id, so two agents never share an entity or room id."""
    if base_id == str(agent_id):
        return agent_id
    return string_to_uuid(f"{base_id}:{agent_id}")


def agent_id_for(name: str) -> uuid.UUID:
    """The default agent id of a character that names no id: derived from its name."""
    return string_to_uuid(f"agent:{name}")


def derived_id(parent: uuid.UUID, purpose: str) -> uuid.UUID:
    """An id derived from another one for a purpose (a run for a message, an event for a run).

    Redeliveries recompute the same ids, which is what makes appends and replies idempotent.
    """
    return uuid.uuid5(parent, purpose)
