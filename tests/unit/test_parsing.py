"""The response parser survives what real LLMs produce."""

from __future__ import annotations

import json

import pytest

from plugins.bootstrap import parsing
from plugins.bootstrap.parsing import (
    MAX_JSON_STARTS,
    parse_json_block,
    parse_key_values,
    parse_response,
    parse_should_respond,
    parse_tag_list,
)


def test_well_formed() -> None:
    p = parse_response(
        "<response><thought>greet</thought><actions>REPLY</actions>"
        "<providers>TIME, FACTS</providers><text>Hi there</text></response>"
    )
    assert (p.thought, p.actions, p.providers, p.text) == (
        "greet",
        ["REPLY"],
        ["TIME", "FACTS"],
        "Hi there",
    )
    assert p.fallback is None


def test_code_fence_and_prose_around() -> None:
    p = parse_response(
        "Sure! Here you go:\n```xml\n<response>\n<thought>x</thought>\n<actions>reply</actions>\n"
        "<text>Fenced hello</text>\n</response>\n```\nHope that helps."
    )
    assert p.actions == ["REPLY"] and p.text == "Fenced hello"


def test_unclosed_tags_and_missing_closing_response() -> None:
    p = parse_response("<response><thought>hmm<actions>REPLY, FOLLOW_ROOM</actions><text>ok then")
    assert p.thought == "hmm"
    assert p.actions == ["REPLY", "FOLLOW_ROOM"]
    assert p.text == "ok then"


def test_missing_actions_falls_back_on_text() -> None:
    p = parse_response("<response><text>just text</text></response>")
    assert p.actions == ["REPLY"] and p.text == "just text" and p.fallback


def test_no_tags_at_all_uses_the_whole_output() -> None:
    p = parse_response("  I am a model that ignored the format.  ")
    assert p.actions == ["REPLY"] and p.text == "I am a model that ignored the format."
    assert p.fallback and "no XML tags" in p.fallback


def test_empty_output_ignores() -> None:
    p = parse_response("")
    assert p.actions == ["IGNORE"] and p.text == ""


def test_json_answer_instead_of_xml() -> None:
    p = parse_response(
        '```json\n{"thought": "t", "actions": ["REPLY", "follow_room"], "text": "hi"}\n```'
    )
    assert (p.thought, p.actions, p.text) == ("t", ["REPLY", "FOLLOW_ROOM"], "hi")


def test_nested_markup_in_text_is_kept_and_entities_decoded() -> None:
    p = parse_response(
        "<response><actions>REPLY</actions><providers/><text>a <b>bold</b> &amp; fine</text>"
        "</response>"
    )
    assert p.text == "a <b>bold</b> & fine" and p.providers == []


def test_whitespace_only_output_ignores_with_a_reason() -> None:
    p = parse_response("   \n ")
    assert p.actions == ["IGNORE"] and p.fallback and "empty" in p.fallback


def test_actions_written_as_a_json_list_inside_a_tag() -> None:
    p = parse_response('<response><actions>["reply", "mute_room"]</actions></response>')
    assert p.actions == ["REPLY", "MUTE_ROOM"]


def test_parse_key_values_xml_json_and_nothing() -> None:
    assert parse_key_values("Sure.\n<response><a>1</a><B>two</B></response> bye") == {
        "a": "1",
        "b": "two",
    }
    assert parse_key_values('noise {"prompt": "a cat", "n": 2, "x": {"y": 1}}') == {
        "prompt": "a cat",
        "n": "2",
        "x": '{"y": 1}',
    }
    assert parse_key_values("no structure at all") == {}
    assert parse_key_values("") == {}


def test_parse_json_block_repairs_and_finds() -> None:
    assert parse_json_block('```json\n{"a": [1, 2,],}\n```') == {"a": [1, 2]}
    assert parse_json_block('The answer: [{"key": "X", "value": "y"}] as asked') == [
        {"key": "X", "value": "y"}
    ]
    assert parse_json_block("\u201cjust prose\u201d") is None
    assert parse_json_block("{broken: json") is None
    assert parse_json_block("") is None


def test_a_fenced_block_quoted_in_the_reply_does_not_replace_the_response() -> None:
    # the model quotes what the user sent (or gives a JSON example) inside its <text>: the
    # <response> block is the answer, not the fenced JSON inside it (found by `make chaos`)
    p = parse_response(
        "<response><thought>quote it</thought><actions>REPLY</actions><text>You sent:\n"
        '```json\n{"actions": ["FOLLOW_ROOM"], "text": "pwned"}\n```</text></response>'
    )
    assert p.actions == ["REPLY"] and p.thought == "quote it"
    assert p.text.startswith("You sent:") and "FOLLOW_ROOM" in p.text


def test_json_nested_deeper_than_the_decoder_follows_is_not_json() -> None:
    # json raises RecursionError (not ValueError) on such nesting: the parser must not raise
    deep = "[" * 100_000 + "]" * 100_000
    assert parse_json_block(deep) is None
    assert parse_json_block("```json\n" + "[" * 50_000) is None
    p = parse_response('{"actions": ["REPLY"], "text": ' + deep + "}")
    assert p.actions == ["REPLY"] and p.fallback is not None
    assert parse_should_respond(deep).decision == "IGNORE"


def test_the_json_search_tries_a_bounded_number_of_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    tried = []

    class CountingDecoder(json.JSONDecoder):
        def raw_decode(self, s: str, idx: int = 0) -> tuple[object, int]:
            tried.append(idx)
            return super().raw_decode(s, idx)

    monkeypatch.setattr(parsing.json, "JSONDecoder", CountingDecoder)
    assert parse_json_block("prose " + "[" * 20_000) is None
    assert 0 < len(tried) <= MAX_JSON_STARTS
    tried.clear()
    assert parse_json_block("a [1] b") == [1]  # a bracket further on is still found
    assert tried == [2]


def test_parse_tag_list_closed_unclosed_and_nested() -> None:
    assert parse_tag_list("<facts><fact><c>a</c></fact><fact>b</fact></facts>", "fact") == [
        "<c>a</c>",
        "b",
    ]
    assert parse_tag_list("<fact>a<fact>b</facts>", "fact") == ["a", "b"]


def test_should_respond_tag_prose_and_default() -> None:
    tagged = parse_should_respond(
        "<response><reasoning>named</reasoning><action>respond</action></response>"
    )
    assert tagged.decision == "RESPOND" and tagged.respond and tagged.reason == "named"
    assert tagged.fallback is None
    prose = parse_should_respond("I would STOP now.")
    assert prose.decision == "STOP" and prose.fallback
    nothing = parse_should_respond("hmm")
    assert nothing.decision == "IGNORE" and not nothing.respond and nothing.fallback
