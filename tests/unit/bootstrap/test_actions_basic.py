"""REPLY, IGNORE, NONE and GENERATE_IMAGE through AgentRuntime.process_actions."""

from __future__ import annotations

from plugins.bootstrap.actions import (
    BOOTSTRAP_ACTIONS,
    GENERATE_IMAGE,
    IGNORE,
    NONE,
    REPLY,
)
from plugins.bootstrap.actions.image import image_urls
from shared.model_types import ModelType
from shared.plugin import Memory, State
from shared.testing import ScriptedModel
from tests.unit.bootstrap.support import Sent, make_runtime, message


def response(msg: Memory, actions: list[str], **content: object) -> Memory:
    return Memory(
        entity_id=msg.agent_id,
        agent_id=msg.agent_id,
        room_id=msg.room_id,
        content={"actions": actions, **content},
    )


def test_all_thirteen_actions_are_exported_with_descriptions_and_examples() -> None:
    names = [a.name for a in BOOTSTRAP_ACTIONS]
    assert sorted(names) == sorted(
        [
            "REPLY",
            "IGNORE",
            "NONE",
            "FOLLOW_ROOM",
            "UNFOLLOW_ROOM",
            "MUTE_ROOM",
            "UNMUTE_ROOM",
            "UPDATE_CONTACT",
            "CHOOSE_OPTION",
            "SEND_MESSAGE",
            "UPDATE_SETTINGS",
            "UPDATE_ROLE",
            "GENERATE_IMAGE",
        ]
    )
    assert all(a.description and a.similes and a.examples for a in BOOTSTRAP_ACTIONS)


async def test_reply_sends_the_text_the_handler_already_wrote_without_a_model_call() -> None:
    model = ScriptedModel(strict=True)
    runtime = make_runtime(model, actions=[REPLY])
    msg, sent = message(runtime, "hi"), Sent()
    [result] = await runtime.process_actions(
        msg, [response(msg, ["REPLY"], text="Hello!", thought="greet back")], None, sent
    )
    assert sent.contents == [
        {"source": "test", "text": "Hello!", "thought": "greet back", "actions": ["REPLY"]}
    ]
    assert result.success and result.values["lastReply"] == "Hello!"
    assert not [c for c in model.calls if c[0] != "TEXT_EMBEDDING"]


async def test_reply_generates_with_text_large_when_no_text_was_given() -> None:
    model = ScriptedModel(
        {
            ModelType.TEXT_LARGE: [
                "Sure:\n```xml\n<response><thought>be kind</thought>"
                "<text>Generated hi</text></response>"
            ]
        },
        strict=True,
    )
    runtime = make_runtime(model, actions=[REPLY])
    msg, sent = message(runtime, "hello?"), Sent()
    [result] = await runtime.process_actions(msg, [response(msg, ["REPLY"])], None, sent)
    assert sent.contents[0]["text"] == "Generated hi" and sent.contents[0]["thought"] == "be kind"
    assert result.data["generated"] is True
    assert "write Ada's next message" in model.prompts("TEXT_LARGE")[0]
    executed = [e.data for e in runtime.store.events if e.type == "action.executed"]  # type: ignore[attr-defined]
    assert executed[-1]["prompts"], "the model call is collected in the action's context"


async def test_reply_with_an_empty_generation_fails_and_sends_nothing() -> None:
    model = ScriptedModel({ModelType.TEXT_LARGE: ["   "]}, strict=True)
    runtime = make_runtime(model, actions=[REPLY])
    msg, sent = message(runtime, "hello?"), Sent()
    [result] = await runtime.process_actions(msg, [response(msg, ["REPLY"])], None, sent)
    assert not result.success and sent.contents == []


async def test_ignore_and_none_say_nothing() -> None:
    runtime = make_runtime(actions=[IGNORE, NONE])
    msg, sent = message(runtime, "ok bye"), Sent()
    ignored, nothing = await runtime.process_actions(
        msg, [response(msg, ["IGNORE", "NONE"], thought="conversation is over")], None, sent
    )
    assert sent.contents == []
    assert ignored.values == {"ignored": True} and ignored.data["thought"] == "conversation is over"
    assert nothing.values == {"noAction": True}


async def test_generate_image_writes_a_prompt_then_draws_and_attaches() -> None:
    model = ScriptedModel(
        {
            ModelType.TEXT_SMALL: [
                "<response><prompt>a red fox in snow, watercolour</prompt></response>"
            ],
            ModelType.IMAGE: [[{"url": "https://img.example/fox.png"}]],
        },
        strict=True,
    )
    runtime = make_runtime(model, actions=[GENERATE_IMAGE])
    msg, sent = message(runtime, "draw me a fox"), Sent()
    state = State(values={"recentMessages": "Ann: draw me a fox", "senderName": "Ann"})
    [result] = await runtime.process_actions(msg, [response(msg, ["DRAW"])], state, sent)
    assert result.success and result.values["imagePrompt"] == "a red fox in snow, watercolour"
    assert ("IMAGE", {"prompt": "a red fox in snow, watercolour"}) in model.calls
    assert "Ann: draw me a fox" in model.prompts("TEXT_SMALL")[0]
    [attachment] = sent.contents[0]["attachments"]
    assert attachment["url"] == "https://img.example/fox.png"
    assert attachment["contentType"] == "image" and sent.contents[0]["actions"] == [
        "GENERATE_IMAGE"
    ]


async def test_generate_image_without_an_image_fails_clearly() -> None:
    model = ScriptedModel(
        {ModelType.TEXT_SMALL: ["a plain prompt with no tags"], ModelType.IMAGE: [[]]}, strict=True
    )
    runtime = make_runtime(model, actions=[GENERATE_IMAGE])
    msg, sent = message(runtime, "draw"), Sent()
    state = State(values={"recentMessages": "x: draw", "senderName": "x"})
    [result] = await runtime.process_actions(msg, [response(msg, ["GENERATE_IMAGE"])], state, sent)
    assert not result.success and result.data["prompt"] == "a plain prompt with no tags"
    assert sent.contents[0]["actions"] == ["GENERATE_IMAGE_FAILED"]


def test_image_urls_accepts_the_shapes_image_models_return() -> None:
    assert image_urls("https://a") == ["https://a"]
    assert image_urls(["https://a", {"url": "https://b"}, {"x": 1}, None]) == [
        "https://a",
        "https://b",
    ]
    assert image_urls({"url": " "}) == [] and image_urls(None) == []
