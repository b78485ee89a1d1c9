"""Which projection statements an append writes before the log's lock (`commutes`), and the
order of the steps: every UPDATE and DELETE waits for the lock, and so does any INSERT that reads
another table; the plain inserts and own-row upserts of a message's run do not."""

from __future__ import annotations

from shared.projections.postgres import ROUTES, commutes


def test_updates_deletes_and_inserts_reading_other_tables_wait_for_the_lock() -> None:
    assert not commutes("UPDATE components SET data = $3 WHERE id = $1")
    assert not commutes("  DELETE FROM memories WHERE room_id = $1")
    assert not commutes("INSERT INTO a (id, x) SELECT $1, x FROM rooms WHERE id = $2")
    assert commutes("INSERT INTO logs (id) VALUES ($1) ON CONFLICT (id) DO NOTHING")
    assert commutes(
        "INSERT INTO entities (id, names) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET "
        "names = ARRAY(SELECT n FROM unnest(entities.names || excluded.names) AS t(n))"
    )


def test_every_projection_statement_is_classified_by_its_kind() -> None:
    statements = {sql for routes in ROUTES.values() for _, sql, _ in routes}
    for sql in statements:
        kind = sql.split()[0].upper()
        if kind in ("UPDATE", "DELETE"):
            assert not commutes(sql), sql
    early = {sql.split()[2] for sql in statements if commutes(sql)}
    # what a message's run writes: all of it before the lock
    assert {"entities", "memories", "logs", "runs", "participants"} <= early
