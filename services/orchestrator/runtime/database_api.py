"""The agent's database surface (ElizaOS's IDatabaseAdapter as runtime methods), as a mixin.

Reads go to the agent's read model (projections, scoped to the agent); writes are recorded as
events, so inside a message's run they commit with the run's single append.
"""

from __future__ import annotations


class DatabaseApi:
    """Memory, entity, component, world, room, participant and relationship methods of
    AgentRuntime (filled in by the data-layer work)."""
