-- Vector index maintenance off the append path.
--
-- Keeping an HNSW graph up to date on every insert was the floor of memory creation (300-560
-- rows/s with pgvector's defaults on 2 shared cores, docs/benchmarks.md). Now the append's
-- projection writes a memory with `indexed = false`, which keeps it out of the partial HNSW
-- indexes below; a background maintainer (shared/projections/vector_index.py, run by every
-- orchestrator) sets `indexed = true` in batches, which is when the row enters its size's HNSW
-- index. Searches stay complete meanwhile: the indexed search is merged with an exact scan of
-- the rows not yet indexed, which the small partial b-tree `memories_not_indexed` finds.
--
-- `indexed` is maintenance state, not part of the projection: a rebuild from the log drops the
-- HNSW indexes, replays, marks every row indexed and builds them again in bulk
-- (shared/projections/rebuild.py).
--
-- Rows already stored are in the old indexes: they start as indexed.
ALTER TABLE memories ADD COLUMN IF NOT EXISTS indexed boolean NOT NULL DEFAULT true;
ALTER TABLE memories ALTER COLUMN indexed SET DEFAULT false;

CREATE INDEX IF NOT EXISTS memories_not_indexed ON memories (agent_id, table_name, room_id)
    WHERE NOT indexed;

-- The HNSW indexes again, holding only indexed rows, built with m = 16 and ef_construction = 32
-- (pgvector's defaults are 16 and 64): cheaper to insert into, recall@10 re-measured at 100,000
-- memories in docs/benchmarks.md ("Issue 16: creation above 2,000/s").
DROP INDEX IF EXISTS memories_embedding_384;
DROP INDEX IF EXISTS memories_embedding_512;
DROP INDEX IF EXISTS memories_embedding_768;
DROP INDEX IF EXISTS memories_embedding_1024;
DROP INDEX IF EXISTS memories_embedding_1536;
DROP INDEX IF EXISTS memories_embedding_3072;
CREATE INDEX memories_embedding_384 ON memories
    USING hnsw ((embedding::vector(384)) vector_cosine_ops) WITH (m = 16, ef_construction = 32)
    WHERE vector_dims(embedding) = 384 AND indexed;
CREATE INDEX memories_embedding_512 ON memories
    USING hnsw ((embedding::vector(512)) vector_cosine_ops) WITH (m = 16, ef_construction = 32)
    WHERE vector_dims(embedding) = 512 AND indexed;
CREATE INDEX memories_embedding_768 ON memories
    USING hnsw ((embedding::vector(768)) vector_cosine_ops) WITH (m = 16, ef_construction = 32)
    WHERE vector_dims(embedding) = 768 AND indexed;
CREATE INDEX memories_embedding_1024 ON memories
    USING hnsw ((embedding::vector(1024)) vector_cosine_ops) WITH (m = 16, ef_construction = 32)
    WHERE vector_dims(embedding) = 1024 AND indexed;
CREATE INDEX memories_embedding_1536 ON memories
    USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WITH (m = 16, ef_construction = 32)
    WHERE vector_dims(embedding) = 1536 AND indexed;
CREATE INDEX memories_embedding_3072 ON memories
    USING hnsw ((embedding::halfvec(3072)) halfvec_cosine_ops) WITH (m = 16, ef_construction = 32)
    WHERE vector_dims(embedding) = 3072 AND indexed;
