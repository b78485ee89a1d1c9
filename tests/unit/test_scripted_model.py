"""The ScriptedModel double answers every model type deterministically and in format."""

from __future__ import annotations

import json
import re
import time
from types import SimpleNamespace
from typing import Any
from xml.etree import ElementTree

import pytest

from shared.errors import ModelError, NoModelHandlerError
from shared.messages import ModelRequest
from shared.model_types import ModelType
from shared.model_wire import ModelHandler
from shared.testing import InProcessModelClient, ScriptedModel, make_test_runtime
from shared.testing.scripted_model import GENERIC_REPLY, last_user_message

MESSAGE_HANDLER_PROMPT = """# Task: Generate dialog and actions for the character Eliza.

# Conversation Messages
10:00 (5 minutes ago) [1111] Bob: hi there
10:01 (4 minutes ago) [2222] Eliza: hello Bob
10:02 (just now) [1111] Bob: what is the capital of France?

# Instructions: Write a thought and a reply.
Note: keep it short.

Response format should be formatted in a valid XML block like this:
<response>
    <thought>Your thought here</thought>
    <actions>ACTION1,ACTION2</actions>
    <providers>PROVIDER1,PROVIDER2</providers>
    <text>Your response text here</text>
</response>
"""

SHOULD_RESPOND_PROMPT = """# Task: Decide on behalf of Eliza whether they should respond.

# Conversation Messages
[1111] Bob: Eliza, are you there?

Respond using XML format like this:
<response>
  <name>Eliza</name>
  <reasoning>Your reasoning here</reasoning>
  <action>RESPOND | IGNORE | STOP</action>
</response>
"""


def _tag(xml: str, tag: str) -> str:
    found = re.search(rf"<{tag}>(.*?)</{tag}>", xml, re.S)
    assert found, f"no <{tag}> in {xml!r}"
    return found.group(1)


async def _call(model: ScriptedModel, model_type: ModelType, **params: Any) -> Any:
    return await model.handle(ModelRequest(model_type=model_type, params=params))


def test_scripted_model_is_a_model_handler() -> None:
    assert isinstance(ScriptedModel(), ModelHandler)
    assert ScriptedModel.supported == frozenset(ModelType)


async def test_embedding_and_dimension_probe() -> None:
    model = ScriptedModel(dimensions=64)
    vector = await _call(model, ModelType.TEXT_EMBEDDING, text="hello world")
    assert len(vector) == 64
    assert vector == await _call(model, ModelType.TEXT_EMBEDDING, text="hello world")
    assert await _call(model, ModelType.TEXT_EMBEDDING, text=None) == [0.0] * 64
    assert await _call(model, ModelType.TEXT_EMBEDDING) == [0.0] * 64


@pytest.mark.parametrize("model_type", [ModelType.TEXT_LARGE, ModelType.TEXT_REASONING_SMALL])
async def test_message_handler_prompt_gets_xml_reply_to_last_user_message(
    model_type: ModelType,
) -> None:
    reply = await _call(ScriptedModel(), model_type, prompt=MESSAGE_HANDLER_PROMPT)
    assert reply.startswith("<response>") and reply.endswith("</response>")
    assert _tag(reply, "actions") == "REPLY"
    assert _tag(reply, "providers") == ""
    assert "capital of France" in _tag(reply, "text")
    assert "capital of France" in _tag(reply, "thought")
    assert reply == await _call(ScriptedModel(), model_type, prompt=MESSAGE_HANDLER_PROMPT)


async def test_should_respond_prompt_gets_respond_decision() -> None:
    reply = await _call(ScriptedModel(), ModelType.TEXT_SMALL, prompt=SHOULD_RESPOND_PROMPT)
    assert _tag(reply, "name") == "Eliza"
    assert _tag(reply, "action") == "RESPOND"
    assert _tag(reply, "reasoning")


async def test_latest_message_section_wins_and_xml_stays_well_formed() -> None:
    prompt = (
        "# Conversation so far\nAlice: earlier\nAlice: is 1 < 2 & 3 > 2?\n\n"
        "# Latest message\nAlice: is 1 < 2 & 3 > 2?\n\n"
        "Answer with exactly one XML block:\n<response>\n<actions>REPLY</actions>\n</response>"
    )
    reply = await _call(ScriptedModel(), ModelType.TEXT_LARGE, prompt=prompt)
    assert "is 1 \uff1c 2 \uff06 3 \uff1e 2?" in _tag(reply, "text")
    ElementTree.fromstring(reply)  # well-formed: no raw <, > or & from the user


async def test_prompt_without_message_gets_generic_reply() -> None:
    reply = await _call(ScriptedModel(), ModelType.TEXT_LARGE, prompt="Say something.")
    assert reply == GENERIC_REPLY
    xml = await _call(ScriptedModel(), ModelType.TEXT_LARGE, prompt="<response></response>")
    assert _tag(xml, "text") == GENERIC_REPLY


def test_last_user_message_skips_the_agent_and_other_sections() -> None:
    assert last_user_message(MESSAGE_HANDLER_PROMPT, "Eliza") == "what is the capital of France?"
    assert last_user_message("Note: this is not a message", "Eliza") is None


async def test_json_prompt_gets_json_shaped_like_the_example() -> None:
    prompt = (
        "# Recent messages\nBob: pick a color\n\nAnswer in JSON:\n"
        '```json\n{"thought": "...", "text": "...", "actions": ["A"], "score": 1}\n```'
    )
    answer = json.loads(await _call(ScriptedModel(), ModelType.TEXT_SMALL, prompt=prompt))
    assert set(answer) == {"thought", "text", "actions", "score"}
    assert answer["actions"] == ["REPLY"] and answer["score"] == 0
    assert "pick a color" in answer["text"]


