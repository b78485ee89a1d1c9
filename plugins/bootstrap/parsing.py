"""Parse what the model answers (XML `<response>` blocks or JSON), surviving real LLM output.

Models wrap answers in prose and code fences, forget closing tags, answer in JSON when asked for
XML (and the reverse), or answer nothing at all. Every function here returns a clear fallback in
those cases and never raises: a bad answer must not crash the message handler.
"""

from __future__ import annotations

import bisect
import html
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MAX_PARSE_CHARS",
    "ParsedResponse",
    "ShouldRespond",
    "parse_json_block",
    "parse_key_value_xml",
    "parse_key_values",
    "parse_names",
    "parse_response",
    "parse_should_respond",
    "parse_tag_list",
    "strip_fences",
]

log = logging.getLogger(__name__)

MAX_PARSE_CHARS = 128 * 1024
"""How much of a model's answer is read (characters); the rest is left out with a warning. Every
reader below is linear in its input, and this bounds that input too."""

MAX_JSON_ATTEMPTS = 16
"""How many `{` / `[` starts `parse_json_block` tries before it gives up: each try is linear, so
the whole search is too."""

# Every pattern below is linear by construction: no quantifier inside another, no lazy
# quantifier, and each one starts on a literal `<`, `{` or `,` so a failed attempt stops at the
# next such character. Matching an opening tag to its closing tag is done on token lists (found
# in one pass) with bisect, never by a regex scanning to the end of the text from every tag.
# tests/unit/test_parsing_hostile.py checks the patterns' shape and hostile inputs.
_OPEN = re.compile(r"<([A-Za-z_][\w.-]*)(\s[^<>]*)?>")
_CLOSE = re.compile(r"</\s*([A-Za-z_][\w.-]*)\s*>")
_CLOSE_WHOLE = re.compile(r"</[A-Za-z_][\w.-]*\s*>")
_BLOCK_OPEN = re.compile(r"<response\b[^<>]*>", re.IGNORECASE)
_BLOCK_CLOSE = re.compile(r"</response\s*>", re.IGNORECASE)
_ELIZA_ROOT_TOKEN = re.compile(r"<(/?)(\w+)>")
_ELIZA_TAG_TOKEN = re.compile(r"<(/?)([\w-]+)>")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_JSON_START = re.compile(r"[{\[]")
_NAME_JUNK = re.compile(r"[\[\]\"'`]")
_NAME_SEPARATORS = re.compile(r"[,\s]+")
_DECISION_WORD = re.compile(r"\b(RESPOND|IGNORE|STOP)\b")
_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_FENCE = "```"


def _capped(text: str | None) -> str:
    """`text` ("" for None), cut to MAX_PARSE_CHARS with a warning."""
    if not text:
        return ""
    if len(text) > MAX_PARSE_CHARS:
        log.warning(
            "model output of %d characters: only the first %d are read", len(text), MAX_PARSE_CHARS
        )
        return text[:MAX_PARSE_CHARS]
    return text


def _fenced_blocks(text: str) -> Iterator[str]:
    """The inside of each code fence in order (an unclosed fence runs to the end of the text),
    past the fence's language word."""
    pos = 0
    while (start := text.find(_FENCE, pos)) != -1:
        at = start + len(_FENCE)
        at = _skip(text, at, " \t")
        while at < len(text) and (text[at].isascii() and (text[at].isalnum() or text[at] in "_-")):
            at += 1
        at = _skip(text, at, " \t")
        if text.startswith("\n", at):
            at += 1
        end = text.find(_FENCE, at)
        if end == -1:
            yield text[at:]
            return
        yield text[at:end]
        pos = end + len(_FENCE)


def _skip(text: str, at: int, chars: str) -> int:
    while at < len(text) and text[at] in chars:
        at += 1
    return at


def strip_fences(text: str) -> str:
    """The inside of the first code fence that holds markup or JSON, else `text` unchanged.

    An unclosed fence (the model stopped mid-block) counts up to the end of the text.
    """
    text = _capped(text)
    for block in _fenced_blocks(text):
        inner = block.strip()
        if inner and ("<" in inner or inner[:1] in "{["):
            return inner
    return text


def _first_at_or_after(starts: list[int], position: int) -> int | None:
    """Index in sorted `starts` of the first one at or after `position`, or None."""
    index = bisect.bisect_left(starts, position)
    return index if index < len(starts) else None


