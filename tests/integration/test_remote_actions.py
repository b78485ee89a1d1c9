"""Remote actions on a REAL nats-server: served from one connection, called through another."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient

from shared import subjects
from shared.bus.request import request as bus_request
from shared.errors import ElizabusError
from shared.events import ActionExecuted
from shared.messages import RemoteActionReply
from shared.plugin import Action, ActionResult, Content, HandlerCallback, Memory, State
from shared.runtime.actions import ActionDispatcher
from shared.runtime.remote_actions import (
    remote_action,
    serve_actions,
)
from shared.runtime.run_scope import current_run_id, in_run
from shared.testing import ListSink
from tests.unit.test_actions import FakeRuntime, message, noop

pytestmark = pytest.mark.integration


@pytest.fixture
async def caller(nats_url: str) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_url, name="test-caller")
    yield client
    await client.close()


@pytest.fixture
async def server_nc(nats_url: str) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_url, name="test-action-server")
    yield client
    await client.close()


def unique(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


class Said:
    """A HandlerCallback double that keeps what it was given."""

    def __init__(self) -> None:
        self.contents: list[Content] = []

    async def __call__(self, content: Content) -> list[Memory]:
        self.contents.append(content)
        return []


async def test_remote_action_runs_in_the_serving_process_and_reports_back(
    caller: NatsClient, server_nc: NatsClient
) -> None:
    name = unique("GET.WEATHER now")  # dots and spaces are made subject-safe
    seen: dict[str, Any] = {}

    async def weather(
        runtime: Any,
        msg: Memory,
        state: State | None,
        options: dict[str, Any],
        callback: HandlerCallback | None,
        responses: list[Memory],
    ) -> ActionResult:
        seen.update(run_id=current_run_id(), text=msg.text, state=state, responses=responses)
        await runtime.use_model("TEXT_SMALL", {"prompt": "weather in " + msg.text})
        assert callback is not None
        await callback({"text": "Looking it up...", "actions": [name]})
        await callback({"text": "Sunny, 21C", "actions": [name]})
        return ActionResult(text="Sunny, 21C", values={"temperature": 21}, data={"city": "Oslo"})

    served = Action(name=name, handler=weather)
    async with await serve_actions(server_nc, [served], FakeRuntime()):
        sink, said = ListSink(), Said()
        memories: list[Memory] = []

        async def store(memory: Memory) -> None:
            memories.append(memory)

        local = remote_action(caller, name, description="weather", similes=["FORECAST"])
        assert local.similes == ["FORECAST"] and local.description == "weather"
        dispatcher = ActionDispatcher(FakeRuntime(), [local], sink, store)
        run_id = uuid.uuid4()
        response = Memory(
            entity_id=uuid.uuid4(),
            agent_id=uuid.uuid4(),
            room_id=uuid.uuid4(),
            content={"actions": ["forecast"]},
        )
        with in_run(run_id):
            [result] = await dispatcher.process_actions(
                message("Oslo"), [response], State(values={"k": "v"}, text="ctx"), said
            )

    assert result.success and result.text == "Sunny, 21C"
    assert result.values == {"temperature": 21} and result.data == {"city": "Oslo"}
    assert [c["text"] for c in said.contents] == ["Looking it up...", "Sunny, 21C"]
    assert seen["run_id"] == run_id and seen["text"] == "Oslo"
    assert seen["state"].values == {"k": "v"} and seen["state"].text == "ctx"
    assert [r.content for r in seen["responses"]] == [{"actions": ["forecast"]}]
    [event] = [e for e in sink.recorded if isinstance(e, ActionExecuted)]
    assert event.status == "completed" and event.run_id == run_id
    # the prompt made in the serving process is listed in the local action.executed event
    assert [p["prompt"] for p in event.prompts] == ["weather in Oslo"]
    [memory] = memories  # ElizaOS's action_result memory, with the remote result
    assert memory.content["type"] == "action_result" and memory.content["text"] == "Sunny, 21C"
    assert memory.content["actionResult"]["values"] == {"temperature": 21}


async def test_a_failing_remote_action_is_reported_and_leaves_an_error_memory(
    caller: NatsClient, server_nc: NatsClient
) -> None:
    name = unique("BOOK_FLIGHT")

    async def book(
        runtime: Any, msg: Memory, state: Any, options: Any, callback: Any, responses: Any
    ) -> None:
        await callback({"text": "Booking..."})
        raise RuntimeError("the airline API refused the card")

    async with await serve_actions(server_nc, [Action(name=name, handler=book)], FakeRuntime()):
        memories: list[Memory] = []

        async def store(memory: Memory) -> None:
            memories.append(memory)

        sink, said = ListSink(), Said()
        dispatcher = ActionDispatcher(FakeRuntime(), [remote_action(caller, name)], sink, store)
        response = Memory(
            entity_id=uuid.uuid4(),
            agent_id=uuid.uuid4(),
            room_id=uuid.uuid4(),
            content={"actions": [name]},
        )
        [failed] = await dispatcher.process_actions(message(), [response], None, said)

    assert failed.success is False and "the airline API refused the card" in (failed.error or "")
    assert [c["text"] for c in said.contents] == ["Booking..."]
    [event] = [e for e in sink.recorded if isinstance(e, ActionExecuted)]
    assert event.status == "failed" and "airline API refused" in (event.error or "")
    [memory] = memories
    assert "airline API refused" in memory.content["thought"]
    assert memory.content["actionName"] == name and memory.content["actionStatus"] == "failed"


async def test_remote_validate_false_comes_back_skipped(
    caller: NatsClient, server_nc: NatsClient
) -> None:
    name = unique("ADMIN_ONLY")
    ran: list[bool] = []

    async def handler(*args: Any) -> None:
        ran.append(True)

    async def never(runtime: Any, msg: Memory, state: State | None) -> bool:
        return False

    served = Action(name=name, handler=handler, validate=never)
    async with await serve_actions(server_nc, [served], FakeRuntime()):
        local = remote_action(caller, name)
        result = await local.handler(FakeRuntime(), message(), None, {}, None, [])
    assert ran == []
    assert result is not None and result.success is False and result.data["skipped"] is True


async def test_no_responders_raises_a_clear_error(caller: NatsClient) -> None:
    name = unique("NOBODY_SERVES_THIS")
    local = remote_action(caller, name, timeout=5.0)
    with pytest.raises(ElizabusError, match="no process serves action") as info:
        await local.handler(FakeRuntime(), message(), None, {}, None, [])
    assert subjects.action(name) in str(info.value) and "serve_actions" in str(info.value)


async def test_an_invalid_request_gets_a_failed_reply(
    caller: NatsClient, server_nc: NatsClient
) -> None:
    name = unique("STRICT")
    async with await serve_actions(server_nc, [Action(name=name, handler=noop)], FakeRuntime()):
        reply = await bus_request(caller, subjects.action(name), b'{"not": "a request"}', 5)
    body = RemoteActionReply.model_validate_json(reply.data)
    assert body.outcome == "failed" and "invalid RemoteActionRequest" in (body.error or "")
