"""`make_test_runtime`: an AgentRuntime wired with the doubles, for a plugin's unit tests."""

from __future__ import annotations

from collections.abc import Sequence

from shared.bus import Bus
from shared.character import Character
from shared.eventstore.memory import InMemoryEventStore
from shared.plugin import Plugin
from shared.readmodel.memory import InMemoryAgentReadModel
from shared.runtime.agent_runtime import AgentRuntime
from shared.testing.scripted_model import ScriptedModel


def make_test_runtime(
    character: Character | None = None,
    *,
    model: ScriptedModel | None = None,
    plugins: Sequence[Plugin | str] = (),
    store: InMemoryEventStore | None = None,
    bus: Bus | None = None,
    read_model: bool = True,
) -> AgentRuntime:
    """An AgentRuntime on the doubles: no NATS, no Postgres, nothing to start.

    - `character`: the agent (default: one named "Ada" with default settings);
    - `model`: the model double, serving every model type in process from now on (default: a
      fresh `ScriptedModel()`); keep a reference to script answers and read `.calls`;
    - `plugins`: registered by `await runtime.initialize()` (which also records the agent's own
      entity, world and room), as a real agent's are; until then the runtime holds only the
      model, and parts can be added with `register_action`, `register_provider`, ...;
    - `store`: the in-memory event log (default: a fresh one); pass one store to several
      runtimes for agents sharing a log, and read what was recorded from `store.events`;
    - `bus`: where emitted runtime events are published (an `InMemoryBus` to read them back;
      default: none);
    - `read_model`: reads answered by `InMemoryAgentReadModel` folding the store (default);
      False builds a runtime without reads (they raise ConfigurationError).
    """
    character = character or Character(name="Ada")
    store = store if store is not None else InMemoryEventStore()
    db = InMemoryAgentReadModel(store, character.agent_id) if read_model else None
    runtime = AgentRuntime(character, store, bus=bus, db=db, plugins=plugins)
    (model if model is not None else ScriptedModel()).register(runtime)
    return runtime