def _strip_trailing_closes(text: str) -> str:
    """`text` without the closing tags (and the blanks around them) it ends with."""
    stripped = False
    while True:
        trimmed = text.rstrip()
        if not trimmed.endswith(">"):
            break
        lt = trimmed.rfind("<")
        if lt == -1 or _CLOSE_WHOLE.fullmatch(trimmed, lt) is None:
            break
        text, stripped = trimmed[:lt], True
    return text.rstrip() if stripped else text


def _xml_fields(body: str, keep_case: bool = False) -> dict[str, str]:
    """The top-level tags of `body` and their raw inner text (nested markup kept).

    A tag without its closing tag runs to the next opening tag (or the end). The first
    occurrence of a name wins; self-closing tags give "".
    """
    opens = list(_OPEN.finditer(body))
    closes: dict[str, list[re.Match[str]]] = {}
    for close in _CLOSE.finditer(body):
        closes.setdefault(close.group(1).lower(), []).append(close)
    close_starts = {name: [c.start() for c in found] for name, found in closes.items()}
    fields: dict[str, str] = {}
    pos = 0
    for index, match in enumerate(opens):
        if match.start() < pos:
            continue
        name = match.group(1)
        key = name.lower()
        field_name = name if keep_case else key
        found = _first_at_or_after(close_starts.get(key, []), match.end())
        if match.group(0).endswith("/>"):
            pos = match.end()
            fields.setdefault(field_name, "")
        elif found is not None:
            close = closes[key][found]
            if field_name not in fields:
                fields[field_name] = body[match.end() : close.start()].strip()
            pos = close.end()
        else:
            pos = opens[index + 1].start() if index + 1 < len(opens) else len(body)
            if field_name not in fields:
                fields[field_name] = _strip_trailing_closes(body[match.end() : pos]).strip()
    return fields


def _response_block(source: str) -> str | None:
    """The inside of the first `<response ...>` block (to its closing tag, else the end)."""
    opening = _BLOCK_OPEN.search(source)
    if opening is None:
        return None
    closing = _BLOCK_CLOSE.search(source, opening.end())
    if closing is not None:
        return source[opening.end() : closing.start()]
    return source[opening.end() :].removesuffix("\n")  # as a regex's `$` ends before it


def _as_text(value: Any) -> str:
    """A JSON value as the string a tag would have held (lists joined by commas)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _loads(candidate: str) -> Any:
    """json.loads, then again without trailing commas and smart quotes; raises ValueError (also
    for JSON nested too deeply to decode)."""
    try:
        return json.loads(candidate)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
    except ValueError:
        repaired = _TRAILING_COMMA.sub(r"\1", candidate.translate(_SMART_QUOTES))
        try:
            return json.loads(repaired)
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc


def _container(value: Any) -> dict[str, Any] | list[Any] | None:
    return value if isinstance(value, dict | list) else None


def parse_json_block(text: str) -> dict[str, Any] | list[Any] | None:
    """The first JSON object or array in `text` (fenced or in prose), or None.

    Tolerates code fences, prose around the JSON, trailing commas and typographic quotes. Tries
    at most MAX_JSON_ATTEMPTS starting brackets (each try is linear), and JSON nested too deeply
    for the decoder counts as no JSON. Never raises.
    """
    source = strip_fences(text or "").strip()
    if not source:
        return None
    if source[0] in "{[":
        try:
            return _container(_loads(source))
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    last_close = {"{": source.rfind("}"), "[": source.rfind("]")}
    for attempt, match in enumerate(_JSON_START.finditer(source)):
        if attempt >= MAX_JSON_ATTEMPTS:
            break
        start = match.start()
        try:
            value, _ = decoder.raw_decode(source, start)
            return _container(value)
        except (ValueError, RecursionError):
            end = last_close[source[start]]
            if end > start:
                try:
                    return _container(_loads(source[start : end + 1]))
                except ValueError:
                    continue
    return None


def parse_key_values(text: str) -> dict[str, str]:
    """Flat `tag -> text` pairs from model output; {} when it has neither tags nor JSON.

    Looks inside the `<response>` block when the text has a closed one (so a fenced block the
    model quoted inside its reply text cannot stand in for the reply), else past any code fence.
    Tag names are lower-cased; values are stripped and HTML entities decoded. With no tags, a
    JSON object's keys are used instead (lists joined by ", ", objects as JSON). Never raises.
    """
    source = _capped(text)
    block = _response_block(source)  # a closed <response> wins over a fence quoted in its text
    if block is None:
        source = strip_fences(source)
        block = _response_block(source)
    fields = _xml_fields(block if block is not None else source)
    if fields:
        return {k: html.unescape(v) for k, v in fields.items()}
    data = parse_json_block(source)
    if isinstance(data, dict):
        inner = data.get("response")
        if isinstance(inner, dict) and len(data) == 1:
            data = inner
        return {str(k).lower(): _as_text(v).strip() for k, v in data.items()}
    return {}


LIST_KEYS = ("actions", "providers", "evaluators")
"""Keys ElizaOS's parseKeyValueXml returns as lists (comma separated in the XML)."""


