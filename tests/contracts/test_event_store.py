"""The EventStore contract on the in-memory double and on the Postgres recorder."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from shared.eventstore import EventStore
from shared.eventstore.postgres import PostgresEventStore, create_pool
from shared.projections import PostgresProjector
from shared.testing import InMemoryEventStore
from tests.contracts.event_store_contract import EventStoreContract
from tests.integration.support import fresh_database


class TestInMemoryEventStore(EventStoreContract):
    @pytest.fixture
    def store(self) -> EventStore:
        return InMemoryEventStore()


@pytest.mark.integration
class TestPostgresEventStore(EventStoreContract):
    @pytest_asyncio.fixture
    async def store(self, database_url: str) -> AsyncIterator[EventStore]:
        pool = await create_pool(await fresh_database(database_url))
        try:
            yield PostgresEventStore(pool, PostgresProjector())
        finally:
            await pool.close()
