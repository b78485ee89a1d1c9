-- Tasks, projected from task.* events. `updated_at` is the last claim time (ElizaOS's
-- metadata.updatedAt), so a repeating task's schedule survives restarts with the log.
CREATE TABLE IF NOT EXISTS tasks (
    id           uuid   PRIMARY KEY,
    agent_id     uuid   NOT NULL,
    name         text   NOT NULL,
    description  text   NOT NULL DEFAULT '',
    room_id      uuid,
    world_id     uuid,
    entity_id    uuid,
    tags         text[] NOT NULL DEFAULT '{}',
    metadata     jsonb  NOT NULL DEFAULT '{}'::jsonb,
    created_at   bigint NOT NULL,
    updated_at   bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_agent_tags ON tasks USING gin (tags);
