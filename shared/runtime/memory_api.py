"""The runtime's memory writes and embeddings (ElizaOS's createMemory, updateMemory,
deleteManyMemories, ..., addEmbeddingToMemory), each write an event.

Reads of memories are in database_reads (they go to the agent's read model). Writes go through
`record`: inside a message's run they join the run's single append; outside one they are
appended at once, a batch of N memories as one append.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from shared.connection_events import MemoryEmbeddingAdded
from shared.errors import (
    ConfigurationError,
    ElizabusError,
    EmptyMemoryError,
    InvalidInputError,
)
from shared.events import (
    AgentMemoriesCleared,
    EventData,
    EventMetadata,
    MemoriesDeleted,
    MemoryCreated,
    MemoryUpdated,
    NewEvent,
    RoomMemoriesDeleted,
)
from shared.eventstore import EventStore
from shared.plugin import Memory
from shared.readmodel.memory import similar_to_earlier
from shared.readmodel.protocol import AgentReadModel, NearDuplicateFinder
from shared.readmodel.rerank import rerank_memories
from shared.runtime.embedder import Embedder
from shared.runtime.embedding_repair import EMBEDDING_PENDING
from shared.runtime.run_scope import current_recorder, current_run_id
from shared.secrets import Scrubber

log = logging.getLogger(__name__)

UNIQUE_SIMILARITY = 0.95
"""A new memory is `unique` unless one of its table, room, world and entity is at least this
similar (ElizaOS's createMemory: searchMemoriesByEmbedding with match_threshold 0.95, count 1)."""
UNIQUE_CHECKS_IN_FLIGHT = 8


def _has_content(memory: Memory) -> bool:
    """Whether there is anything to store: a text that is not blank, or any other content."""
    return any(
        (v.strip() if isinstance(v, str) else v) not in (None, "", [], {})
        for v in memory.content.values()
    )


class MemoryApi:
    """Memory writes of AgentRuntime. Expects on self: `agent_id`, `db` (AgentReadModel or
    None), `store`, `scrubber`, `record`, `record_events` and `use_model`."""

    db: AgentReadModel | None
    store: EventStore
    scrubber: Scrubber

    @property
    def agent_id(self) -> uuid.UUID:
        raise NotImplementedError

    async def record(
        self, payload: EventData, stream_id: str | None = None, event_id: uuid.UUID | None = None
    ) -> None:
        raise NotImplementedError

    async def record_events(self, events: list[NewEvent]) -> None:
        raise NotImplementedError

    async def use_model(
        self, model_type: str, params: dict[str, Any], provider: str | None = None
    ) -> Any:
        raise NotImplementedError

    @property
    def embedder(self) -> Embedder:
        """This runtime's TEXT_EMBEDDING caller (remembers whether the model takes lists)."""
        found: Embedder | None = getattr(self, "_embedder", None)
        if found is None:
            found = Embedder(lambda t, p: self.use_model(t, p))
            self._embedder = found
        return found

    # --- creation ---------------------------------------------------------------------------

    async def create_memory(
        self,
        memory: Memory,
        table_name: str = "messages",
        unique: bool | None = None,
        *,
        embed: bool = True,
    ) -> uuid.UUID:
        """Store a memory (ElizaOS's createMemory); returns its id.

        Without an embedding, its text is embedded with TEXT_EMBEDDING first (unless `embed` is
        false, as for `action_result` memories); if the model fails, the memory is stored
        without one and the embedding repair adds it later. A memory without text (a reflection
        marker, an attachment) is stored without an embedding; one with no content at all is
        refused (EmptyMemoryError). `unique`: True or False sets it; None (ElizaOS's undefined)
        keeps a value set on the memory, else computes it as ElizaOS 1.7 (plugin-sql's
        `create`): unique unless the memory came with an embedding and a memory of the same
        table, room, world and entity is at least 0.95 similar to it. A memory embedded here is
        unique, as in ElizaOS, whose createMemory stores it first and embeds it afterwards."""
        return (await self.create_memories([memory], table_name, unique, embed=embed))[0]

    async def create_memories(
        self,
        memories: Sequence[Memory],
        table_name: str = "messages",
        unique: bool | None = None,
        *,
        embed: bool = True,
        table_names: Sequence[str] | None = None,
    ) -> list[uuid.UUID]:
        """Store many memories as `create_memory` does each, recorded in one append (inside a
        run, with the run's). The missing embeddings are asked in batches when the model takes
        a list of texts, else one text per call with a bound on calls in flight. In a message's
        run (a recorder that `may_defer`) the embeddings and `unique` are completed in the
        background while the run goes on, and the run waits for them before its append; the
        memories' `embedding` and `unique` are set once that is done. `table_names` gives each
        memory its own table (one per memory, in order), so memories of several tables are
        stored in one append (a knowledge document and its fragments)."""
        memories = list(memories)
        tables = list(table_names) if table_names is not None else [table_name] * len(memories)
        if len(tables) != len(memories):
            raise InvalidInputError(
                f"table_names has {len(tables)} tables for {len(memories)} memories: give one "
                "table per memory, or table_name for all"
            )
        for memory in memories:
            if memory.embedding is None and not _has_content(memory):
                raise EmptyMemoryError(
                    f"memory {memory.id} has no content to store: give it content.text (or "
                    "other content) or an embedding"
                )
        recorder = current_recorder()
        if (
            embed
            and recorder is not None
            and recorder.may_defer
            and recorder.agent_id == self.agent_id
            and any(m.embedding is None and m.text for m in memories)
        ):
            # In a message's run: queued now, in order, and completed in the background (`unique`
            # from the embeddings given, then the missing embeddings) while the run goes on; the
            # run settles before its append, so the log holds the same event as if it had been
            # awaited here.
            # ElizaOS 1.7 embeds a message after storing it (queueEmbeddingGeneration).
            queued = [
                recorder.add(self._created(m, t, m.unique), f"memory-{m.id}")
                for m, t in zip(memories, tables, strict=True)
            ]
            recorder.defer(self._complete_in_run(memories, queued, tables, unique))
            return [m.id for m in memories]
        flags = await self._flags_by_table(memories, tables, unique)
        if embed:
            await self._embed_missing(memories)
        for memory, flag in zip(memories, flags, strict=True):
            memory.unique = flag
        await self.record_payloads(
            [
                (self._created(m, t, m.unique), f"memory-{m.id}")
                for m, t in zip(memories, tables, strict=True)
            ]
        )
        return [m.id for m in memories]

    def _created(self, m: Memory, table_name: str, unique: bool) -> MemoryCreated:
        """The `memory.created` payload of `m` stored in `table_name`."""
        return MemoryCreated(
            id=m.id, agent_id=self.agent_id, entity_id=m.entity_id, room_id=m.room_id,
            world_id=m.world_id, table_name=table_name, content=m.content,
            embedding=m.embedding, unique=unique, created_at=m.created_at, metadata=m.metadata,
        )  # fmt: skip

    async def _complete_in_run(
        self,
        memories: list[Memory],
        queued: list[NewEvent],
        tables: list[str],
        unique: bool | None,
    ) -> None:
        """Decide `unique` and embed queued memories, then complete their queued events."""
        flags = await self._flags_by_table(memories, tables, unique)
        await self._embed_missing(memories)
        for memory, table, flag, event in zip(memories, tables, flags, queued, strict=True):
            memory.unique = flag
            event.data = self._created(memory, table, flag).model_dump(mode="json")

    async def _flags_by_table(
        self, memories: list[Memory], tables: list[str], unique: bool | None
    ) -> list[bool]:
        """`_unique_flags` of each table's memories (in order), as one list."""
        flags: list[bool] = [m.unique for m in memories]
        for table in dict.fromkeys(tables):
            positions = [i for i, t in enumerate(tables) if t == table]
            in_table = [memories[i] for i in positions]
            for i, flag in zip(positions, await self._unique_flags(in_table, table, unique),
                               strict=True):  # fmt: skip
                flags[i] = flag
        return flags

    async def _embed_missing(self, memories: list[Memory]) -> None:
        todo = [m for m in memories if m.embedding is None and m.text]
        if not todo:
            return
        if len(todo) == 1:
            results: list[list[float] | Exception] = []
            try:
                results.append(await self.embedder.embed(todo[0].text))
            except Exception as exc:
                results.append(exc)
        else:
            results = await self.embedder.embed_many([m.text for m in todo])
        for memory, result in zip(todo, results, strict=True):
            if isinstance(result, Exception):
                log.warning("memory %s stored without embedding, the repair embeds it later: %s",
                            memory.id, result)  # fmt: skip
                memory.metadata = {**memory.metadata, EMBEDDING_PENDING: True}
            else:
                memory.embedding = result

    async def _unique_flags(
        self, memories: list[Memory], table_name: str, unique: bool | None
    ) -> list[bool]:
        """Each memory's `unique`: the one given, else the one set on the memory, else computed
        as ElizaOS's createMemory does, as if the batch were created one memory after another
        (a memory 0.95 similar to an earlier one of the same batch is not unique either)."""
        if unique is not None:
            return [unique] * len(memories)
        preset = [
            "unique" in m.model_fields_set or not m.embedding or self.db is None for m in memories
        ]
        if all(preset):
            return [m.unique for m in memories]
        if isinstance(self.db, NearDuplicateFinder):
            similar = await self.db.find_near_duplicates(memories, table_name, UNIQUE_SIMILARITY)
        else:
            similar = await self._near_duplicates_one_by_one(memories, table_name)
        return [m.unique if p else not s for m, p, s in zip(memories, preset, similar, strict=True)]

    async def _near_duplicates_one_by_one(
        self, memories: list[Memory], table_name: str
    ) -> list[bool]:
        """`find_near_duplicates` for a read model without it: one search per memory (at most
        UNIQUE_CHECKS_IN_FLIGHT at once), then the batch's own earlier memories."""
        db = self._reads()
        limit = asyncio.Semaphore(UNIQUE_CHECKS_IN_FLIGHT)

        async def stored(memory: Memory) -> bool:
            if not memory.embedding:
                return False
            async with limit:
                return bool(await db.search_memories(
                    embedding=memory.embedding, table_name=table_name,
                    match_threshold=UNIQUE_SIMILARITY, count=1, room_id=memory.room_id,
                    world_id=memory.world_id, entity_id=memory.entity_id,
                ))  # fmt: skip

        found = list(await asyncio.gather(*(stored(m) for m in memories)))
        earlier = [similar_to_earlier(memories, i, UNIQUE_SIMILARITY) for i in range(len(found))]
        return [f or e for f, e in zip(found, earlier, strict=True)]

    async def record_payloads(self, payloads: list[tuple[EventData, str]]) -> None:
        """Record (payload, stream) pairs in one go: into the current run, or as one append now
        (fresh event ids)."""
        recorder = current_recorder()
        if recorder is not None and recorder.agent_id == self.agent_id:
            for payload, stream in payloads:
                recorder.add(payload, stream)
            return
        metadata = EventMetadata(agent_id=self.agent_id, run_id=current_run_id())
        await self.record_events(
            [
                NewEvent.of(payload, event_id=uuid.uuid4(), stream_id=stream, metadata=metadata)
                for payload, stream in payloads
            ]
        )

    # --- embeddings -------------------------------------------------------------------------

    async def add_embedding_to_memory(self, memory: Memory) -> Memory:
        """Give the memory the embedding of its text (ElizaOS's addEmbeddingToMemory); one that
        has an embedding is returned as it is. When the memory is stored (this agent's read
        model knows it), `memory.embedding_added` records the embedding for it too. Raises
        EmptyMemoryError when it has no text, ModelError when the model fails."""
        if memory.embedding is not None:
            return memory
        if not memory.text:
            raise EmptyMemoryError(
                f"memory {memory.id} has no text to embed: give it content.text, or an embedding"
            )
        memory.embedding = await self.embedder.embed(memory.text)
        if self.db is not None and await self.db.get_memory_by_id(memory.id) is not None:
            await self.record(
                MemoryEmbeddingAdded(id=memory.id, agent_id=self.agent_id,
                                     embedding=memory.embedding),
                f"memory-{memory.id}",
            )  # fmt: skip
        return memory

    async def get_relevant_memories(
        self,
        query: str,
        room_id: uuid.UUID | None = None,
        count: int = 10,
        table_name: str = "messages",
        match_threshold: float = 0.5,
    ) -> list[Memory]:
        """The memories of a table (in a room, when given) most relevant to `query`: its
        embedding's nearest, re-ranked by BM25 relevance to it. An empty query finds nothing."""
        if not query.strip():
            return []
        embedding = await self.embedder.embed(query)
        db = self._reads()
        hits = await db.search_memories(
            embedding=embedding, table_name=table_name, match_threshold=match_threshold,
            count=count, room_id=room_id,
        )  # fmt: skip
        return rerank_memories(query, hits)

    # --- updates and deletes ----------------------------------------------------------------

    async def update_memory(
        self,
        memory_id: uuid.UUID,
        *,
        content: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        embedding: list[float] | None = None,
        embed: bool = True,
    ) -> bool:
        """Replace a memory's content, metadata and/or embedding (ElizaOS's updateMemory); what
        is None stays. A new text without a new embedding is embedded again (unless `embed` is
        false), so vector search keeps finding the memory by what it says. False (nothing
        recorded) when the agent has no such memory."""
        if self.db is not None:
            stored = await self.db.get_memory_by_id(memory_id)
            if stored is None:
                return False
            new_text = str((content or {}).get("text") or "")
            changed = new_text and (new_text != stored.text or stored.embedding is None)
            if embed and embedding is None and changed:
                try:
                    embedding = await self.embedder.embed(new_text)
                except ElizabusError as exc:
                    log.warning("memory %s updated, its embedding kept: %s", memory_id, exc)
        if content is None and metadata is None and embedding is None:
            return True
        await self.record(
            MemoryUpdated(id=memory_id, agent_id=self.agent_id, content=content,
                          metadata=metadata, embedding=embedding),
            f"memory-{memory_id}",
        )  # fmt: skip
        return True

    async def delete_many_memories(self, memory_ids: Sequence[uuid.UUID]) -> None:
        """Remove several memories in one event (ElizaOS's deleteManyMemories)."""
        if memory_ids:
            await self.record(MemoriesDeleted(ids=list(memory_ids), agent_id=self.agent_id))

    async def delete_all_memories(self, room_id: uuid.UUID, table_name: str) -> None:
        """Remove every memory of a table in a room (ElizaOS's deleteAllMemories)."""
        await self.record(
            RoomMemoriesDeleted(room_id=room_id, table_name=table_name, agent_id=self.agent_id),
            f"room-{room_id}",
        )

    async def clear_all_agent_memories(self) -> None:
        """Remove every memory of this agent, of every table and room (ElizaOS's
        clearAllAgentMemories). Other agents' memories are untouched."""
        await self.record(AgentMemoriesCleared(agent_id=self.agent_id))

    def _reads(self) -> AgentReadModel:
        if self.db is None:
            raise ConfigurationError(
                "this runtime has no read model: build the AgentRuntime with db=<AgentReadModel>"
            )
        return self.db
