"""Test doubles for plugins and services, shipped as public, named implementations (as
pydantic-ai ships `TestModel`): each stands in for one boundary of elizabus in unit tests.

- `make_test_runtime`: an AgentRuntime on the doubles below, for a plugin's tests;
- `ScriptedModel`: the model double (scripted answers, deterministic defaults, recorded `calls`);
- `InProcessModelClient`: the ModelClient double, a ModelHandler run in process, no bus;
- `InMemoryEventStore`, `InMemoryAgentReadModel`, `InMemoryBus`: the EventStore, AgentReadModel
  and Bus doubles (each passes the same contract suite as its real implementation);
- `ListSink`: the EventSink double.
"""

from __future__ import annotations

from shared.bus.memory_bus import InMemoryBus
from shared.eventstore.memory import InMemoryEventStore
from shared.readmodel.memory import InMemoryAgentReadModel
from shared.testing.in_process_model_client import InProcessModelClient
from shared.testing.list_sink import ListSink
from shared.testing.runtime_factory import make_test_runtime
from shared.testing.scripted_model import ModelCall, ScriptedModel

__all__ = [
    "InMemoryAgentReadModel",
    "InMemoryBus",
    "InMemoryEventStore",
    "InProcessModelClient",
    "ListSink",
    "ModelCall",
    "ScriptedModel",
    "make_test_runtime",
]
