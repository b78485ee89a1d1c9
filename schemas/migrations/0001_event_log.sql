-- The event log: the one source of truth. Append-only; projections are rebuilt from it.
-- `position` is assigned under an advisory lock held to commit, so it is gap-free and in commit
-- order: a reader following `position > last_seen` never skips a late-committing transaction.
CREATE TABLE IF NOT EXISTS events (
    position        bigint      PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       text        NOT NULL,
    stream_version  integer     NOT NULL,
    type            text        NOT NULL,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, stream_version)
);

CREATE INDEX IF NOT EXISTS events_run_id ON events ((metadata ->> 'run_id'))
    WHERE metadata ? 'run_id';
CREATE INDEX IF NOT EXISTS events_type ON events (type);
