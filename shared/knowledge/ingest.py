"""Ingesting a knowledge source: fragments embedded in batches, stored as memories through events.

As ElizaOS's knowledge plugin: the document is a memory of table `documents` (metadata `type`
"document", `documentId`, `source`, filename, title, ...), each fragment a memory of table
`knowledge` (metadata `type` "fragment", `documentId`, `position`, `source`), both in the agent's
own room, entity and world. Unlike ElizaOS, the fragments carry their embeddings in their
`memory.created` events (so `elizabus projections rebuild` restores them without calling a
model), the document is stored without one (its fragments are what is searched), and ids are
derived rather than drawn:

- the document's id from the agent, the source's path (or "inline") and the SHA-256 of its
  content: re-adding an unchanged file finds it and records nothing;
- a fragment's id from its document and position.

A changed file is a new document; the documents of the same path with other content are then
deleted with their fragments (`memory.deleted`). A document and its fragments are recorded in
one append (`create_memories` with a table per memory), the fragments first: a document that
exists is complete, and an ingestion interrupted before the append leaves nothing behind.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import ElizabusError, KnowledgeError, ModelError
from shared.events import now_ms
from shared.ids import derived_id
from shared.knowledge.chunking import split_chunks
from shared.knowledge.documents import CHARACTER_ORIGIN, KnowledgeSource, character_sources
from shared.knowledge.presence import knowledge_added

if TYPE_CHECKING:  # shared.plugin re-exports this module's API: no import of it at load time
    from shared.plugin import Memory, Runtime

log = logging.getLogger(__name__)

DOCUMENTS_TABLE = "documents"
FRAGMENTS_TABLE = "knowledge"
EMBEDDING_BATCH = 32
"""Fragments per TEXT_EMBEDDING request (a list `text`) at most: 32 fragments of 1,750
characters are 56 KB, and their 32 vectors of 384 numbers about 250 KB of JSON."""
FIRST_BATCH = 8
ANSWER_BYTES = 600_000
BYTES_PER_NUMBER = 22
"""An answer is kept under 600 KB of JSON (a number takes up to 22 characters), well below
NATS's default 1 MB message limit, whatever the vectors' dimension."""

PASSAGE = "passage"
QUERY = "query"
"""`input_type` of TEXT_EMBEDDING requests: models trained with prefixes (e5) embed stored text
as a passage and a search as a query; models without them ignore the parameter."""


@dataclass(frozen=True)
class IngestResult:
    """What adding one source did: `status` is "added", "unchanged" or "replaced" (a previous
    version of the same path was deleted); `fragments` the document's fragment count;
    `removed` how many older documents were deleted."""

    document_id: uuid.UUID
    status: str
    fragments: int
    removed: int = 0
    title: str = ""


def document_id(agent_id: uuid.UUID, source: KnowledgeSource) -> uuid.UUID:
    """The id of this version of a document: derived from the agent, its path ("inline" for
    inline text) and its content hash."""
    return derived_id(agent_id, f"knowledge:{source.path or 'inline'}:{source.content_hash}")


def fragment_id(document: uuid.UUID, position: int) -> uuid.UUID:
    """The id of a document's fragment at `position` (0-based)."""
    return derived_id(document, f"fragment:{position}")


async def add_knowledge(
    runtime: Runtime,
    source: KnowledgeSource,
    *,
    batch_size: int = EMBEDDING_BATCH,
) -> IngestResult:
    """Ingest one source for the runtime's agent (see the module docstring): nothing when this
    version is stored already; else its fragments and document, then the deletion of older
    versions of the same path. Model errors propagate (nothing is stored for the document)."""
    agent = runtime.agent_id
    doc_id = document_id(agent, source)
    title = str(source.metadata.get("title") or source.text[:40])
    stale = await _older_versions(runtime, source, doc_id)
    if await runtime.get_memory_by_id(doc_id) is not None:
        removed = await remove_documents(runtime, stale)
        return IngestResult(doc_id, "replaced" if removed else "unchanged", 0, removed, title)
    chunks = split_chunks(source.text)
    if not chunks:
        raise KnowledgeError(f"{title}: no text to ingest")
    embeddings = await embed_texts(runtime, chunks, batch_size=batch_size)
    stamp = now_ms()
    shared_meta = {**source.metadata, "documentId": str(doc_id), "source": source.origin}
    if source.path:
        shared_meta["path"] = source.path
    fragments = [
        _memory(
            runtime, fragment_id(doc_id, position), chunk, stamp,
            {**shared_meta, "type": "fragment", "position": position}, vector,
        )
        for position, (chunk, vector) in enumerate(zip(chunks, embeddings, strict=True))
    ]  # fmt: skip
    document = _memory(
        runtime, doc_id, source.text, stamp,
        {**shared_meta, "type": "document", "contentHash": source.content_hash,
         "fragmentCount": len(chunks), "timestamp": stamp},
        None,
    )  # fmt: skip
    await runtime.create_memories(
        [*fragments, document],
        table_names=[FRAGMENTS_TABLE] * len(fragments) + [DOCUMENTS_TABLE],
        embed=False,
    )
    knowledge_added(runtime.agent_id)
    removed = await remove_documents(runtime, stale)
    log.info("knowledge: %s stored as %d fragments (document %s)", title, len(chunks), doc_id)
    return IngestResult(doc_id, "replaced" if removed else "added", len(chunks), removed, title)


