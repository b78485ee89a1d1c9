"""The event log: the Protocol every store meets, the Postgres recorder and an in-memory double."""

from shared.eventstore.protocol import AppendResult, EventStore, Projector

__all__ = ["AppendResult", "EventStore", "Projector"]
