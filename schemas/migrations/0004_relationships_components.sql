-- Relationships and components, projected from relationship.* and component.* events, and the
-- indexes the agent-scoped read model (shared/readmodel/postgres.py) queries by.
CREATE TABLE IF NOT EXISTS relationships (
    id                uuid   PRIMARY KEY,
    agent_id          uuid   NOT NULL,
    source_entity_id  uuid   NOT NULL,
    target_entity_id  uuid   NOT NULL,
    tags              text[] NOT NULL DEFAULT '{}',
    metadata          jsonb  NOT NULL DEFAULT '{}'::jsonb,
    created_at        bigint NOT NULL,
    UNIQUE (agent_id, source_entity_id, target_entity_id)
);
-- the UNIQUE index serves lookups by source; this one those by target
CREATE INDEX IF NOT EXISTS relationships_target ON relationships (agent_id, target_entity_id);

CREATE TABLE IF NOT EXISTS components (
    id                uuid   PRIMARY KEY,
    agent_id          uuid   NOT NULL,
    entity_id         uuid   NOT NULL,
    room_id           uuid,
    world_id          uuid,
    source_entity_id  uuid,
    type              text   NOT NULL,
    data              jsonb  NOT NULL DEFAULT '{}'::jsonb,
    created_at        bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS components_entity ON components (agent_id, entity_id, type);

-- memories of a table across rooms (by entity, by world, vector search), newest first
CREATE INDEX IF NOT EXISTS memories_agent_table_recent
    ON memories (agent_id, table_name, created_at DESC);
CREATE INDEX IF NOT EXISTS worlds_agent ON worlds (agent_id);
CREATE INDEX IF NOT EXISTS participants_room_agent ON participants (agent_id, room_id);
