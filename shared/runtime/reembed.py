"""Re-embeds an agent's memories after its embedding model changed (`elizabus memories reembed`).

Memories whose embedding is not of the model's dimension are embedded again, oldest first, in
batches (`memory.embedding_added` events, one append per batch). Only memories still at another
dimension are picked, so a run that stops (Ctrl-C, a model failing) resumes where it stopped.
When none with text is left, `embedding.dimension_set` records the new dimension and the agent
starts again. Memories without text keep their old embedding: there is nothing to embed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from shared.connection_events import MemoryEmbeddingAdded
from shared.errors import ConfigurationError, EmbeddingDimensionMismatchError, ModelError
from shared.events import EmbeddingDimensionSet, EventData, now_ms
from shared.plugin import Memory
from shared.runtime.embedder import Embedder

log = logging.getLogger(__name__)

REEMBED_BATCH = 64


class _Reads(Protocol):
    async def get_embedding_dimension(self) -> int | None: ...

    async def count_memories_by_dimension(self) -> dict[int, int]: ...

    async def get_memories_to_reembed(self, dimension: int, count: int) -> list[Memory]: ...


class ReembeddingRuntime(Protocol):
    """What re-embedding needs of the AgentRuntime (initialised, so its dimension is known)."""

    @property
    def agent_id(self) -> uuid.UUID: ...

    @property
    def embedding_dimension(self) -> int | None: ...

    @property
    def embedder(self) -> Embedder: ...

    async def record(self, payload: EventData, stream_id: str | None = None,
                     event_id: Any = None) -> None: ...  # fmt: skip

    async def record_payloads(self, payloads: list[tuple[EventData, str]]) -> None: ...


@dataclass(frozen=True)
class ReembedResult:
    """What a re-embedding did."""

    dimension: int
    reembedded: int
    left_without_text: int
    """Memories still at another dimension that have no text to embed."""


async def pending_count(runtime: ReembeddingRuntime, db: _Reads) -> int:
    """How many of the agent's memories have an embedding of another dimension than its model's."""
    dimension = _dimension(runtime)
    return sum(n for d, n in (await db.count_memories_by_dimension()).items() if d != dimension)


def _dimension(runtime: ReembeddingRuntime) -> int:
    if runtime.embedding_dimension is None:
        raise ConfigurationError(
            "no embedding model answered the dimension probe: start the model worker of the new "
            "embedding model (`elizabus worker model`, or `elizabus up`) and run this again"
        )
    return runtime.embedding_dimension


async def reembed_memories(
    runtime: ReembeddingRuntime,
    db: _Reads,
    batch: int = REEMBED_BATCH,
    progress: Callable[[int], None] | None = None,
) -> ReembedResult:
    """Re-embed every memory of the agent not at its model's dimension; `progress(n)` after each
    batch of n. A model failure stops it with ModelError (what was recorded stays: run it again
    to go on)."""
    dimension = _dimension(runtime)
    rounds_left = await pending_count(runtime, db) // max(batch, 1) + 2
    done = 0
    while memories := await db.get_memories_to_reembed(dimension, batch):
        rounds_left -= 1
        if rounds_left < 0:  # each round moves `batch` memories: more means none moved
            raise ModelError(
                "re-embedding makes no progress (the recorded embeddings do not reach the "
                "projections): check `elizabus projections rebuild` and the database's logs"
            )
        vectors = await runtime.embedder.embed_many([m.text for m in memories])
        payloads: list[tuple[EventData, str]] = []
        for memory, vector in zip(memories, vectors, strict=True):
            if isinstance(vector, Exception):
                if payloads:
                    await runtime.record_payloads(payloads)
                    done += len(payloads)
                raise ModelError(
                    f"re-embedding stopped at memory {memory.id} ({vector}); {done} memories "
                    "were re-embedded and kept: fix the model and run the command again to go on"
                ) from vector
            if len(vector) != dimension:
                raise EmbeddingDimensionMismatchError(
                    f"the embedding model answered {len(vector)} dimensions, and {dimension} at "
                    "start: more than one embedding model answers TEXT_EMBEDDING; stop the old "
                    "model's workers and run this again"
                )
            payloads.append(
                (MemoryEmbeddingAdded(id=memory.id, agent_id=runtime.agent_id, embedding=vector),
                 f"memory-{memory.id}")
            )  # fmt: skip
        await runtime.record_payloads(payloads)
        done += len(payloads)
        if progress is not None:
            progress(len(payloads))
    left = await pending_count(runtime, db)
    recorded = await db.get_embedding_dimension()
    if recorded != dimension:
        await runtime.record(EmbeddingDimensionSet(
            agent_id=runtime.agent_id, dimension=dimension, previous=recorded, at=now_ms()
        ))  # fmt: skip
    if left:
        log.warning(
            "%d memories have an embedding of another dimension and no text to embed: they "
            "keep it, and vector search at %d dimensions skips them", left, dimension,
        )  # fmt: skip
    return ReembedResult(dimension=dimension, reembedded=done, left_without_text=left)