def _eliza_shape(key: str, value: str) -> Any:
    if key in LIST_KEYS:
        return [item.strip() for item in value.split(",") if item.strip()]
    if key == "simple":
        return value.lower() == "true"
    return value


def _eliza_root(source: str) -> str | None:
    """What ElizaOS's parseKeyValueXml reads its keys from: the inside of the first
    `<response>...</response>`, else of the first `<name>...</name>` block whatever its name
    (the first opening tag that has a closing tag after it, up to the first such closing tag)."""
    start = source.find("<response>")
    if start != -1:  # the first <response> is the one: a later one has no other closing tag
        end = source.find("</response>", start + len("<response>"))
        if end != -1:
            return source[start + len("<response>") : end]
    opens: list[re.Match[str]] = []
    closes: dict[str, list[int]] = {}
    for token in _ELIZA_ROOT_TOKEN.finditer(source):
        if token.group(1):
            closes.setdefault(token.group(2), []).append(token.start())
        else:
            opens.append(token)
    for opening in opens:
        starts = closes.get(opening.group(2), [])
        found = _first_at_or_after(starts, opening.end())
        if found is not None:
            return source[opening.end() : starts[found]]
    return None


def _eliza_pairs(root: str) -> Iterator[tuple[str, str]]:
    """ElizaOS's `<key>value</key>` children: each opening tag up to the first closing tag after
    it (any name); pairs whose names differ are skipped, as ElizaOS's regex skips them."""
    opens: list[re.Match[str]] = []
    closes: list[re.Match[str]] = []
    for token in _ELIZA_TAG_TOKEN.finditer(root):
        (closes if token.group(1) else opens).append(token)
    close_starts = [c.start() for c in closes]
    pos = 0
    for opening in opens:
        if opening.start() < pos:
            continue
        found = _first_at_or_after(close_starts, opening.end())
        if found is None:
            return
        closing = closes[found]
        if opening.group(2) == closing.group(2):
            yield opening.group(2), root[opening.end() : closing.start()]
        pos = closing.end()


def parse_key_value_xml(text: str) -> dict[str, Any] | None:
    """ElizaOS 1.x's `parseKeyValueXml`: the key/values of a model's XML answer, or None.

    Reads the `<response>` block, else the first `<tag>...</tag>` block whatever its name, and
    its `<key>value</key>` children: keys keep their case (`inReplyTo`), values are stripped and
    unescaped, `actions` / `providers` / `evaluators` are lists (split on commas), `simple` is a
    boolean. When that finds nothing (broken LLM output: unclosed tags, code fences, JSON), the
    lenient reading of `parse_key_values` is used, with the same shapes. None when neither finds
    any key. Never raises.
    """
    source = _capped(text)
    found: dict[str, Any] = {}
    root = _eliza_root(source)
    for key, value in _eliza_pairs(root or ""):
        found[key] = _eliza_shape(key, html.unescape(value.strip()))
    if found:
        return found
    stripped = strip_fences(source)
    inner = _response_block(stripped)
    lenient = _xml_fields(inner if inner is not None else stripped, keep_case=True)
    if not lenient:
        data = parse_json_block(stripped)
        if isinstance(data, dict):
            if isinstance(data.get("response"), dict) and len(data) == 1:
                data = data["response"]
            return {
                str(k): (
                    v if isinstance(v, list | bool) else _eliza_shape(str(k), _as_text(v).strip())
                )
                for k, v in data.items()
            } or None
        return None
    return {k: _eliza_shape(k, html.unescape(v)) for k, v in lenient.items()}


def _tag_patterns(tag: str) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """The opening tag, closing tag and next-item patterns of `parse_tag_list` for `tag`."""
    name = re.escape(tag)
    return (
        re.compile(rf"<{name}(?:\s[^<>]*)?>", re.IGNORECASE),
        re.compile(rf"</\s*{name}\s*>", re.IGNORECASE),
        re.compile(rf"<{name}[\s>]", re.IGNORECASE),
    )


