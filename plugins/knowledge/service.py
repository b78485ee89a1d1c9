"""The knowledge service: ingests the character's `knowledge` when the agent starts.

Idempotent across restarts: each entry's document id is derived from its path and content, so
an unchanged entry records nothing, a changed file replaces its older version, and documents
that came from the character but are no longer in it are removed. Documents added with
`elizabus knowledge add` are left alone. An entry that cannot be read, or a model that fails,
is logged and the agent starts without it (the next start tries again).
"""

from __future__ import annotations

import logging
from typing import Self

from shared.knowledge import (
    IngestResult,
    add_knowledge,
    character_sources,
    document_id,
    remove_documents,
)
from shared.knowledge.documents import CHARACTER_ORIGIN
from shared.knowledge.ingest import stored_documents
from shared.plugin import ElizabusError, Runtime, Service

log = logging.getLogger(__name__)


class KnowledgeService(Service):
    """Keeps the agent's knowledge in step with its character (see the module docstring)."""

    service_type = "knowledge"
    capability_description = "Retrieval augmented generation: the character's documents, searched"

    def __init__(self, runtime: Runtime | None = None) -> None:
        super().__init__(runtime)
        self.results: list[IngestResult] = []

    @classmethod
    async def start(cls, runtime: Runtime) -> Self:
        """Ingest the character's knowledge, then serve."""
        service = cls(runtime)
        await service.sync_character_knowledge(runtime)
        return service

    async def sync_character_knowledge(self, runtime: Runtime) -> list[IngestResult]:
        """Add every entry of the character's `knowledge`, and remove the documents of earlier
        versions of the character that it no longer lists."""
        sources = character_sources(runtime.character)
        wanted = {document_id(runtime.agent_id, s) for s in sources}
        results = []
        for source in sources:
            try:
                results.append(await add_knowledge(runtime, source))
            except ElizabusError as exc:
                log.error("agent %s: knowledge %s not ingested: %s", runtime.character.name,
                          source.path or source.text[:40], exc)  # fmt: skip
        gone = [
            d
            for d in await stored_documents(runtime)
            if d.metadata.get("source") == CHARACTER_ORIGIN and d.id not in wanted
        ]
        removed = await remove_documents(runtime, gone)
        added = sum(r.status != "unchanged" for r in results)
        if added or removed:
            log.info("agent %s: knowledge: %d documents stored, %d removed",
                     runtime.character.name, added, removed)  # fmt: skip
        self.results = results
        return results
