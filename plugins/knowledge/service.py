"""The knowledge service: stores the character's `knowledge` when the agent starts.

Idempotent across restarts (`sync_character_knowledge`): each entry's document id is derived
from its path and content, so an unchanged entry records nothing, a changed file replaces its
older version, and documents that came from the character but are no longer in it are removed.
Documents added with `elizabus knowledge add` are left alone. An entry that cannot be read is
logged and skipped. When no embedding model answers yet (`elizabus up` starts the model worker
beside the orchestrator), the agent starts anyway and the service tries again in the
background, after 2, 4, 8... seconds (at most a minute apart), until every entry is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Self

from shared.plugin import Runtime, Service, SyncReport, sync_character_knowledge

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 2.0
MAX_RETRY_SECONDS = 60.0


class KnowledgeService(Service):
    """Keeps the agent's knowledge in step with its character (see the module docstring)."""

    service_type = "knowledge"
    capability_description = "Retrieval augmented generation: the character's documents, searched"

    def __init__(self, runtime: Runtime | None = None) -> None:
        super().__init__(runtime)
        self.report: SyncReport | None = None
        self._retry: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, runtime: Runtime) -> Self:
        """Store the character's knowledge (in the background while no model answers), then
        serve."""
        service = cls(runtime)
        service.report = await sync_character_knowledge(runtime)
        if service.report.waiting:
            service._retry = asyncio.create_task(service._until_stored(runtime))
        return service

    async def _until_stored(self, runtime: Runtime) -> None:
        delay = FIRST_RETRY_SECONDS
        while self.report is not None and self.report.waiting:
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)
            try:
                self.report = await sync_character_knowledge(runtime)
            except Exception:
                log.exception("knowledge sync failed; trying again in %.0f s", delay)
        log.info("agent %s: the character's knowledge is stored", runtime.character.name)

    async def stop(self) -> None:
        """Stop trying again (what is stored stays)."""
        task, self._retry = self._retry, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
