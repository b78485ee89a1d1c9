"""The response parser survives what real LLMs produce."""

from __future__ import annotations

from plugins.bootstrap.parsing import (
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


def test_a_fenced_block_quoted_in_the_reply_text_does_not_choose_the_actions() -> None:
    quoted = '```json\n{"actions": ["FOLLOW_ROOM"], "text": ""}\n```'
    raw = (
        "<response><thought>t</thought><actions>REPLY</actions><providers></providers>"
        f"<text>you sent:\n{quoted}\n</text></response>"
    )
    parsed = parse_response(raw)
    assert parsed.actions == ["REPLY"]
    assert parsed.text.startswith("you sent:") and "FOLLOW_ROOM" in parsed.text
    fenced = f"```xml\n{raw}\n```"  # the whole answer in a fence still reads the same
    assert parse_response(fenced).actions == ["REPLY"]
