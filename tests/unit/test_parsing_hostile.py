"""The response parser against hostile model output: linear by construction, bounded, never raises.

A model's answer is untrusted input parsed on the event loop: a parser that backtracks
quadratically (or raises past its fallbacks) stalls every agent of the process. These tests check
the shape of every pattern the parser uses (no nested or lazy quantifier, no backreference), run
the crafted inputs that used to take seconds, and compare the token-based readers with the
regular expressions they replaced on short random inputs, where those are still fast.
Timings are in tests/benchmarks/parser_hostile.py, not here.
"""

from __future__ import annotations

import html
import re
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.bootstrap import parsing
from plugins.bootstrap.parsing import (
    MAX_PARSE_CHARS,
    parse_json_block,
    parse_key_value_xml,
    parse_key_values,
    parse_response,
    parse_should_respond,
    parse_tag_list,
    strip_fences,
)

REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT)


def _problems(items: Any, inside_repeat: bool = False) -> list[str]:
    """What makes a parsed pattern able to backtrack badly: a quantifier inside a quantifier,
    a lazy quantifier, a backreference."""
    found: list[str] = []
    for op, arg in items:
        if op is sre_constants.MIN_REPEAT:
            found.append("lazy quantifier")
        if op in REPEATS:
            if inside_repeat and arg[1] > 1:
                found.append("quantifier inside a quantifier")
            found += _problems(arg[2], inside_repeat=inside_repeat or arg[1] > 1)
        elif op is sre_constants.SUBPATTERN:
            found += _problems(arg[-1], inside_repeat)
        elif op is sre_constants.BRANCH:
            for branch in arg[1]:
                found += _problems(branch, inside_repeat)
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            found += _problems(arg[1], inside_repeat)
        elif op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
            found.append("backreference")
    return found


def _parser_patterns() -> list[re.Pattern[str]]:
    patterns = [v for v in vars(parsing).values() if isinstance(v, re.Pattern)]
    return patterns + list(parsing._tag_patterns("fact"))


def test_every_parser_pattern_is_free_of_backtracking_shapes() -> None:
    patterns = _parser_patterns()
    assert len(patterns) >= 12  # the module's patterns are found (a rename would empty the list)
    for pattern in patterns:
        assert _problems(sre_parse.parse(pattern.pattern, pattern.flags)) == [], pattern.pattern


def test_the_shape_check_catches_the_patterns_that_were_quadratic() -> None:
    for bad in (
        r"<(\w+)>([\s\S]*?)</\1>",
        r"<response>([\s\S]*?)</response>",
        r"(?:\s*</[A-Za-z_][\w.-]*\s*>)+\s*$",
    ):
        assert _problems(sre_parse.parse(bad)), bad


CRAFTED = {
    "opening tags": "<a>" * 21_000,
    "response openings": "<response>" * 6_500,
    "fences": "```" * 21_000,
    "closing tags after text": "<text>" + "</a>" * 16_000 + "x",
    "blanks before the end": "<a>x" + " " * 64_000 + "y",
    "nested arrays": "[" * 64_000,
    "nested objects": '{"a":' * 12_000,
    "tags with blanks": "<a " * 21_000,
}


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_output_is_read_without_error(name: str) -> None:
    raw = CRAFTED[name]
    parsed = parse_response(raw)
    assert parsed.actions  # a fallback decision, never an exception
    assert parse_key_value_xml(raw) is None or isinstance(parse_key_value_xml(raw), dict)
    assert parse_json_block(raw) is None
    assert isinstance(parse_tag_list(raw, "a"), list)
    assert parse_should_respond(raw).decision in ("RESPOND", "IGNORE", "STOP")


def test_json_nested_past_the_decoders_limit_is_no_json() -> None:
    deep = "[" * 5_000 + "]" * 5_000
    assert parse_json_block(deep) is None
    assert parse_json_block('prose {"ok": [1, 2]} more') == {"ok": [1, 2]}


def test_output_past_the_cap_is_cut_not_parsed_whole(caplog: pytest.LogCaptureFixture) -> None:
    raw = "<response><text>hi</text></response>" + "x" * MAX_PARSE_CHARS + "<actions>X</actions>"
    parsed = parse_response(raw)
    assert parsed.text == "hi"
    assert "X" not in parsed.actions
    assert "only the first" in caplog.text


# --- the readers match the regular expressions they replaced ----------------------------------

