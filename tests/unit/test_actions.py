"""find_action matching and ActionDispatcher.process_actions, on doubles (ListSink, Scripted)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.character import Character
from shared.events import ActionExecuted
from shared.model_types import ModelType
from shared.plugin import (
    Action,
    ActionResult,
    Content,
    HandlerCallback,
    Memory,
    Service,
    State,
)
from shared.runtime.actions import ActionDispatcher, find_action
from shared.runtime.run_scope import current_action, in_run
from shared.testing import InProcessModelClient, ListSink, ScriptedModel

AGENT = uuid.uuid4()
ROOM = uuid.uuid4()
WORLD = uuid.uuid4()
USER = uuid.uuid4()


class FakeRuntime:
    """A Runtime double whose use_model collects prompts into the current action, as the
    real runtime does, and answers with ScriptedModel through InProcessModelClient."""

    def __init__(self, model: ScriptedModel | None = None) -> None:
        self.model = InProcessModelClient(model or ScriptedModel(record_calls=True))

    @property
    def agent_id(self) -> uuid.UUID:
        return AGENT

    @property
    def character(self) -> Character:
        return Character(name="Eliza")

    def get_setting(self, key: str) -> Any:
        return None

    def get_service(self, service_type: str) -> Service | None:
        return None

    async def use_model(
        self, model_type: str, params: dict[str, Any], provider: str | None = None
    ) -> Any:
        action = current_action()
        if action is not None:
            action.add_prompt(model_type, str(params.get("prompt", "")))
        return (await self.model.call(ModelType(model_type), params)).result

    async def compose_state(
        self,
        message: Memory,
        include_list: list[str] | None = None,
        only_include: bool = False,
        skip_cache: bool = False,
    ) -> State:
        return State()

    async def emit_event(self, event: str | list[str], params: dict[str, Any]) -> None:
        return None

    async def create_memory(self, memory: Memory, table_name: str = "messages") -> uuid.UUID:
        return memory.id


async def noop(*args: Any) -> ActionResult | None:
    return None


def act(name: str, *similes: str, result: ActionResult | None = None) -> Action:
    async def handler(*args: Any) -> ActionResult | None:
        return result

    return Action(name=name, handler=handler if result else noop, similes=list(similes))


REGISTRY = [
    act("REPLY", "RESPOND"),
    act("SEND_MESSAGE", "DM", "DIRECT_MESSAGE"),
    act("MUTE_ROOM", "SILENCE"),
    act("FOLLOW_ROOM_NOW"),
]


@pytest.mark.parametrize(
    ("wanted", "found"),
    [
        ("REPLY", "REPLY"),  # exact
        ("reply", "REPLY"),  # case
        ("SEND_MESSAGE", "SEND_MESSAGE"),
        ("sendmessage", "SEND_MESSAGE"),  # underscores removed
        ("FOLLOW_ROOM_NOW", "FOLLOW_ROOM_NOW"),  # every underscore, not only the first
        ("FOLLOWROOM_NOW", "FOLLOW_ROOM_NOW"),  # ElizaOS's one-underscore replace misses this
        ("MUTE", "MUTE_ROOM"),  # action name contains the wanted name
        ("MUTE_ROOM_PLEASE", "MUTE_ROOM"),  # wanted name contains the action name
        ("SILENCE", "MUTE_ROOM"),  # simile, exact
        ("direct_message", "SEND_MESSAGE"),  # simile, normalised
        ("SILENCE_NOW", "MUTE_ROOM"),  # simile contained in the wanted name
        ("DANCE", None),  # no match
        ("", None),  # empty matches nothing
    ],
)
def test_find_action_matching_table(wanted: str, found: str | None) -> None:
    action = find_action(REGISTRY, wanted)
    assert (action.name if action else None) == found


def test_find_action_prefers_exact_over_partial_over_similes() -> None:
    # "ROOM" is a partial of ROOM_INFO and an exact simile of LEAVE: partial wins over similes.
    leave = act("LEAVE", "ROOM")
    room_info = act("ROOM_INFO")
    assert find_action([leave, room_info], "room") is room_info
    # an exact name wins over an earlier-registered partial match
    room = act("ROOM")
    assert find_action([room_info, room], "ROOM") is room
    # within a step, registration order breaks ties
    first, second = act("MUTE_ROOM"), act("MUTE_CHANNEL")
    assert find_action([first, second], "MUTE") is first
    assert find_action([second, first], "MUTE") is second


def message(text: str = "hello") -> Memory:
    return Memory(
        entity_id=USER,
        agent_id=AGENT,
        room_id=ROOM,
        world_id=WORLD,
        content={"text": text, "source": "test"},
    )


def response(*actions: str) -> Memory:
    return Memory(entity_id=AGENT, agent_id=AGENT, room_id=ROOM, content={"actions": list(actions)})


class Harness:
    """A dispatcher wired to doubles, keeping what it emitted and stored."""

    def __init__(self, actions: list[Action]) -> None:
        self.runtime = FakeRuntime()
        self.sink = ListSink()
        self.emitted: list[tuple[str, dict[str, Any]]] = []
        self.memories: list[Memory] = []
        self.dispatcher = ActionDispatcher(
            self.runtime, actions, self.sink, self.create_memory, self.emit
        )

    async def emit(self, name: str, params: dict[str, Any]) -> None:
        self.emitted.append((name, params))

    async def create_memory(self, memory: Memory) -> None:
        self.memories.append(memory)

    def executed(self) -> list[ActionExecuted]:
        return [e for e in self.sink.recorded if isinstance(e, ActionExecuted)]


async def test_happy_path_collects_prompts_and_records_the_run() -> None:
    said: list[Content] = []
    answers: list[str] = []

    async def callback(content: Content) -> list[Memory]:
        said.append(content)
        return []

    async def summarise(
        runtime: Any,
        msg: Memory,
        state: State | None,
        options: dict[str, Any],
        cb: HandlerCallback | None,
        responses: list[Memory],
    ) -> ActionResult:
        first = await runtime.use_model("TEXT_SMALL", {"prompt": "summarise: " + msg.text})
        answers.append(str(first))
        second = await runtime.use_model("TEXT_LARGE", {"prompt": "polish: " + str(first)})
        assert cb is not None
        await cb({"text": str(second), "actions": ["SUMMARISE"]})
        return ActionResult(text=str(second), values={"summarised": True})

    h = Harness([Action(name="SUMMARISE", handler=summarise)])
    run_id = uuid.uuid4()
    msg = message("the bus is fast")
    with in_run(run_id):
        results = await h.dispatcher.process_actions(
            msg, [response("summarise")], State(), callback
        )

    assert len(results) == 1 and results[0].success and results[0].values == {"summarised": True}
    assert said and said[0]["actions"] == ["SUMMARISE"]
    [event] = h.executed()
    assert event.status == "completed" and event.error is None
    assert event.action_name == "SUMMARISE" and event.run_id == run_id
    assert event.message_id == msg.id and event.room_id == ROOM and event.agent_id == AGENT
    assert [(p["modelType"], p["prompt"]) for p in event.prompts] == [
        ("TEXT_SMALL", "summarise: the bus is fast"),
        ("TEXT_LARGE", "polish: " + answers[0]),
    ]
    assert [name for name, _ in h.emitted] == ["ACTION_STARTED", "ACTION_COMPLETED"]
    started, completed = (params for _, params in h.emitted)
    assert started["content"]["actionStatus"] == "executing"
    assert completed["content"]["actionStatus"] == "completed"
    assert started["messageId"] == completed["messageId"] == str(event.action_id)
    assert completed["runId"] == str(run_id)
    assert current_action() is None  # the context is left when the handler is done
    [memory] = h.memories  # ElizaOS's action_result memory, by the agent, in the room
    assert memory.id == event.action_id and memory.entity_id == AGENT and memory.room_id == ROOM
    assert memory.content["type"] == "action_result" and memory.content["source"] == "action"
    assert (
        memory.content["actionStatus"] == "completed" and memory.content["text"] == said[0]["text"]
    )
    assert memory.content["actionResult"]["values"] == {"summarised": True}
    assert memory.metadata == {"type": "action_result", "actionName": "SUMMARISE",
                               "actionId": str(event.action_id), "runId": str(run_id)}  # fmt: skip


async def test_void_handler_counts_as_success() -> None:
    # ElizaOS runtime.test.ts "should mark legacy void/undefined returns as completed": no
    # ActionResult (none reported), a completed action and a completed action_result memory
    h = Harness([act("REPLY")])
    assert await h.dispatcher.process_actions(message(), [response("REPLY")]) == []
    assert h.executed()[0].status == "completed"
    [memory] = h.memories
    assert memory.content["actionStatus"] == "completed"
    assert memory.content["text"] == "Executed action: REPLY"
    assert memory.content["actionResult"] == {"legacy": None}


async def test_validate_false_skips_the_action_and_reports_it() -> None:
    ran: list[str] = []

    async def handler(*args: Any) -> None:
        ran.append("ran")

    async def never(runtime: Any, msg: Memory, state: State | None) -> bool:
        return False

    h = Harness([Action(name="GUARDED", handler=handler, validate=never), act("REPLY")])
    results = await h.dispatcher.process_actions(message(), [response("GUARDED", "REPLY")])
    assert ran == []
    assert results[0].success is False and results[0].data["skipped"] is True
    assert "validate returned False" in (results[0].error or "")
    assert len(results) == 1  # REPLY returned nothing (a legacy return)
    # the skip is in the log too, with its reason; only the action that ran emitted events
    executed = [(e.action_name, e.status) for e in h.executed()]
    assert executed == [("GUARDED", "skipped"), ("REPLY", "completed")]
    assert "validate returned False" in (h.executed()[0].error or "")
    assert [name for name, _ in h.emitted] == ["ACTION_STARTED", "ACTION_COMPLETED"]


async def test_unknown_action_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness([act("REPLY", result=ActionResult(text="hi"))])
    results = await h.dispatcher.process_actions(
        message(),
        [
            response("DANCE", "REPLY"),
            response(),
            Memory(entity_id=AGENT, agent_id=AGENT, room_id=ROOM, content={"text": "no actions"}),
        ],
    )
    assert len(results) == 1 and [e.action_name for e in h.executed()] == ["REPLY"]
    assert "DANCE" in caplog.text and "not registered" in caplog.text
    # ElizaOS stores a failed action_result memory for it, attributed to the sender
    missing, replied = h.memories
    assert missing.entity_id == USER and missing.content["actionName"] == "DANCE"
    assert (
        missing.content["actionStatus"] == "failed" and missing.content["type"] == "action_result"
    )
    assert missing.content["thought"] == "No action found for: DANCE"
    assert replied.content["actionName"] == "REPLY"


async def test_failure_records_failed_stores_error_memory_and_goes_on() -> None:
    # ElizaOS runtime.ts processActions: the error becomes a failed action_result memory and the
    # next action runs ("only abort on critical errors")
    async def explode(runtime: Any, msg: Memory, *rest: Any) -> None:
        await runtime.use_model("TEXT_SMALL", {"prompt": "about to fail"})
        raise RuntimeError("the widget is broken")

    later: list[str] = []

    async def after(*args: Any) -> None:
        later.append("ran")

    h = Harness([Action(name="EXPLODE", handler=explode), Action(name="AFTER", handler=after)])
    run_id = uuid.uuid4()
    msg = message()
    with in_run(run_id):
        [failed] = await h.dispatcher.process_actions(msg, [response("EXPLODE", "AFTER")])

    assert later == ["ran"]
    assert failed.success is False and failed.error == "RuntimeError: the widget is broken"
    assert failed.data == {"actionName": "EXPLODE", "error": "the widget is broken"}
    event, after_event = h.executed()
    assert event.status == "failed" and event.error == "RuntimeError: the widget is broken"
    assert [p["prompt"] for p in event.prompts] == ["about to fail"]
    assert after_event.action_name == "AFTER" and after_event.status == "completed"
    memory, _ = h.memories
    assert memory.room_id == msg.room_id and memory.world_id == msg.world_id
    assert memory.entity_id == AGENT and memory.agent_id == AGENT
    assert memory.content["thought"] == "the widget is broken"
    assert memory.content["source"] == "auto" and memory.content["actionName"] == "EXPLODE"
    assert memory.content["actionStatus"] == "failed" and memory.content["type"] == "action_result"
    assert memory.content["runId"] == str(run_id)
    assert memory.metadata is not None and memory.metadata["error"] is True
    completed = [p for name, p in h.emitted if name == "ACTION_COMPLETED"]
    assert [p["content"]["actionStatus"] for p in completed] == ["failed", "completed"]


async def test_a_critical_error_stops_the_actions_and_is_raised() -> None:
    class Critical(RuntimeError):
        critical = True

    class Coded(RuntimeError):
        code = "CRITICAL_ERROR"

    for error in (Critical("disk on fire"), Coded("coded")):

        async def explode(*args: Any, error: Exception = error) -> None:
            raise error

        later: list[str] = []

        async def after(*args: Any, later: list[str] = later) -> None:
            later.append("ran")

        h = Harness([Action(name="EXPLODE", handler=explode), Action(name="AFTER", handler=after)])
        with pytest.raises(RuntimeError, match=str(error)):
            await h.dispatcher.process_actions(message(), [response("EXPLODE", "AFTER")])
        assert later == []
        [memory] = h.memories  # stored before the error is raised
        assert memory.content["actionStatus"] == "failed"


async def test_actions_registered_later_are_found() -> None:
    actions: list[Action] = []
    h = Harness(actions)
    assert await h.dispatcher.process_actions(message(), [response("REPLY")]) == []
    assert h.executed() == []
    actions.append(act("REPLY", result=ActionResult(text="hi")))
    assert len(await h.dispatcher.process_actions(message(), [response("REPLY")])) == 1
    assert [e.action_name for e in h.executed()] == ["REPLY"]


async def test_a_raising_emitter_does_not_fail_the_action() -> None:
    h = Harness([act("REPLY", result=ActionResult(text="hi"))])

    async def broken(name: str, params: dict[str, Any]) -> None:
        raise ConnectionError("bus down")

    h.dispatcher.emit = broken
    [result] = await h.dispatcher.process_actions(message(), [response("REPLY")])
    assert result.success and h.executed()[0].status == "completed"
