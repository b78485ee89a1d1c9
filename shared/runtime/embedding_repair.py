"""Fills in the embeddings of memories stored while no embedding model answered.

`create_memory` stores a memory without its embedding rather than lose it when TEXT_EMBEDDING
fails (a worker down, NATS restarting). Such a memory is invisible to vector search until it gets
one: the repair finds them (the read model's `get_memories_without_embedding`), embeds their text
and records `memory.embedding_added`, whose id is derived from the memory, so two orchestrators
repairing at once record it once. It runs every `interval` seconds while the agent runs, and stops
early in a round when the model still fails (the next round tries again).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from shared.batch_loop import BatchLoop
from shared.connection_events import MemoryEmbeddingAdded
from shared.errors import ElizabusError
from shared.events import EventData
from shared.ids import derived_id
from shared.plugin import Memory

log = logging.getLogger(__name__)

EMBEDDING_PENDING = "embeddingPending"
"""The metadata key `create_memory` sets on a memory whose embedding failed: the repair embeds
exactly those (memories stored on purpose without one, such as action results, are left alone)."""

DEFAULT_BATCH = 32
DEFAULT_INTERVAL_SECONDS = 30.0


class _ReadModel(Protocol):
    async def get_memories_without_embedding(self, count: int) -> list[Memory]: ...


class RepairableRuntime(Protocol):
    """What the repair needs of the AgentRuntime."""

    @property
    def agent_id(self) -> Any: ...

    async def use_model(
        self, model_type: str, params: dict[str, Any], provider: str | None = None
    ) -> Any: ...

    async def record(self, payload: EventData, stream_id: str | None = None,
                     event_id: Any = None) -> None: ...  # fmt: skip


async def repair_embeddings(
    runtime: RepairableRuntime, db: _ReadModel, batch: int = DEFAULT_BATCH
) -> int:
    """Embed up to `batch` memories that lack an embedding; returns how many got one."""
    repaired = 0
    for memory in await db.get_memories_without_embedding(batch):
        try:
            embedding = await runtime.use_model("TEXT_EMBEDDING", {"text": memory.text})
        except ElizabusError as exc:
            log.info("embedding repair paused, the model still fails: %s", exc)
            break
        if not isinstance(embedding, list) or not embedding:
            log.warning("embedding repair: TEXT_EMBEDDING gave no vector for memory %s", memory.id)
            continue
        await runtime.record(
            MemoryEmbeddingAdded(id=memory.id, agent_id=runtime.agent_id, embedding=embedding),
            f"memory-{memory.id}",
            derived_id(memory.id, "memory.embedding_added"),
        )
        repaired += 1
    if repaired:
        log.info("embedding repair: %d memories got their embedding", repaired)
    return repaired


class EmbeddingRepair:
    """Runs `repair_embeddings` every `interval` seconds until `stop`."""

    def __init__(
        self,
        runtime: RepairableRuntime,
        db: _ReadModel,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        batch: int = DEFAULT_BATCH,
    ) -> None:
        self.runtime, self.db, self.interval, self.batch = runtime, db, interval, batch
        self._loop = BatchLoop(
            lambda: repair_embeddings(self.runtime, self.db, self.batch),
            full=batch, pause=interval, name="embedding-repair",
            failure="embedding repair round failed; the next one tries again",
        )  # fmt: skip

    def start(self) -> None:
        """Start repairing in the background."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop (a round in progress is cancelled; its recorded repairs stay)."""
        await self._loop.stop()
