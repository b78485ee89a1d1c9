"""Knowledge (RAG): documents split into overlapping fragments, embedded, and stored as memories
through events, so the KNOWLEDGE provider (plugins/knowledge) can put the fragments most relevant
to a message into its prompt, and a rebuild of the projections restores them without a model.

`documents` reads .md, .txt and .pdf files and the character's `knowledge` entries into
`KnowledgeSource`s; `chunking` splits text as ElizaOS's knowledge plugin does; `ingest` embeds
the fragments in batches and records the document and its fragments; `retrieval` finds the
fragments for a message. Both the knowledge plugin (at agent start) and `elizabus knowledge add`
run this same code on an AgentRuntime. Plugins reach it through `shared.plugin`, which
re-exports it.
"""

from shared.knowledge.chunking import split_chunks
from shared.knowledge.documents import (
    KnowledgeSource,
    character_sources,
    source_from_file,
    source_from_text,
    sources_from_paths,
)
from shared.knowledge.ingest import (
    DOCUMENTS_TABLE,
    FRAGMENTS_TABLE,
    IngestResult,
    SyncReport,
    add_knowledge,
    document_id,
    embed_texts,
    fragment_id,
    remove_documents,
    stored_documents,
    sync_character_knowledge,
)
from shared.knowledge.retrieval import get_knowledge, knowledge_text

__all__ = [
    "DOCUMENTS_TABLE",
    "FRAGMENTS_TABLE",
    "IngestResult",
    "KnowledgeSource",
    "SyncReport",
    "add_knowledge",
    "character_sources",
    "document_id",
    "embed_texts",
    "fragment_id",
    "get_knowledge",
    "knowledge_text",
    "remove_documents",
    "source_from_file",
    "source_from_text",
    "sources_from_paths",
    "split_chunks",
    "stored_documents",
    "sync_character_knowledge",
]
