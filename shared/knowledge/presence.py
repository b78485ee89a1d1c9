"""Whether an agent has any knowledge, remembered for a moment in this process.

Most agents have none, and the KNOWLEDGE provider would otherwise read the database for every
message to find that out. An agent found empty is taken to be empty for
`EMPTY_RECHECK_SECONDS`; storing knowledge in this process forgets that at once, and knowledge
stored by another process (`elizabus knowledge add`) is searched at most that long after.
"""

from __future__ import annotations

import time
import uuid

EMPTY_RECHECK_SECONDS = 2.0

_empty_until: dict[uuid.UUID, float] = {}


def known_empty(agent_id: uuid.UUID) -> bool:
    """Whether the agent was found to have no knowledge less than EMPTY_RECHECK_SECONDS ago."""
    return _empty_until.get(agent_id, 0.0) > time.monotonic()


def found_empty(agent_id: uuid.UUID) -> None:
    """Remember that the agent has no knowledge (for EMPTY_RECHECK_SECONDS)."""
    _empty_until[agent_id] = time.monotonic() + EMPTY_RECHECK_SECONDS


def knowledge_added(agent_id: uuid.UUID) -> None:
    """Forget that the agent had no knowledge (this process just stored some)."""
    _empty_until.pop(agent_id, None)
