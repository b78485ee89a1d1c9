"""Plugin loading and ordering, services, the semaphore and get_setting."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import pytest

from shared.character import Character
from shared.errors import ConfigurationError
from shared.plugin import Plugin, Service
from shared.runtime.plugin_loader import load_plugin, order_plugins, resolve_plugins
from shared.runtime.semaphore import Semaphore
from shared.runtime.service_registry import ServiceRegistry
from shared.runtime.settings_lookup import get_setting, secret_values

EXAMPLE = Plugin(name="example-for-loader-test")


def make_example() -> Plugin:
    return Plugin(name="made-by-factory")


def not_a_plugin() -> str:
    return "nothing"


def test_load_plugin_by_dotted_path_and_factory() -> None:
    assert load_plugin("tests.unit.test_runtime_parts:EXAMPLE") is EXAMPLE
    assert load_plugin("tests.unit.test_runtime_parts.EXAMPLE") is EXAMPLE
    assert load_plugin("tests.unit.test_runtime_parts:make_example").name == "made-by-factory"


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("nonexistent_pkg_xyz:plugin", "cannot import"),
        ("tests.unit.test_runtime_parts:MISSING", "has no"),
        ("tests.unit.test_runtime_parts:pytest", "neither a Plugin nor a factory defined in"),
        ("tests.unit.test_runtime_parts:not_a_plugin", "not a Plugin"),
        ("justaname", "neither an installed entry point"),
    ],
)
def test_load_plugin_errors_say_what_is_wrong(spec: str, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        load_plugin(spec)


def test_a_character_names_plugins_by_entry_point_unless_paths_are_allowed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shared.runtime.plugin_loader")
    monkeypatch.delenv("ELIZABUS_ALLOW_PLUGIN_PATHS", raising=False)
    [dice] = resolve_plugins(["dice"])
    assert dice.name == "dice" and "plugins.dice:dice_plugin" in caplog.text  # module logged
    with pytest.raises(ConfigurationError, match="ELIZABUS_ALLOW_PLUGIN_PATHS=true"):
        resolve_plugins(["tests.unit.test_runtime_parts:EXAMPLE"])
    monkeypatch.setenv("ELIZABUS_ALLOW_PLUGIN_PATHS", "true")
    assert resolve_plugins(["tests.unit.test_runtime_parts:EXAMPLE"]) == [EXAMPLE]
    assert "from module tests.unit.test_runtime_parts" in caplog.text
    with pytest.raises(ConfigurationError, match="not an installed entry point"):
        resolve_plugins(["tests.unit.test_runtime_parts:EXAMPLE"], allow_paths=False)


def test_a_callable_from_another_module_is_never_called_even_with_paths_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    called: list[str] = []
    monkeypatch.setattr(os, "abort", lambda: called.append("abort"))
    monkeypatch.setattr(os, "getcwd", lambda: called.append("getcwd"))
    for spec in ("os:abort", "os.getcwd"):
        with pytest.raises(ConfigurationError, match="neither a Plugin nor a factory"):
            resolve_plugins([spec], allow_paths=True)
    assert called == []


def test_order_respects_dependencies_then_priority_then_given_order() -> None:
    a = Plugin(name="a", dependencies=["c"])
    b = Plugin(name="b", priority=5)
    c = Plugin(name="c")
    d = Plugin(name="d", priority=5, dependencies=["a"])
    assert [p.name for p in order_plugins([a, b, c, d])] == ["b", "c", "a", "d"]


def test_order_errors_on_missing_dependency_and_cycle() -> None:
    with pytest.raises(ConfigurationError, match="depends on ghost"):
        order_plugins([Plugin(name="x", dependencies=["ghost"])])
    with pytest.raises(ConfigurationError, match="cycle"):
        order_plugins([Plugin(name="x", dependencies=["y"]), Plugin(name="y", dependencies=["x"])])


class Recorder(Service):
    service_type = "recorder"
    stopped: list[str] = []

    async def stop(self) -> None:
        Recorder.stopped.append(self.service_type)


class Broken(Service):
    service_type = "broken"

    async def stop(self) -> None:
        raise RuntimeError("cannot stop")


async def test_services_queue_start_find_and_stop() -> None:
    registry = ServiceRegistry()
    registry.queue(Recorder)
    registry.queue(Broken)
    assert not registry.has("recorder")
    await registry.start_queued(None)  # type: ignore[arg-type]
    assert registry.types() == ["recorder", "broken"]
    assert isinstance(registry.get("recorder"), Recorder) and registry.get("nope") is None
    await registry.register(Recorder, None)  # type: ignore[arg-type]  # duplicate: skipped
    assert len(registry.all()) == 2
    Recorder.stopped.clear()
    await registry.stop_all()  # Broken's error is logged, Recorder still stops
    assert Recorder.stopped == ["recorder"] and registry.types() == []


async def test_semaphore_bounds_concurrency() -> None:
    sem = Semaphore(2)
    running = 0
    peak = 0

    async def work() -> None:
        nonlocal running, peak
        async with sem:
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            running -= 1

    await asyncio.gather(*(work() for _ in range(6)))
    assert peak == 2 and sem.available == 2


def test_get_setting_order_and_booleans(monkeypatch: pytest.MonkeyPatch) -> None:
    data: dict[str, Any] = {
        "name": "A",
        "settings": {"MODE": "fast", "FLAG": "true", "secrets": {"NESTED": "n"}},
        "secrets": {"API_KEY": "sk-123", "MODE": "secret-mode"},
    }
    c = Character.model_validate(data)
    monkeypatch.setenv("ONLY_ENV", "from-env")
    assert get_setting(c, "MODE") == "secret-mode"  # ElizaOS asks secrets before settings
    assert get_setting(c, "API_KEY") == "sk-123"
    assert get_setting(c, "NESTED") == "n"
    assert get_setting(c, "FLAG") is True
    assert get_setting(c, "ONLY_ENV") == "from-env"
    assert get_setting(c, "NOTHING_HERE") is None
    assert set(secret_values(c, environment={})) == {"sk-123", "secret-mode", "n"}


def test_a_fact_gets_one_id_and_one_stream_whichever_path_records_it() -> None:
    import uuid

    from shared.events import ParticipantAdded, RoomCreated
    from shared.ids import derived_id
    from shared.runtime.connections import entity_created_event, fact_event

    room, member, agent = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    joined = fact_event(ParticipantAdded(room_id=room, entity_id=member, agent_id=agent), room,
                        f"participant:{member}", agent)  # fmt: skip
    assert joined.stream_id == f"room-{room}"  # a participant is part of its room's stream
    assert joined.event_id == derived_id(room, f"participant:{member}")
    created = fact_event(RoomCreated(id=room, agent_id=agent, source="s", type="DM"), room)
    assert created.stream_id == f"room-{room}" and created.event_id == derived_id(
        room, "room.created"
    )
    entity = entity_created_event(member, agent, ["A"], {})
    assert entity.stream_id == f"entity-{member}"
    assert entity.event_id == derived_id(member, "entity.created")