async def test_object_follows_schema_else_default_shape() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "tags": {"type": "array"},
            "mood": {"enum": ["happy", "sad"]},
        },
    }
    model = ScriptedModel()
    shaped = await _call(model, ModelType.OBJECT_SMALL, prompt="who?", schema=schema)
    assert shaped == {"name": "scripted name", "age": 0, "tags": [], "mood": "happy"}
    default = await _call(model, ModelType.OBJECT_LARGE, prompt="describe")
    assert isinstance(default, dict) and {"text", "thought"} <= set(default)


async def test_tokenizer_round_trips() -> None:
    model = ScriptedModel()
    tokens = await _call(model, ModelType.TEXT_TOKENIZER_ENCODE, prompt="héllo")
    assert all(isinstance(t, int) for t in tokens)
    assert await _call(model, ModelType.TEXT_TOKENIZER_DECODE, tokens=tokens) == "héllo"


@pytest.mark.parametrize(
    "model_type",
    [t for t in ModelType if t.value in {"IMAGE", "IMAGE_DESCRIPTION", "TRANSCRIPTION", "AUDIO"}],
)
async def test_media_types_get_deterministic_json_placeholders(model_type: ModelType) -> None:
    first = await _call(ScriptedModel(), model_type, prompt="a cat")
    assert first == await _call(ScriptedModel(), model_type, prompt="a cat")
    json.dumps(first)


async def test_script_comes_first_in_order_then_defaults_and_calls_are_recorded() -> None:
    model = ScriptedModel({ModelType.TEXT_LARGE: ["one", ModelError("boom: retry"), "three"]})
    assert await _call(model, ModelType.TEXT_LARGE, prompt="x") == "one"
    with pytest.raises(ModelError, match="boom"):
        await _call(model, ModelType.TEXT_LARGE, prompt="x")
    assert await _call(model, ModelType.TEXT_LARGE, prompt="x") == "three"
    assert await _call(model, ModelType.TEXT_LARGE, prompt="x") == GENERIC_REPLY
    assert [c.model_type for c in model.calls] == [ModelType.TEXT_LARGE] * 4
    quiet = ScriptedModel(record_calls=False)
    await _call(quiet, ModelType.TEXT_SMALL, prompt="x")
    assert quiet.calls == []


async def test_in_process_client_double_matches_bus_semantics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticks = iter([5.0, 5.125, 6.0, 6.5])  # one clock for the double and the decoder it uses
    clock = SimpleNamespace(perf_counter=lambda: next(ticks), monotonic=time.monotonic)
    monkeypatch.setattr("shared.model_wire.time", clock)
    monkeypatch.setattr("shared.testing.in_process_model_client.time", clock)
    model = ScriptedModel({ModelType.TEXT_SMALL: [ModelError("rate limited: slow down")]})
    client = InProcessModelClient(model)
    result = await client.call(ModelType.TEXT_EMBEDDING, {"text": "hi"})
    assert result.provider == "scripted" and len(result.result) == 384
    assert result.duration_ms == 125.0  # from the request's encoding to the decoded reply
    with pytest.raises(ModelError, match="rate limited: slow down"):
        await client.call(ModelType.TEXT_SMALL, {"prompt": "x"})


async def test_in_process_client_reports_unsupported_and_crashing_handlers() -> None:
    class Crashing:
        provider = "crashing"
        supported = frozenset({ModelType.TEXT_SMALL})

        async def handle(self, request: ModelRequest) -> Any:
            raise RuntimeError("kaput")

    client = InProcessModelClient(Crashing())
    with pytest.raises(NoModelHandlerError, match="TEXT_LARGE"):
        await client.call(ModelType.TEXT_LARGE, {"prompt": "x"})
    with pytest.raises(ModelError, match="RuntimeError: kaput"):
        await client.call(ModelType.TEXT_SMALL, {"prompt": "x"})


async def test_strict_raises_on_an_unscripted_call_but_always_embeds() -> None:
    model = ScriptedModel({ModelType.TEXT_SMALL: ["scripted"]}, strict=True)
    assert await _call(model, ModelType.TEXT_SMALL, prompt="x") == "scripted"
    with pytest.raises(AssertionError, match="unexpected TEXT_SMALL call: again"):
        await _call(model, ModelType.TEXT_SMALL, prompt="again")
    model.add(ModelType.TEXT_SMALL, "added")
    assert await _call(model, ModelType.TEXT_SMALL, prompt="y") == "added"
    assert len(await _call(model, ModelType.TEXT_EMBEDDING, text="hi")) == 384
    assert model.prompts(ModelType.TEXT_SMALL) == ["x", "again", "y"]
    assert model.calls[0] == ("TEXT_SMALL", {"prompt": "x"})  # a ModelCall is a (type, params)
    assert model.calls[0].params == {"prompt": "x"}


async def test_register_serves_every_model_type_in_process_without_initialize() -> None:
    model = ScriptedModel({ModelType.OBJECT_LARGE: [{"ok": True}]})
    runtime = make_test_runtime(model=model)
    assert await runtime.use_model("OBJECT_LARGE", {"prompt": "p"}) == {"ok": True}
    assert all(runtime.get_model(t.value) is not None for t in ModelType)
    assert [c.model_type for c in model.calls] == [ModelType.OBJECT_LARGE]