def parse_tag_list(text: str, tag: str) -> list[str]:
    """The inner text of every `<tag>` in `text`, in order (an unclosed one runs to the next
    same tag or the end). For repeated items such as `<fact>...</fact>`. Never raises."""
    source = strip_fences(text or "")
    opening_tag, closing_tag, next_item = _tag_patterns(tag)
    closes = list(closing_tag.finditer(source))
    close_starts = [c.start() for c in closes]
    item_starts = [m.start() for m in next_item.finditer(source)]
    items = []
    pos = 0
    while (opening := opening_tag.search(source, pos)) is not None:
        begin = opening.end()
        close_index = _first_at_or_after(close_starts, begin)
        item_index = _first_at_or_after(item_starts, begin)
        close_at = close_starts[close_index] if close_index is not None else len(source)
        item_at = item_starts[item_index] if item_index is not None else len(source)
        if close_index is not None and close_at < item_at:
            items.append(html.unescape(source[begin:close_at].strip()))
            pos = closes[close_index].end()
        else:
            end = min(item_at, len(source))
            items.append(html.unescape(_strip_trailing_closes(source[begin:end]).strip()))
            pos = end
    return items


def parse_names(value: str) -> list[str]:
    """Upper-case names from "REPLY, FOLLOW_ROOM", '["reply"]' or "reply follow_room"."""
    cleaned = _NAME_JUNK.sub(" ", _capped(value))
    return [n.strip().upper() for n in _NAME_SEPARATORS.split(cleaned) if n.strip()]


@dataclass
class ParsedResponse:
    """What the model decided: its thought, the actions to run, providers it asked for, the text.

    `fallback` explains how a malformed answer was read (None when it was well formed).
    """

    thought: str = ""
    actions: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    text: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    fallback: str | None = None


def parse_response(raw: str) -> ParsedResponse:
    """Read thought/actions/providers/text from the message handler's answer.

    Tags may be missing, unclosed, fenced in code blocks or wrapped in prose, and the answer may
    be JSON. With no tags at all the whole output is taken as the reply text (`fallback` says
    so); empty output means IGNORE. Never raises.
    """
    fields = parse_key_values(raw or "")
    if not fields:
        plain = strip_fences(raw or "").strip()
        return ParsedResponse(
            actions=["REPLY"] if plain else ["IGNORE"],
            text=plain,
            fallback=(
                "no XML tags in the model output: used it whole as the reply text"
                if plain
                else "the model output was empty: ignored the message"
            ),
        )
    actions = parse_names(fields.get("actions", ""))
    reply = fields.get("text", "")
    fallback = None
    if not actions:
        actions = ["REPLY"] if reply else ["IGNORE"]
        fallback = "no <actions> in the model output: chose by whether <text> was given"
    return ParsedResponse(
        thought=fields.get("thought", ""),
        actions=actions,
        providers=parse_names(fields.get("providers", "")),
        text=reply,
        fields=fields,
        fallback=fallback,
    )


SHOULD_RESPOND_DECISIONS = ("RESPOND", "IGNORE", "STOP")


@dataclass
class ShouldRespond:
    """The should-respond decision: RESPOND, IGNORE or STOP, with the model's reason."""

    decision: str
    reason: str = ""
    fallback: str | None = None

    @property
    def respond(self) -> bool:
        """Whether the agent should answer."""
        return self.decision == "RESPOND"


def parse_should_respond(raw: str, default: str = "IGNORE") -> ShouldRespond:
    """Read the should-respond answer (`<action>`, or an `<actions>`/`<decision>` tag, or a bare
    word in prose); `default` when none of RESPOND / IGNORE / STOP is found. Never raises."""
    fields = parse_key_values(raw or "")
    reason = fields.get("reasoning") or fields.get("reason") or fields.get("thought") or ""
    for key in ("action", "decision", "actions", "response"):
        for name in parse_names(fields.get(key, "")):
            if name in SHOULD_RESPOND_DECISIONS:
                return ShouldRespond(name, reason)
    words = _DECISION_WORD.findall(strip_fences(raw or "").upper())
    if words:
        return ShouldRespond(words[0], reason, "no decision tag: took the first decision word")
    return ShouldRespond(default, reason, f"no decision in the model output: {default}")