async def remove_documents(runtime: Runtime, documents: Sequence[Memory]) -> int:
    """Delete documents with their fragments (the fragments first); how many documents."""
    for document in documents:
        count = int(document.metadata.get("fragmentCount") or 0)
        for position in range(count):
            await runtime.delete_memory(fragment_id(document.id, position))
        await runtime.delete_memory(document.id)
        log.info("knowledge: document %s (%s) removed", document.id, _title(document))
    return len(documents)


@dataclass(frozen=True)
class SyncReport:
    """What `sync_character_knowledge` did: a result per entry stored or found unchanged, how
    many older documents it removed, and the entries it could not store because no embedding
    model answered (`waiting`: worth trying again later; unreadable entries are only logged)."""

    results: list[IngestResult]
    removed: int
    waiting: int


async def sync_character_knowledge(runtime: Runtime) -> SyncReport:
    """Store every entry of the character's `knowledge` (an unchanged one records nothing) and
    remove the documents that came from the character but that it no longer lists; documents
    added otherwise (`elizabus knowledge add`) are left alone. An entry that cannot be stored is
    logged and skipped; when the reason is the embedding model, it counts in `waiting` (and the
    documents removed are only those no longer listed, so nothing is lost meanwhile)."""
    sources = character_sources(runtime.character)
    wanted = {document_id(runtime.agent_id, s) for s in sources}
    results = []
    waiting = 0
    for source in sources:
        try:
            results.append(await add_knowledge(runtime, source))
        except ModelError as exc:
            waiting += 1
            log.warning("agent %s: knowledge %s waits for an embedding model: %s",
                        runtime.character.name, source.path or source.text[:40], exc)  # fmt: skip
        except ElizabusError as exc:
            log.error("agent %s: knowledge %s not stored: %s", runtime.character.name,
                      source.path or source.text[:40], exc)  # fmt: skip
    gone = [
        d
        for d in await stored_documents(runtime)
        if d.metadata.get("source") == CHARACTER_ORIGIN
        and d.id not in wanted
        and not (waiting and d.metadata.get("path") in {s.path for s in sources})
    ]
    removed = await remove_documents(runtime, gone)
    stored = sum(r.status != "unchanged" for r in results)
    if stored or removed:
        log.info("agent %s: knowledge: %d documents stored, %d removed",
                 runtime.character.name, stored, removed)  # fmt: skip
    return SyncReport(results, removed, waiting)


async def stored_documents(runtime: Runtime) -> list[Memory]:
    """Every knowledge document of the agent, newest first."""
    return await runtime.get_memories(table_name=DOCUMENTS_TABLE, count=None)


async def embed_texts(
    runtime: Runtime,
    texts: Sequence[str],
    *,
    batch_size: int = EMBEDDING_BATCH,
    input_type: str = PASSAGE,
) -> list[list[float]]:
    """One embedding per text, asked `batch_size` texts at a time (TEXT_EMBEDDING with a list
    `text`). The first request holds at most `FIRST_BATCH` texts; the next ones are sized so
    their answer stays under `ANSWER_BYTES` for the vectors' dimension (32 vectors of 384, 9 of
    3,072). A model that answers a list with anything but one vector per text (it does not take
    lists) is asked one text at a time instead."""
    vectors: list[list[float]] = []
    batched = True
    size = max(1, min(batch_size, FIRST_BATCH))
    start = 0
    while start < len(texts):
        batch = list(texts[start : start + size])
        start += len(batch)
        answer: Any = None
        if batched:
            answer = await runtime.use_model(
                "TEXT_EMBEDDING", {"text": batch, "input_type": input_type}
            )
            if not _vectors(answer, len(batch)):
                log.info("knowledge: the embedding model takes no lists; one text per request")
                batched = False
        if not batched:
            answer = [
                await runtime.use_model("TEXT_EMBEDDING", {"text": t, "input_type": input_type})
                for t in batch
            ]
            if not _vectors(answer, len(batch)):
                raise ModelError(
                    "TEXT_EMBEDDING answered with no vector: check the embedding model worker"
                )
        vectors += [[float(x) for x in v] for v in answer]
        fitting = ANSWER_BYTES // (BYTES_PER_NUMBER * max(1, len(vectors[-1])))
        size = max(1, min(batch_size, fitting))
    dimensions = {len(v) for v in vectors}
    if len(dimensions) > 1:
        raise ModelError(
            f"TEXT_EMBEDDING answered vectors of {sorted(dimensions)} dimensions for one "
            "document: run one embedding model at a time"
        )
    return vectors


async def _older_versions(
    runtime: Runtime, source: KnowledgeSource, doc_id: uuid.UUID
) -> list[Memory]:
    if source.path is None:
        return []
    return [
        d
        for d in await stored_documents(runtime)
        if d.metadata.get("path") == source.path and d.id != doc_id
    ]


def _vectors(answer: Any, count: int) -> bool:
    """Whether `answer` is `count` vectors (non-empty lists of numbers)."""
    return isinstance(answer, list) and len(answer) == count and all(map(_vector, answer))


def _vector(value: Any) -> bool:
    return (
        isinstance(value, list) and bool(value) and all(isinstance(x, int | float) for x in value)
    )


def _memory(
    runtime: Runtime,
    memory_id: uuid.UUID,
    text: str,
    created_at: int,
    metadata: dict[str, Any],
    embedding: list[float] | None,
) -> Memory:
    from shared.plugin import Memory

    agent = runtime.agent_id
    return Memory(
        id=memory_id, entity_id=agent, agent_id=agent, room_id=agent, world_id=agent,
        content={"text": text}, embedding=embedding, created_at=created_at, metadata=metadata,
    )  # fmt: skip


def _title(document: Memory) -> str:
    return str(document.metadata.get("title") or document.text[:40])
