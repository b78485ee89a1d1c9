"""The runtime's EventBus on doubles: in-process handlers, isolation of errors, bus fan-out."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import math
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from shared import subjects
from shared.json_safe import json_safe
from shared.messages import EmittedEvent
from shared.plugin import EventHandler, Memory
from shared.runtime.event_bus import EventBus, EventType
from shared.runtime.run_scope import in_run
from shared.testing import InMemoryBus

AGENT = uuid.UUID("00000000-0000-4000-8000-00000000a9e7")


def recorder(calls: list[tuple[str, dict[str, Any]]], label: str) -> EventHandler:
    async def handler(params: dict[str, Any]) -> None:
        calls.append((label, params))

    return handler


def bodies(bus: InMemoryBus) -> list[dict[str, Any]]:
    return [json.loads(m.body) for m in bus.published]


def test_event_type_covers_elizaos_names() -> None:
    assert len(EventType) == 29
    assert EventType.MESSAGE_RECEIVED == "MESSAGE_RECEIVED"
    assert all(member.value == member.name for member in EventType)


async def test_every_handler_of_an_event_runs_with_the_params() -> None:
    events = EventBus(AGENT)
    calls: list[tuple[str, dict[str, Any]]] = []
    events.register_event(EventType.MESSAGE_RECEIVED, recorder(calls, "a"))
    events.register_event("MESSAGE_RECEIVED", recorder(calls, "b"))
    events.register_event(EventType.MESSAGE_SENT, recorder(calls, "other"))
    params = {"text": "hi"}

    await events.emit_event(EventType.MESSAGE_RECEIVED, params)

    assert sorted(label for label, _ in calls) == ["a", "b"]
    assert all(got is params for _, got in calls)
    assert len(events.get_event("MESSAGE_RECEIVED")) == 2


async def test_handlers_of_one_event_run_concurrently() -> None:
    events = EventBus(AGENT)
    first_started = asyncio.Event()
    second_started = asyncio.Event()

    async def first(params: dict[str, Any]) -> None:
        first_started.set()
        await second_started.wait()  # would deadlock if handlers ran one after the other

    async def second(params: dict[str, Any]) -> None:
        second_started.set()
        await first_started.wait()

    events.register_event("E", first)
    events.register_event("E", second)
    await asyncio.wait_for(events.emit_event("E", {}), timeout=5)
    assert first_started.is_set() and second_started.is_set()


async def test_list_form_emits_each_name_in_order() -> None:
    bus = InMemoryBus()
    events = EventBus(AGENT, bus)
    calls: list[tuple[str, dict[str, Any]]] = []
    events.register_event("user_joined", recorder(calls, "joined"))
    events.register_event("activity_logged", recorder(calls, "logged"))

    await events.emit_event(["user_joined", "activity_logged"], {"userId": "u1"})

    assert [label for label, _ in calls] == ["joined", "logged"]
    assert [m.subject for m in bus.published] == ["event.user_joined", "event.activity_logged"]
    assert [b["name"] for b in bodies(bus)] == ["user_joined", "activity_logged"]


async def test_a_failing_handler_is_logged_and_isolated(caplog: pytest.LogCaptureFixture) -> None:
    bus = InMemoryBus()
    events = EventBus(AGENT, bus)
    calls: list[tuple[str, dict[str, Any]]] = []

    async def broken_handler(params: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    events.register_event("E", recorder(calls, "before"))
    events.register_event("E", broken_handler)
    events.register_event("E", recorder(calls, "after"))
    events.register_event("F", recorder(calls, "next event"))

    with caplog.at_level(logging.ERROR):
        await events.emit_event(["E", "F"], {})  # does not raise

    assert sorted(label for label, _ in calls) == ["after", "before", "next event"]
    assert len(bus.published) == 2
    [record] = [r for r in caplog.records if "broken_handler" in r.getMessage()]
    assert "event E" in record.getMessage()
    assert record.exc_info is not None and str(record.exc_info[1]) == "boom"


async def test_a_sync_handler_by_mistake_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = EventBus(AGENT)
    events.register_event("E", lambda params: None)  # type: ignore[arg-type,return-value]
    with caplog.at_level(logging.ERROR):
        await events.emit_event("E", {})
    assert any("<lambda>" in r.getMessage() for r in caplog.records)


async def test_custom_events_and_events_without_handlers_are_published() -> None:
    bus = InMemoryBus()
    events = EventBus(AGENT, bus)
    calls: list[tuple[str, dict[str, Any]]] = []
    events.register_events({"myplugin:thing.done": [recorder(calls, "custom")]})

    await events.emit_event("myplugin:thing.done", {"n": 1})
    await events.emit_event("nobody_listens", {})

    assert [label for label, _ in calls] == ["custom"]
    assert [m.subject for m in bus.published] == [
        "event.myplugin_thing_done",
        "event.nobody_listens",
    ]
    assert bodies(bus)[0]["name"] == "myplugin:thing.done"


async def test_published_body_shape_and_unique_msg_ids() -> None:
    bus = InMemoryBus()
    events = EventBus(AGENT, bus)
    run = uuid.uuid4()

    with in_run(run):
        await events.emit_event(EventType.RUN_STARTED, {"status": "started"})
        await events.emit_event(EventType.RUN_STARTED, {"status": "started"})
    await events.emit_event(EventType.RUN_ENDED, {})

    assert len(bus.published) == 3  # same params twice: two emissions, two messages
    first = bodies(bus)[0]
    assert set(first) == {"id", "name", "agent_id", "run_id", "params", "emitted_at"}
    assert first["name"] == "RUN_STARTED"
    assert first["agent_id"] == str(AGENT)
    assert first["run_id"] == str(run)
    assert first["params"] == {"status": "started"}
    assert isinstance(first["emitted_at"], int) and first["emitted_at"] > 0
    assert bodies(bus)[2]["run_id"] is None
    ids = [m.msg_id for m in bus.published]
    assert len(set(ids)) == 3
    assert ids[0] == first["id"]
    assert EmittedEvent.model_validate(first).agent_id == AGENT


async def test_body_is_taken_before_handlers_mutate_params() -> None:
    bus = InMemoryBus()
    events = EventBus(AGENT, bus)

    async def mutate(params: dict[str, Any]) -> None:
        params["added"] = True

    events.register_event("E", mutate)
    params: dict[str, Any] = {"text": "x"}
    await events.emit_event("E", params)
    assert params == {"text": "x", "added": True}
    assert bodies(bus)[0]["params"] == {"text": "x"}


@dataclass
class Point:
    x: int
    when: datetime.date


class Opaque:
    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


class Arbitrary(BaseModel):
    model_config = {"arbitrary_types_allowed": True}
    thing: Opaque


async def test_params_that_are_not_json_are_made_safe() -> None:
    bus = InMemoryBus()
    events = EventBus(AGENT, bus)
    room = uuid.uuid4()
    memory = Memory(entity_id=uuid.uuid4(), agent_id=AGENT, room_id=room, content={"text": "hi"})
    cyclic: dict[str, Any] = {"name": "loop"}
    cyclic["self"] = cyclic

    async def callback(content: dict[str, Any]) -> list[Memory]:
        return []

    params: dict[Any, Any] = {
        "roomId": room,
        "message": memory,
        "point": Point(1, datetime.date(2024, 5, 1)),
        "callback": callback,
        "runtime": Opaque(),
        "model": Arbitrary(thing=Opaque()),
        "tags": {"b", "a"},
        "pair": (EventType.RUN_ENDED, Decimal("1.5")),
        "ratio": math.nan,
        "blob": b"\x00\x01",
        "cyclic": cyclic,
        uuid.UUID(int=7): "uuid key",
        "fns": [callback, 1],
    }

    await events.emit_event("E", params)

    [published] = bodies(bus)
    got = published["params"]
    assert got["roomId"] == str(room)
    assert got["message"]["room_id"] == str(room)
    assert got["message"]["content"] == {"text": "hi"}
    assert got["point"] == {"x": 1, "when": "2024-05-01"}
    assert "callback" not in got
    assert got["runtime"] == "<Opaque>"
    assert got["model"] == {"thing": "<Opaque>"}
    assert got["tags"] == ["a", "b"]
    assert got["pair"] == ["RUN_ENDED", "1.5"]
    assert got["ratio"] == "nan"
    assert got["blob"] == "<2 bytes>"
    assert got["cyclic"] == {"name": "loop", "self": "<cycle>"}
    assert got[str(uuid.UUID(int=7))] == "uuid key"
    assert got["fns"] == ["<callable>", 1]


def test_json_safe_limits_depth_and_keeps_plain_data() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(100):
        node["d"] = {}
        node = node["d"]
    json.dumps(json_safe(deep))  # no RecursionError, serialisable
    plain = {"a": [1, 2.5, True, None, "s"], "b": {"c": 0}}
    assert json_safe(plain) == plain


async def test_a_failing_publish_is_logged_and_handlers_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class DownBus(InMemoryBus):
        async def publish_durable(
            self, subject: str, body: bytes, msg_id: str, headers: dict[str, str] | None = None
        ) -> None:
            raise ConnectionError("nats down")

    events = EventBus(AGENT, DownBus())
    calls: list[tuple[str, dict[str, Any]]] = []
    events.register_event("E", recorder(calls, "ran"))
    with caplog.at_level(logging.ERROR):
        await events.emit_event("E", {})
    assert [label for label, _ in calls] == ["ran"]
    assert any("event.E" in r.getMessage() for r in caplog.records)


async def test_in_process_only_and_clear() -> None:
    events = EventBus(AGENT)  # no bus
    calls: list[tuple[str, dict[str, Any]]] = []
    events.register_event("E", recorder(calls, "x"))
    assert events.event_names() == ["E"]
    assert events.get_event("missing") == []
    events.get_event("E").clear()  # a copy: the registry is untouched
    await events.emit_event("E", {})
    assert len(calls) == 1

    events.clear()
    await events.emit_event("E", {})
    assert len(calls) == 1
    assert events.get_event("E") == [] and events.event_names() == []


def test_subject_of_an_event() -> None:
    assert subjects.event(EventType.MODEL_USED) == "event.MODEL_USED"
    assert subjects.event("a.b c>*") == "event.a_b_c__"


async def test_raise_errors_runs_every_handler_then_raises_the_first_error() -> None:
    events = EventBus(AGENT)
    calls: list[tuple[str, dict[str, Any]]] = []

    async def broken(params: dict[str, Any]) -> None:
        raise ValueError("handler broke")

    events.register_event("MESSAGE_RECEIVED", broken)
    events.register_event("MESSAGE_RECEIVED", recorder(calls, "after"))
    with pytest.raises(ValueError, match="handler broke"):
        await events.emit_event("MESSAGE_RECEIVED", {}, raise_errors=True)
    assert [label for label, _ in calls] == ["after"]
    await events.emit_event("MESSAGE_RECEIVED", {})  # by default isolated and logged
    assert len(calls) == 2


async def test_inside_a_run_emissions_wait_in_the_outbox_until_the_commit() -> None:
    from shared.runtime.run_scope import RunRecorder, in_recorder

    bus = InMemoryBus()
    events = EventBus(AGENT, bus)
    recorder = RunRecorder(uuid.uuid4(), AGENT, correlation_id=uuid.uuid4())
    outbox = recorder.outbox
    with in_recorder(recorder):
        await events.emit_event(EventType.RUN_STARTED, {"runId": "r"})
    assert bus.published == []
    assert [m.subject for m in outbox.messages] == [subjects.event("RUN_STARTED")]
