"""The agent's read model: agent-scoped queries of the projections (Postgres) or of the log
(the in-memory double), returning shared.records models and shared.plugin.Memory."""

from shared.readmodel.protocol import AgentReadModel

__all__ = ["AgentReadModel"]
