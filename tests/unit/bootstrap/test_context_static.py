"""Bootstrap providers that need no database, through AgentRuntime.compose_state."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from plugins.bootstrap.providers import (
    ACTION_STATE,
    ACTIONS,
    ANXIETY,
    BOOTSTRAP_PROVIDERS,
    CAPABILITIES,
    CHARACTER,
    CHOICE,
    EVALUATORS,
    PROVIDERS,
    TIME,
)
from plugins.bootstrap.providers.anxiety import DM_GUIDANCE, GROUP_GUIDANCE
from shared.character import Character
from shared.plugin import (
    Action,
    ActionResult,
    Evaluator,
    Memory,
    Provider,
    ProviderResult,
    Runtime,
    Service,
    State,
)
from tests.unit.bootstrap.support import make_runtime, message


async def _noop(*args: Any) -> None:
    return None


async def _never(runtime: Runtime, message: Memory, state: State | None) -> bool:
    return False


async def _raises(runtime: Runtime, message: Memory, state: State | None) -> bool:
    raise RuntimeError("broken validate")


def test_every_provider_is_listed_once_with_elizaos_flags() -> None:
    names = [p.name for p in BOOTSTRAP_PROVIDERS]
    assert len(names) == len(set(names)) == 17
    by_name = {p.name: p for p in BOOTSTRAP_PROVIDERS}
    assert {n for n, p in by_name.items() if p.private} == {"EVALUATORS", "CHOICE"}
    assert {n for n, p in by_name.items() if p.dynamic} == {
        "ENTITIES",
        "FACTS",
        "RELATIONSHIPS",
        "WORLD",
        "ROLES",
        "ATTACHMENTS",
    }
    assert (by_name["ACTIONS"].position, by_name["RECENT_MESSAGES"].position) == (-1, 100)
    assert by_name["ACTION_STATE"].position == 150
    assert all(p.description for p in BOOTSTRAP_PROVIDERS)


async def test_character_describes_the_agent() -> None:
    character = Character(
        name="Ada",
        bio=["Writes programs.", "Likes engines."],
        system="Be precise.",
        topics=["mathematics"],
        adjectives=["curious"],
        style={"all": ["short sentences"], "chat": ["no emoji"], "post": ["one idea"]},
        messageExamples=[
            [
                {"name": "{{user1}}", "content": {"text": "hello"}},
                {"name": "Ada", "content": {"text": "Good day."}},
            ]
        ],
    )
    runtime = make_runtime(character=character, providers=[CHARACTER])
    state = await runtime.compose_state(message(runtime, "hi"))
    assert "# About Ada\nWrites programs.\nLikes engines." in state.text
    assert "Be precise." in state.text and "Ada is interested in mathematics." in state.text
    assert "- short sentences\n- no emoji" in state.text
    assert "User: hello\nAda: Good day." in state.text
    assert state.values["agentName"] == "Ada" and state.values["system"] == "Be precise."
    assert state.values["postDirections"] == "- short sentences\n- one idea"


async def test_time_is_now_in_utc() -> None:
    runtime = make_runtime(providers=[TIME])
    state = await runtime.compose_state(message(runtime, "what day is it"))
    now = datetime.now(UTC)
    assert str(now.year) in state.values["time"] and "UTC" in state.values["time"]
    stamp = state.data["providers"]["TIME"]["data"]["timestamp"]
    assert abs(stamp - now.timestamp() * 1000) < 5000


async def test_actions_lists_only_the_actions_that_validate() -> None:
    actions = [
        Action(
            name="REPLY",
            handler=_noop,
            description="Answer.",
            examples=[[{"name": "{{user1}}", "content": {"text": "hi", "actions": ["REPLY"]}}]],
        ),
        Action(name="SECRET", handler=_noop, description="Hidden.", validate=_never),
        Action(name="BROKEN", handler=_noop, description="Raises.", validate=_raises),
        Action(name="MUTE_ROOM", handler=_noop, description="Stop listening."),
    ]
    runtime = make_runtime(providers=[ACTIONS], actions=actions)
    state = await runtime.compose_state(message(runtime, "hi"))
    assert state.values["actionNames"] == "Possible response actions: REPLY, MUTE_ROOM"
    assert "- REPLY: Answer.\n- MUTE_ROOM: Stop listening." in state.text
    assert "SECRET" not in state.text and "BROKEN" not in state.text
    assert "{{user1}}: hi (REPLY)" in state.values["actionExamples"]


async def test_providers_lists_dynamic_ones_and_evaluators_is_private() -> None:
    async def get(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
        return ProviderResult(text="x")

    extra = Provider(name="WEATHER", get=get, description="Weather now.", dynamic=True)
    evaluator = Evaluator(name="REFLECTION", handler=_noop, description="Learns facts.")
    runtime = make_runtime(providers=[PROVIDERS, EVALUATORS, extra], evaluators=[evaluator])
    state = await runtime.compose_state(message(runtime, "hi"))
    assert "- WEATHER: Weather now." in state.text
    assert "REFLECTION" not in state.text  # EVALUATORS is private: not run by default
    state = await runtime.compose_state(
        message(runtime, "hi"), include_list=["EVALUATORS"], only_include=True
    )
    assert state.values["evaluatorNames"] == "REFLECTION"
    assert "- REFLECTION: Learns facts." in state.text


async def test_capabilities_from_running_services() -> None:
    class Search(Service):
        service_type = "search"
        capability_description = "searches the web"

    runtime = make_runtime(providers=[CAPABILITIES])
    await runtime.register_service(Search)
    await runtime.initialize()
    state = await runtime.compose_state(message(runtime, "hi"))
    assert "- search: searches the web" in state.text
    assert state.data["providers"]["CAPABILITIES"]["data"]["services"] == {
        "search": "searches the web"
    }


async def test_anxiety_by_channel_type_and_stable_for_a_message() -> None:
    runtime = make_runtime(providers=[ANXIETY])
    group = message(runtime, "hi all", channelType="GROUP")
    first = (await runtime.compose_state(group)).data["providers"]["ANXIETY"]["data"]["anxiety"]
    again = await runtime.compose_state(group, skip_cache=True)
    assert first == again.data["providers"]["ANXIETY"]["data"]["anxiety"]
    assert len(first) == 3 and set(first) <= set(GROUP_GUIDANCE)
    dm = await runtime.compose_state(message(runtime, "hi", channelType="DM"))
    chosen = dm.data["providers"]["ANXIETY"]["data"]["anxiety"]
    assert set(chosen) <= set(DM_GUIDANCE) and dm.values["anxiety"].startswith("# Restraint")


async def test_action_state_shows_earlier_results_of_the_run() -> None:
    runtime = make_runtime(providers=[ACTION_STATE])
    msg = message(runtime, "roll and then tell me")
    empty = await runtime.compose_state(msg)
    assert empty.text == "" and empty.values["hasActionResults"] is False
    state = State(
        data={
            "actionResults": [
                ActionResult(
                    text="rolled 7", values={"lastRoll": 7}, data={"actionName": "ROLL_DICE"}
                ),
                {"success": False, "error": "no key", "data": {"actionName": "GENERATE_IMAGE"}},
                "not a result",
            ],
            "actionPlan": {"steps": ["ROLL_DICE", "REPLY"]},
        }
    )
    result = await ACTION_STATE.get(runtime, msg, state)
    assert "1. ROLL_DICE succeeded: rolled 7" in result.text
    assert '   values: {"lastRoll": 7}' in result.text
    assert "2. GENERATE_IMAGE failed (error: no key)" in result.text
    assert "# Action plan" in result.text and "REPLY" in result.text
    assert (result.values["completedActions"], result.values["failedActions"]) == (1, 1)


async def test_choice_is_private_and_empty_without_a_task_store() -> None:
    runtime = make_runtime(providers=[CHOICE])
    msg = message(runtime, "the second one")
    assert (await runtime.compose_state(msg)).data["providers"] == {}
    state = await runtime.compose_state(msg, include_list=["CHOICE"], only_include=True)
    assert state.data["providers"]["CHOICE"]["data"] == {"tasks": []}
    assert not [e for e in runtime.store.events if e.type == "provider.failed"]  # type: ignore[attr-defined]


async def test_choice_lists_tasks_awaiting_a_choice() -> None:
    class Task:
        def __init__(self, name: str, options: list[Any]) -> None:
            import uuid

            self.id, self.name, self.description = uuid.uuid4(), name, "pick a colour"
            self.metadata = {"options": options}

    tasks = [Task("paint", ["red", {"name": "blue", "description": "calm"}]), Task("none", [])]
    asked: list[dict[str, Any]] = []

    runtime = make_runtime(providers=[CHOICE])

    async def get_tasks(**filters: Any) -> list[Any]:
        asked.append(filters)
        return tasks

    runtime.get_tasks = get_tasks  # type: ignore[method-assign]
    msg = message(runtime, "blue please")
    result = await CHOICE.get(runtime, msg, State())
    assert asked == [{"room_id": msg.room_id, "tags": ["AWAITING_CHOICE"]}]
    assert f"- Task {tasks[0].id}: paint (pick a colour)\n  - red\n  - blue: calm" in result.text
    assert [t["name"] for t in result.data["tasks"]] == ["paint"]
    assert re.search(r"CHOOSE_OPTION", result.text)
