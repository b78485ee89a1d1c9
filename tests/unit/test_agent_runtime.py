"""AgentRuntime on doubles: lifecycle, plugin registration, the dice example plugin end to end."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import pytest

from plugins.dice import dice_plugin
from plugins.dice.plugin import DiceStats
from shared.character import Character
from shared.errors import ConfigurationError, PluginConfigurationError
from shared.messages import ModelRequest
from shared.model_types import ModelType
from shared.plugin import Content, Memory, Plugin, Runtime
from shared.runtime.agent_runtime import AgentRuntime
from shared.runtime.run_scope import RunRecorder, in_recorder
from shared.testing import InMemoryEventStore, ScriptedModel

SCRIPTED = ScriptedModel()


async def embed(runtime: Runtime, params: dict[str, Any]) -> Any:
    return await SCRIPTED.handle(ModelRequest(model_type=ModelType.TEXT_EMBEDDING, params=params))


async def generate(runtime: Runtime, params: dict[str, Any]) -> Any:
    return await SCRIPTED.handle(ModelRequest(model_type=ModelType.TEXT_LARGE, params=params))


MODELS = Plugin(name="scripted-models", models={"TEXT_EMBEDDING": embed, "TEXT_LARGE": generate})


def make(settings: dict[str, Any] | None = None, plugins: list[Plugin] | None = None,
         ) -> tuple[AgentRuntime, InMemoryEventStore]:  # fmt: skip
    store = InMemoryEventStore()
    character = Character(name="Dicey", settings=settings or {})
    return AgentRuntime(character, store, plugins=plugins or [MODELS, dice_plugin()]), store


def said(runtime: AgentRuntime, text: str) -> Memory:
    return Memory(entity_id=uuid.uuid4(), agent_id=runtime.agent_id, room_id=uuid.uuid4(),
                  content={"text": text, "source": "test"})  # fmt: skip


async def test_initialize_in_order_and_only_once() -> None:
    runtime, store = make()
    await runtime.initialize()
    assert [p.name for p in runtime.plugins] == ["scripted-models", "dice"]
    assert runtime.embedding_dimension == 384
    assert isinstance(runtime.get_service("dice_stats"), DiceStats)
    assert runtime.get_registered_service_types() == ["dice_stats"]
    types = [e.type for e in store.events]
    assert types[:4] == ["entity.created", "world.created", "room.created", "participant.added"]
    count = len(store.events)
    await runtime.initialize()  # warns, does nothing
    assert len(store.events) == count
    await runtime.stop()
    assert runtime.get_registered_service_types() == []


async def test_dice_action_found_by_simile_runs_and_is_recorded() -> None:
    runtime, store = make()
    await runtime.initialize()
    message = said(runtime, "please roll 3d6")
    sent: list[Content] = []

    async def callback(content: Content) -> list[Memory]:
        sent.append(content)
        return []

    response = Memory(entity_id=runtime.agent_id, agent_id=runtime.agent_id,
                      room_id=message.room_id, content={"actions": ["throw_dice"]})  # fmt: skip
    [result] = await runtime.process_actions(message, [response], None, callback)
    assert result.success and sent[0]["text"].startswith("You rolled")
    assert 3 <= result.values["lastRoll"] <= 18
    stats = runtime.get_service("dice_stats")
    assert isinstance(stats, DiceStats) and stats.rolls == 1 and stats.completed_actions == 1
    executed = [e.data for e in store.events if e.type == "action.executed"]
    assert executed[-1]["action_name"] == "ROLL_DICE" and executed[-1]["status"] == "completed"
    # the same message rolls the same dice (seeded by its id): replays agree
    [again] = await runtime.process_actions(message, [response], None, callback)
    assert again.data["faces"] == result.data["faces"]


async def test_dice_provider_and_evaluator() -> None:
    runtime, store = make(settings={"DICE_MAX_SIDES": "20"})
    await runtime.initialize()
    message = said(runtime, "roll 1d20")
    state = await runtime.compose_state(message)
    assert "up to 20 sides" in state.text and state.values["diceMaxSides"] == 20
    ran = await runtime.evaluate(message, state, did_respond=True)
    assert [e.name for e in ran] == ["DICE_STATS"]
    assert any(e.type == "evaluator.executed" for e in store.events)


async def test_configuration_error_in_init_skips_the_plugin_other_errors_stop_startup() -> None:
    runtime, _ = make(settings={"DICE_MAX_SIDES": "one"})
    await runtime.initialize()
    assert [p.name for p in runtime.plugins] == ["scripted-models"]
    assert runtime.get_service("dice_stats") is None

    async def broken(config: Mapping[str, Any], runtime: Runtime) -> None:
        raise RuntimeError("bug in the plugin")

    runtime, _ = make(plugins=[Plugin(name="broken", init=broken)])
    with pytest.raises(RuntimeError, match="bug in the plugin"):
        await runtime.initialize()


async def test_a_plugin_lacking_its_key_is_skipped_with_its_own_error_class() -> None:
    async def needs_key(config: Mapping[str, Any], runtime: Runtime) -> None:
        raise PluginConfigurationError("WEATHER_API_KEY is not set: add it to the secrets")

    runtime, _ = make(plugins=[Plugin(name="weather", init=needs_key)])
    await runtime.initialize()
    assert "weather" not in [p.name for p in runtime.plugins]
    assert issubclass(PluginConfigurationError, ConfigurationError)


async def test_duplicate_plugin_is_skipped_and_dependencies_order_registration() -> None:
    order: list[str] = []

    def tracked(name: str, deps: list[str]) -> Plugin:
        async def init(config: Mapping[str, Any], runtime: Runtime) -> None:
            order.append(name)

        return Plugin(name=name, init=init, dependencies=deps)

    runtime, _ = make(plugins=[tracked("b", ["a"]), tracked("a", []), tracked("a", [])])
    await runtime.initialize()
    assert order == ["a", "b"]
    with pytest.raises(ConfigurationError, match="no name"):
        await runtime.register_plugin(Plugin(name=""))


async def test_writes_in_a_run_wait_for_its_append_and_outside_are_appended_at_once() -> None:
    runtime, store = make()
    await runtime.initialize()
    before = len(store.events)
    recorder = RunRecorder(uuid.uuid4(), runtime.agent_id, correlation_id=uuid.uuid4())
    with in_recorder(recorder):
        await runtime.create_memory(said(runtime, "inside a run"))
        assert runtime.get_current_run_id() == recorder.run_id
    assert len(store.events) == before  # buffered: the run appends it atomically later
    assert [e.type for e in recorder.events] == ["model.used", "memory.created"]
    await runtime.create_memory(said(runtime, "outside"))
    assert [e.type for e in store.events[before:]] == ["model.used", "memory.created"]
