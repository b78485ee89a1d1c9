"""The AgentReadModel contract on the in-memory double and on Postgres (PostgresProjector writing
the projections, PostgresAgentReadModel reading them)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from shared.eventstore.postgres import PostgresEventStore, create_pool
from shared.projections import PostgresProjector
from shared.readmodel.postgres import PostgresAgentReadModel
from shared.testing import InMemoryAgentReadModel, InMemoryEventStore
from tests.contracts.agent_read_model_contract import AgentReadModelContract, ReadModelBackend
from tests.integration.support import fresh_database


class TestInMemoryAgentReadModel(AgentReadModelContract):
    @pytest.fixture
    def backend(self) -> ReadModelBackend:
        store = InMemoryEventStore()
        return ReadModelBackend(store, lambda agent_id: InMemoryAgentReadModel(store, agent_id))


@pytest.mark.integration
class TestPostgresAgentReadModel(AgentReadModelContract):
    @pytest_asyncio.fixture
    async def backend(self, database_url: str) -> AsyncIterator[ReadModelBackend]:
        pool = await create_pool(await fresh_database(database_url))
        try:
            store = PostgresEventStore(pool, PostgresProjector())
            yield ReadModelBackend(store, lambda agent_id: PostgresAgentReadModel(pool, agent_id))
        finally:
            await pool.close()
