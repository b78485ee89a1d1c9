"""AgentRuntime's database surface without a read model. Each write read back, vector search and
BM25 re-ranking, agent isolation and writes inside a run are the AgentReadModel contract
(tests/contracts/agent_read_model_contract.py), run on the in-memory double and on Postgres."""

from __future__ import annotations

import uuid

import pytest

from shared.character import Character
from shared.errors import ConfigurationError
from shared.runtime.agent_runtime import AgentRuntime
from shared.testing import InMemoryEventStore


async def test_reads_without_a_read_model_say_how_to_get_one() -> None:
    rt = AgentRuntime(Character(name="Ada"), InMemoryEventStore())
    with pytest.raises(ConfigurationError, match="db=<AgentReadModel>"):
        await rt.get_room(uuid.uuid4())
