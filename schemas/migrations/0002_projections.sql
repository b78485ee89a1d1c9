-- Projections of the event log. Everything here can be dropped and rebuilt from `events`
-- (`elizabus projections rebuild`); nothing here is written except by the projector.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE IF NOT EXISTS entities (
    id        uuid   PRIMARY KEY,
    agent_id  uuid   NOT NULL,
    names     text[] NOT NULL DEFAULT '{}',
    metadata  jsonb  NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE IF NOT EXISTS worlds (
    id         uuid  PRIMARY KEY,
    agent_id   uuid  NOT NULL,
    name       text  NOT NULL,
    server_id  text  NOT NULL,
    metadata   jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE IF NOT EXISTS rooms (
    id          uuid  PRIMARY KEY,
    agent_id    uuid  NOT NULL,
    name        text,
    source      text  NOT NULL,
    type        text  NOT NULL,
    channel_id  text,
    server_id   text,
    world_id    uuid,
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS rooms_world ON rooms (world_id);

CREATE TABLE IF NOT EXISTS participants (
    room_id     uuid NOT NULL,
    entity_id   uuid NOT NULL,
    agent_id    uuid NOT NULL,
    user_state  text,
    PRIMARY KEY (room_id, entity_id)
);
CREATE INDEX IF NOT EXISTS participants_entity ON participants (entity_id);

CREATE TABLE IF NOT EXISTS memories (
    id          uuid    PRIMARY KEY,
    agent_id    uuid    NOT NULL,
    entity_id   uuid    NOT NULL,
    room_id     uuid    NOT NULL,
    world_id    uuid,
    table_name  text    NOT NULL,
    content     jsonb   NOT NULL,
    embedding   vector,
    "unique"    boolean NOT NULL DEFAULT true,
    created_at  bigint  NOT NULL,
    metadata    jsonb   NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS memories_room_recent
    ON memories (agent_id, table_name, room_id, created_at DESC);

CREATE TABLE IF NOT EXISTS logs (
    id          uuid   PRIMARY KEY,
    agent_id    uuid   NOT NULL,
    entity_id   uuid   NOT NULL,
    room_id     uuid,
    run_id      uuid,
    type        text   NOT NULL,
    body        jsonb  NOT NULL,
    created_at  bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_run ON logs (run_id);

CREATE TABLE IF NOT EXISTS runs (
    run_id       uuid PRIMARY KEY,
    agent_id     uuid NOT NULL,
    message_id   uuid,
    room_id      uuid,
    entity_id    uuid,
    source       text,
    status       text NOT NULL,
    started_at   bigint,
    ended_at     bigint,
    duration_ms  double precision,
    error        text
);
