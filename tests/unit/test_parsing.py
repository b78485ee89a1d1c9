"""The response parser survives what real LLMs produce."""

from __future__ import annotations

from plugins.bootstrap.parsing import parse_response


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
