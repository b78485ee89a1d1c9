"""The REFLECTION evaluator through AgentRuntime.evaluate, on the in-memory read model."""

from __future__ import annotations

import json

from plugins.bootstrap.evaluators import BOOTSTRAP_EVALUATORS, REFLECTION
from plugins.bootstrap.evaluators.reflection import read_reflection
from shared.character import Character
from shared.model_types import ModelType
from shared.testing import ScriptedModel
from tests.unit.bootstrap.support import scene

SHORT = Character(name="Ada", settings={"CONVERSATION_LENGTH": "8"})  # reflect every 2 messages


def answer(facts: list[dict[str, object]], relationships: list[dict[str, object]]) -> str:
    body = json.dumps({"thought": "Ann is settling in.", "facts": facts,
                       "relationships": relationships})  # fmt: skip
    return f"Here is my reflection:\n```json\n{body}\n```"


async def test_reflects_every_quarter_conversation_and_stores_facts_and_relationships() -> None:
    model = ScriptedModel({ModelType.TEXT_SMALL: [
        answer([{"claim": "Ann moved to Lisbon", "type": "fact", "entity": "Ann"},
                {"claim": "", "type": "fact"}],
               [{"source": "Ann", "target": "Bob", "tags": ["friend"]},
                {"source": "Ann", "target": "Nobody", "tags": ["x"]}]),
        answer([{"claim": "Ann moved to Lisbon", "type": "fact", "entity": "Ann"},
                {"claim": "Bob likes chess", "type": "opinion", "entity": "Bob"}],
               [{"source": "Ann", "target": "Bob", "tags": ["colleague", "friend"]}]),
    ]}, strict=True)  # fmt: skip
    s = await scene(model, evaluators=[REFLECTION], character=SHORT)
    rt = s.runtime
    first = await s.store("Ann", "I just moved to Lisbon!")
    assert await rt.evaluate(first, None, did_respond=True) == []  # 1 new message < 2
    second = s.said("Bob", "Welcome! Want to play chess?")  # not stored yet: still counted
    assert [e.name for e in await rt.evaluate(second, None, did_respond=True)] == ["REFLECTION"]
    facts = await rt.get_memories(room_id=s.room_id, table_name="facts")
    assert [f.text for f in facts] == ["Ann moved to Lisbon"]
    assert facts[0].metadata["about"] == str(s.people["Ann"])
    assert facts[0].entity_id == s.people["Bob"]  # the message's sender
    stored = await rt.get_memory_by_id(facts[0].id)  # lists leave embeddings out
    assert stored is not None and stored.embedding
    [link] = await rt.get_relationships(s.people["Ann"])
    assert (link.target_entity_id, link.tags, link.metadata["interactions"]) == (
        s.people["Bob"], ["friend"], 1)  # fmt: skip
    prompt = model.prompts("TEXT_SMALL")[0]
    assert "Ann: I just moved to Lisbon!" in prompt and f"- Bob (id {s.people['Bob']})" in prompt

    await rt.create_memory(second)
    third = await s.store("Ann", "Sure, chess sounds fun")
    assert await rt.evaluate(third, None, did_respond=True) == []  # 1 new since the last one
    fourth = await s.store("Bob", "Great")
    assert [e.name for e in await rt.evaluate(fourth, None, did_respond=True)] == ["REFLECTION"]
    facts = await rt.get_memories(room_id=s.room_id, table_name="facts")
    assert sorted(f.text for f in facts) == ["Ann moved to Lisbon", "Bob likes chess"]
    assert "- Ann moved to Lisbon" in model.prompts("TEXT_SMALL")[1]  # known facts are shown
    [link] = await rt.get_relationships(s.people["Ann"])
    assert link.tags == ["friend", "colleague"] and link.metadata["interactions"] == 2
    executed = [e.data for e in rt.store.events if e.type == "evaluator.executed"]  # type: ignore[attr-defined]
    assert executed[-1]["status"] == "completed"
    assert executed[-1]["result"]["data"]["facts"] == ["Bob likes chess"]


async def test_malformed_output_stores_nothing_but_still_marks_the_reflection() -> None:
    model = ScriptedModel(
        {ModelType.TEXT_SMALL: ["I'd rather not answer in JSON, sorry. {broken"]}, strict=True
    )
    s = await scene(model, evaluators=BOOTSTRAP_EVALUATORS, character=SHORT)
    await s.store("Ann", "hello")
    msg = await s.store("Bob", "hi")
    [ran] = await s.runtime.evaluate(msg, None, did_respond=True)
    assert ran.name == "REFLECTION"
    assert await s.runtime.get_memories(room_id=s.room_id, table_name="facts") == []
    [marker] = await s.runtime.get_memories(room_id=s.room_id, table_name="reflections")
    assert marker.content["lastMessageId"] == str(msg.id)
    assert await s.runtime.evaluate(msg, None, did_respond=True) == []  # nothing new since


def test_read_reflection_accepts_xml_too() -> None:
    got = read_reflection(
        "<response><thought>ok</thought><facts><fact><claim>Ann codes</claim>"
        "<type>fact</type><entity>Ann</entity></fact><fact><claim>B</claim></facts>"
        "<relationships><relationship><source>Ann</source><target>Bob</target>"
        "<tags>friend, colleague</tags></relationship></relationships></response>"
    )
    assert got["thought"] == "ok"
    assert [f["claim"] for f in got["facts"]] == ["Ann codes", "B"]
    assert got["relationships"] == [{"source": "Ann", "target": "Bob", "tags": "friend, colleague"}]
    assert read_reflection("") == {"thought": "", "facts": [], "relationships": []}
    assert read_reflection('{"facts": "not a list"}')["facts"] == []
