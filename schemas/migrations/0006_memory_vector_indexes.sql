-- Indexed vector search for every embedding size, and the agent's recorded embedding dimension.
--
-- `memories.embedding` stays one untyped `vector` column (a rebuild writes exactly what the log
-- says, whatever the size). Each supported size gets a partial HNSW index over the column cast to
-- its typed form, holding only the rows of that size (pgvector's "expression and partial
-- indexing" for mixed dimensions). HNSW on `vector` stops at 2,000 dimensions, so 3072 is
-- indexed as `halfvec` (up to 4,000). shared/readmodel/vector_search.py writes queries whose
-- ORDER BY and WHERE match these expressions literally, and turns on pgvector's iterative index
-- scans so that agent, room, world, entity and table filters still return the k nearest.
CREATE INDEX IF NOT EXISTS memories_embedding_384 ON memories
    USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE vector_dims(embedding) = 384;
CREATE INDEX IF NOT EXISTS memories_embedding_512 ON memories
    USING hnsw ((embedding::vector(512)) vector_cosine_ops) WHERE vector_dims(embedding) = 512;
CREATE INDEX IF NOT EXISTS memories_embedding_768 ON memories
    USING hnsw ((embedding::vector(768)) vector_cosine_ops) WHERE vector_dims(embedding) = 768;
CREATE INDEX IF NOT EXISTS memories_embedding_1024 ON memories
    USING hnsw ((embedding::vector(1024)) vector_cosine_ops) WHERE vector_dims(embedding) = 1024;
CREATE INDEX IF NOT EXISTS memories_embedding_1536 ON memories
    USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WHERE vector_dims(embedding) = 1536;
CREATE INDEX IF NOT EXISTS memories_embedding_3072 ON memories
    USING hnsw ((embedding::halfvec(3072)) halfvec_cosine_ops) WHERE vector_dims(embedding) = 3072;

-- memories by room across tables (get_memories_by_room_ids, delete_all_memories, counts)
CREATE INDEX IF NOT EXISTS memories_agent_room ON memories (agent_id, room_id, table_name);

-- The embedding dimension each agent's model answered at start (embedding.dimension_set).
CREATE TABLE IF NOT EXISTS agent_embedding_dimensions (
    agent_id   uuid    PRIMARY KEY,
    dimension  integer NOT NULL,
    set_at     bigint  NOT NULL
);
