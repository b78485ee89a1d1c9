"""The knowledge service: stores the character's `knowledge` when the agent starts.

Idempotent across restarts (`sync_character_knowledge`): each entry's document id is derived
from its path and content, so an unchanged entry records nothing, a changed file replaces its
older version, and documents that came from the character but are no longer in it are removed.
Documents added with `elizabus knowledge add` are left alone. An entry that cannot be read, or a
model that fails, is logged and the agent starts without it (the next start tries again).
"""

from __future__ import annotations

from typing import Self

from shared.plugin import IngestResult, Runtime, Service, sync_character_knowledge


class KnowledgeService(Service):
    """Keeps the agent's knowledge in step with its character (see the module docstring)."""

    service_type = "knowledge"
    capability_description = "Retrieval augmented generation: the character's documents, searched"

    def __init__(self, runtime: Runtime | None = None) -> None:
        super().__init__(runtime)
        self.results: list[IngestResult] = []

    @classmethod
    async def start(cls, runtime: Runtime) -> Self:
        """Store the character's knowledge, then serve."""
        service = cls(runtime)
        service.results = await sync_character_knowledge(runtime)
        return service
