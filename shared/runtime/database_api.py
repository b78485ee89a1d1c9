"""The agent's database surface (ElizaOS's IDatabaseAdapter as runtime methods), as a mixin.

Reads go to the agent's read model (`self.db`, projections scoped to the agent); writes are
recorded as events through `self.record`, so inside a message's run they commit with the run's
single append and become visible to reads only then.
"""

from __future__ import annotations

from shared.runtime.database_reads import DatabaseReads
from shared.runtime.database_writes import DatabaseWrites


class DatabaseApi(DatabaseReads, DatabaseWrites):
    """Memory, entity, component, world, room, participant and relationship methods of
    AgentRuntime, plus ensure_connection. Expects on self: `agent_id`, `db` (an
    AgentReadModel, or None: reads then raise ConfigurationError), `store` and `record`."""