_OLD_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)
_OLD_BLOCK = re.compile(r"<response\b[^<>]*>(.*?)(?:</response\s*>|$)", re.DOTALL | re.IGNORECASE)
_OLD_OPEN = re.compile(r"<([A-Za-z_][\w.-]*)(\s[^<>]*)?>")
_OLD_STRAY = re.compile(r"(?:\s*</[A-Za-z_][\w.-]*\s*>)+\s*$")
_OLD_RESPONSE = re.compile(r"<response>([\s\S]*?)</response>")
_OLD_ROOT = re.compile(r"<(\w+)>([\s\S]*?)</\1>")
_OLD_TAG = re.compile(r"<([\w-]+)>([\s\S]*?)</([\w-]+)>")


def _old_strip_fences(text: str) -> str:
    for match in _OLD_FENCE.finditer(text or ""):
        inner = match.group(2).strip()
        if inner and ("<" in inner or inner[:1] in "{["):
            return inner
    return text or ""


def _old_xml_fields(body: str, keep_case: bool = False) -> dict[str, str]:
    fields: dict[str, str] = {}
    pos = 0
    while (match := _OLD_OPEN.search(body, pos)) is not None:
        name = match.group(1)
        close_for = re.compile(rf"</\s*{re.escape(name)}\s*>", re.IGNORECASE)
        if match.group(0).endswith("/>"):
            content, pos = "", match.end()
        elif (close := close_for.search(body, match.end())) is not None:
            content, pos = body[match.end() : close.start()], close.end()
        else:
            following = _OLD_OPEN.search(body, match.end())
            end = following.start() if following else len(body)
            content, pos = _OLD_STRAY.sub("", body[match.end() : end]), end
        fields.setdefault(name if keep_case else name.lower(), content.strip())
    return fields


def _old_eliza_pairs(text: str) -> dict[str, str]:
    block = _OLD_RESPONSE.search(text)
    root = block.group(1) if block else None
    if root is None and (fallback := _OLD_ROOT.search(text)) is not None:
        root = fallback.group(2)
    found: dict[str, str] = {}
    for match in _OLD_TAG.finditer(root or ""):
        if match.group(1) == match.group(3):
            found[match.group(1)] = html.unescape(match.group(2).strip())
    return found


def _old_tag_list(text: str, tag: str) -> list[str]:
    source = _old_strip_fences(text)
    name = re.escape(tag)
    pattern = re.compile(
        rf"<{name}(?:\s[^<>]*)?>(.*?)(</\s*{name}\s*>|(?=<{name}[\s>])|$)",
        re.DOTALL | re.IGNORECASE,
    )
    return [
        html.unescape((m.group(1) if m.group(2) else _OLD_STRAY.sub("", m.group(1))).strip())
        for m in pattern.finditer(source)
    ]


FRAGMENTS = [
    "<", ">", "/", "</", "<response>", "</response>", "<Response id=1>", "</response >",
    "<text>", "</text>", "<a>", "</a>", "<a/>", "<a />", "<b x='1'>", "</ b>", "<fact>",
    "</fact>", "<fact id=2>", "```", "```json\n", "```xml ", "{", "}", "[", "]", '"', ",",
    ":", " ", "\n", "\t", "x", "hi", "REPLY", "&amp;", "<actions>", "</actions>", "<thought>",
    "<fact ", "<fact\n", "<response ", "</Fact>",
]  # fmt: skip
hostile_text = st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(hostile_text)
def test_fences_are_found_as_the_old_pattern_found_them(text: str) -> None:
    assert strip_fences(text) == _old_strip_fences(text)


@settings(max_examples=400, deadline=None)
@given(hostile_text)
def test_lenient_tags_are_read_as_the_old_patterns_read_them(text: str) -> None:
    assert parsing._xml_fields(text) == _old_xml_fields(text)
    assert parsing._xml_fields(text, keep_case=True) == _old_xml_fields(text, keep_case=True)
    old_block = _OLD_BLOCK.search(text)
    assert parsing._response_block(text) == (old_block.group(1) if old_block else None)


@settings(max_examples=400, deadline=None)
@given(hostile_text)
def test_elizaos_pairs_are_read_as_the_old_patterns_read_them(text: str) -> None:
    new = {
        k: html.unescape(v.strip())
        for k, v in parsing._eliza_pairs(parsing._eliza_root(text) or "")
    }
    assert new == _old_eliza_pairs(text)


@settings(max_examples=400, deadline=None)
@given(hostile_text)
def test_tag_lists_are_read_as_the_old_pattern_read_them(text: str) -> None:
    assert parse_tag_list(text, "fact") == _old_tag_list(text, "fact")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300) | hostile_text)
def test_no_reader_raises_on_any_text(text: str) -> None:
    parsed = parse_response(text)
    assert parsed.actions
    assert isinstance(parse_key_values(text), dict)
    result = parse_key_value_xml(text)
    assert result is None or isinstance(result, dict)
    assert parse_json_block(text) is None or isinstance(parse_json_block(text), dict | list)
