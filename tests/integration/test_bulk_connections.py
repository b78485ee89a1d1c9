"""ensure_connections with 10,000 entities on a real Postgres: everything once, nothing twice."""

from __future__ import annotations

import uuid

import pytest

from shared.eventstore.postgres import PostgresEventStore, create_pool
from shared.ids import create_unique_uuid
from shared.projections import PostgresProjector, rebuild_projections
from shared.records import EntitySpec, RoomSpec, WorldSpec
from shared.runtime.bulk_connections import ensure_connections
from tests.integration.support import dump_projections, fresh_database

pytestmark = pytest.mark.integration


async def test_bulk_connections_of_ten_thousand_entities(database_url: str) -> None:
    pool = await create_pool(await fresh_database(database_url))
    try:
        store = PostgresEventStore(pool, PostgresProjector())
        agent = uuid.uuid4()
        entities = [
            EntitySpec(id=create_unique_uuid(agent, f"user-{i}"), names=[f"User {i}"],
                       metadata={"discord": {"id": f"user-{i}"}})
            for i in range(10_000)
        ]  # fmt: skip
        rooms = [RoomSpec(id=create_unique_uuid(agent, f"chan-{i}"), name=f"chan-{i}")
                 for i in range(3)]  # fmt: skip
        world = WorldSpec(id=create_unique_uuid(agent, "guild"), name="Guild", server_id="guild")

        recorded = await ensure_connections(pool, store, agent, entities, rooms, "discord", world)
        # world + 3 rooms + 10,000 entities + agent and 10,000 entities in the first room
        assert recorded == 1 + 3 + 10_000 + 10_001
        assert await pool.fetchval("SELECT count(*) FROM entities") == 10_000
        assert await pool.fetchval("SELECT count(*) FROM rooms WHERE world_id = $1", world.id) == 3
        assert (
            await pool.fetchval("SELECT count(*) FROM participants WHERE room_id = $1", rooms[0].id)
            == 10_001
        )
        assert await pool.fetchval("SELECT count(*) FROM participants") == 10_001
        names = await pool.fetchval("SELECT names FROM entities WHERE id = $1", entities[42].id)
        assert names == ["User 42"]

        # again, with 5 new entities: only the new facts are recorded
        more = [EntitySpec(id=uuid.uuid4(), names=[f"New {i}"]) for i in range(5)]
        again = await ensure_connections(pool, store, agent, entities + more, rooms, "discord",
                                         world)  # fmt: skip
        assert again == 5 + 5
        assert await pool.fetchval("SELECT count(*) FROM entities") == 10_005

        live = await dump_projections(pool)
        assert await rebuild_projections(pool) == await pool.fetchval("SELECT count(*) FROM events")
        assert await dump_projections(pool) == live  # every row of every table, identical
    finally:
        await pool.close()
