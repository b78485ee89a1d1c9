-- elizabus_append: the event log's append under its lock, in one statement.
--
-- Positions are gap-free and in commit order because they are assigned under a transaction-level
-- advisory lock held until COMMIT. Before this function the lock was taken first and held across
-- the client's round trips (lock, heads read, INSERT, the projections' statements, COMMIT: 7-8,
-- each also waiting for the writer's event loop). The client now writes the projections that
-- commute with other appends first (shared/eventstore/postgres.py), then calls this function,
-- which takes the lock, reads the heads, checks and inserts; the lock is held for this one
-- statement and the COMMIT.
--
-- Each statement of a VOLATILE PL/pgSQL function takes a fresh snapshot (READ COMMITTED), so the
-- reads after the lock see every append committed before it was granted.
--
-- Input: one element per event (ids, streams, types, data, metadata, expected versions, NULL for
-- none). Output, one row: outcome 'recorded' (positions/versions per input event, NULL for a
-- duplicate, which `duplicates` lists), 'claimed' (an event with an expected version is recorded
-- already: this batch's claim was made by another append; nothing inserted) or 'conflict' (an
-- expected version differs from the stream's: conflict_* say which; nothing inserted).
CREATE OR REPLACE FUNCTION elizabus_append(
    p_lock bigint,
    p_ids uuid[],
    p_streams text[],
    p_types text[],
    p_data jsonb[],
    p_meta jsonb[],
    p_expected integer[]
) RETURNS TABLE (
    outcome text,
    duplicates uuid[],
    positions bigint[],
    versions integer[],
    recorded_at timestamptz,
    conflict_stream text,
    conflict_expected integer,
    conflict_actual integer
)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    n integer := coalesce(array_length(p_ids, 1), 0);
    head bigint;
    existing uuid[];
    seen uuid[] := '{}';
    heads jsonb := '{}';
    current_version integer;
    inserted integer[] := '{}';
BEGIN
    PERFORM pg_advisory_xact_lock(p_lock);
    SELECT coalesce(max(e.position), 0) INTO head FROM events e;
    SELECT coalesce(array_agg(e.event_id), '{}') INTO existing
        FROM events e WHERE e.event_id = ANY (p_ids);
    duplicates := '{}';
    positions := array_fill(NULL::bigint, ARRAY[n]);
    versions := array_fill(NULL::integer, ARRAY[n]);
    recorded_at := now();
    FOR i IN 1 .. n LOOP
        IF p_expected[i] IS NOT NULL AND p_ids[i] = ANY (existing) THEN
            outcome := 'claimed';
            duplicates := p_ids;
            RETURN NEXT;
            RETURN;
        END IF;
    END LOOP;
    FOR i IN 1 .. n LOOP
        IF p_ids[i] = ANY (existing) OR p_ids[i] = ANY (seen) THEN
            duplicates := duplicates || p_ids[i];
            CONTINUE;
        END IF;
        seen := seen || p_ids[i];
        IF heads ? p_streams[i] THEN
            current_version := (heads ->> p_streams[i])::integer;
        ELSE
            -- one probe of the (stream_id, stream_version) index, read backwards
            current_version := coalesce((SELECT e.stream_version FROM events e
                                          WHERE e.stream_id = p_streams[i]
                                          ORDER BY e.stream_version DESC LIMIT 1), 0);
        END IF;
        IF p_expected[i] IS NOT NULL AND p_expected[i] <> current_version THEN
            outcome := 'conflict';
            conflict_stream := p_streams[i];
            conflict_expected := p_expected[i];
            conflict_actual := current_version;
            positions := NULL;
            versions := NULL;
            RETURN NEXT;
            RETURN;
        END IF;
        heads := heads || jsonb_build_object(p_streams[i], current_version + 1);
        head := head + 1;
        positions[i] := head;
        versions[i] := current_version + 1;
        inserted := inserted || i;
    END LOOP;
    INSERT INTO events (position, event_id, stream_id, stream_version, type, data, metadata)
    SELECT positions[k], p_ids[k], p_streams[k], versions[k], p_types[k], p_data[k], p_meta[k]
    FROM unnest(inserted) AS k;
    outcome := 'recorded';
    RETURN NEXT;
END
$$;
