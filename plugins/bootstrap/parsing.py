"""Parse what the model answers (XML `<response>` blocks or JSON), surviving real LLM output.

Models wrap answers in prose and code fences, forget closing tags, answer in JSON when asked for
XML (and the reverse), or answer nothing at all. Every function here returns a clear fallback in
those cases and never raises: a bad answer must not crash the message handler.
"""

from __future__ import annotations

import html
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
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

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)
_BLOCK = re.compile(r"<response\b[^<>]*>(.*?)(?:</response\s*>|$)", re.DOTALL | re.IGNORECASE)
_CLOSED_BLOCK = re.compile(r"<response\b[^<>]*>(.*?)</response\s*>", re.DOTALL | re.IGNORECASE)
_OPEN = re.compile(r"<([A-Za-z_][\w.-]*)(\s[^<>]*)?>")
_STRAY_CLOSE = re.compile(r"(?:\s*</[A-Za-z_][\w.-]*\s*>)+\s*$")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
MAX_JSON_STARTS = 64
"""How many `{` / `[` of a text `parse_json_block` tries as the start of the JSON: each try may
read to the end of the text, so trying every one of a text made of thousands of brackets would
hold the event loop for seconds."""
_NOT_JSON = (ValueError, RecursionError)
"""What the JSON decoder raises on text that is not JSON it can read: nesting deeper than it
follows raises RecursionError, which must not escape a parser that never raises."""


def strip_fences(text: str) -> str:
    """The inside of the first code fence that holds markup or JSON, else `text` unchanged.

    An unclosed fence (the model stopped mid-block) counts up to the end of the text.
    """
    for match in _FENCE.finditer(text or ""):
        inner = match.group(2).strip()
        if inner and ("<" in inner or inner[:1] in "{["):
            return inner
    return text or ""


def _close_for(name: str) -> re.Pattern[str]:
    return re.compile(rf"</\s*{re.escape(name)}\s*>", re.IGNORECASE)


def _xml_fields(body: str, keep_case: bool = False) -> dict[str, str]:
    """The top-level tags of `body` and their raw inner text (nested markup kept).

    A tag without its closing tag runs to the next opening tag (or the end). The first
    occurrence of a name wins; self-closing tags give "".
    """
    fields: dict[str, str] = {}
    pos = 0
    while (match := _OPEN.search(body, pos)) is not None:
        name = match.group(1)
        if match.group(0).endswith("/>"):
            content, pos = "", match.end()
        elif (close := _close_for(name).search(body, match.end())) is not None:
            content, pos = body[match.end() : close.start()], close.end()
        else:
            following = _OPEN.search(body, match.end())
            end = following.start() if following else len(body)
            content, pos = _STRAY_CLOSE.sub("", body[match.end() : end]), end
        fields.setdefault(name if keep_case else name.lower(), content.strip())
    return fields


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
    """json.loads, then again without trailing commas and smart quotes; raises ValueError."""
    try:
        return json.loads(candidate)
    except ValueError:
        repaired = _TRAILING_COMMA.sub(r"\1", candidate.translate(_SMART_QUOTES))
        return json.loads(repaired)


def _container(value: Any) -> dict[str, Any] | list[Any] | None:
    return value if isinstance(value, dict | list) else None


def parse_json_block(text: str) -> dict[str, Any] | list[Any] | None:
    """The first JSON object or array in `text` (fenced or in prose), or None.

    Tolerates code fences, prose around the JSON, trailing commas and typographic quotes.
    Never raises.
    """
    source = strip_fences(text or "").strip()
    if not source:
        return None
    if source[0] in "{[":
        try:
            return _container(_loads(source))
        except _NOT_JSON:
            pass
    decoder = json.JSONDecoder()
    for match in itertools.islice(re.finditer(r"[{\[]", source), MAX_JSON_STARTS):
        start = match.start()
        try:
            value, _ = decoder.raw_decode(source, start)
            return _container(value)
        except _NOT_JSON:
            closer = "}" if source[start] == "{" else "]"
            end = source.rfind(closer)
            if end > start:
                try:
                    return _container(_loads(source[start : end + 1]))
                except _NOT_JSON:
                    continue
    return None


def parse_key_values(text: str) -> dict[str, str]:
    """Flat `tag -> text` pairs from model output; {} when it has neither tags nor JSON.

    Looks inside the `<response>` block when there is one (else the whole text, past any code
    fence). A whole `<response>...</response>` wins over any code fence, as in ElizaOS's
    parseKeyValueXml: a reply that quotes a fenced block (code the user sent, a JSON example)
    is not read as that block. Tag names are lower-cased; values are stripped and HTML entities
    decoded. With no tags, a JSON object's keys are used instead (lists joined by ", ",
    objects as JSON). Never raises.
    """
    closed = _CLOSED_BLOCK.search(text or "")
    if closed is not None and (fields := _xml_fields(closed.group(1))):
        return {k: html.unescape(v) for k, v in fields.items()}
    source = strip_fences(text or "")
    block = _BLOCK.search(source)
    body = block.group(1) if block else source
    fields = _xml_fields(body)
    if fields:
        return {k: html.unescape(v) for k, v in fields.items()}
    data = parse_json_block(source)
    if isinstance(data, dict):
        inner = data.get("response")
        if isinstance(inner, dict) and len(data) == 1:
            data = inner
        return {str(k).lower(): _as_text(v).strip() for k, v in data.items()}
    return {}


_ELIZA_RESPONSE = re.compile(r"<response>([\s\S]*?)</response>")
_ELIZA_ROOT = re.compile(r"<(\w+)>([\s\S]*?)</\1>")
_ELIZA_TAG = re.compile(r"<([\w-]+)>([\s\S]*?)</([\w-]+)>")
LIST_KEYS = ("actions", "providers", "evaluators")
"""Keys ElizaOS's parseKeyValueXml returns as lists (comma separated in the XML)."""


def _eliza_shape(key: str, value: str) -> Any:
    if key in LIST_KEYS:
        return [item.strip() for item in value.split(",") if item.strip()]
    if key == "simple":
        return value.lower() == "true"
    return value


def parse_key_value_xml(text: str) -> dict[str, Any] | None:
    """ElizaOS 1.x's `parseKeyValueXml`: the key/values of a model's XML answer, or None.

    Reads the `<response>` block, else the first `<tag>...</tag>` block whatever its name, and
    its `<key>value</key>` children: keys keep their case (`inReplyTo`), values are stripped and
    unescaped, `actions` / `providers` / `evaluators` are lists (split on commas), `simple` is a
    boolean. When that finds nothing (broken LLM output: unclosed tags, code fences, JSON), the
    lenient reading of `parse_key_values` is used, with the same shapes. None when neither finds
    any key. Never raises.
    """
    source = text or ""
    block = _ELIZA_RESPONSE.search(source)
    root = block.group(1) if block else None
    if root is None and (fallback := _ELIZA_ROOT.search(source)) is not None:
        root = fallback.group(2)
    found: dict[str, Any] = {}
    for match in _ELIZA_TAG.finditer(root or ""):
        if match.group(1) == match.group(3):
            found[match.group(1)] = _eliza_shape(
                match.group(1), html.unescape(match.group(2).strip())
            )
    if found:
        return found
    stripped = strip_fences(source)
    inner = _BLOCK.search(stripped)
    lenient = _xml_fields(inner.group(1) if inner else stripped, keep_case=True)
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


def parse_tag_list(text: str, tag: str) -> list[str]:
    """The inner text of every `<tag>` in `text`, in order (an unclosed one runs to the next
    same tag or the end). For repeated items such as `<fact>...</fact>`. Never raises."""
    source = strip_fences(text or "")
    name = re.escape(tag)
    pattern = re.compile(
        rf"<{name}(?:\s[^<>]*)?>(.*?)(</\s*{name}\s*>|(?=<{name}[\s>])|$)",
        re.DOTALL | re.IGNORECASE,
    )
    items = []
    for match in pattern.finditer(source):
        inner = match.group(1) if match.group(2) else _STRAY_CLOSE.sub("", match.group(1))
        items.append(html.unescape(inner.strip()))
    return items


def parse_names(value: str) -> list[str]:
    """Upper-case names from "REPLY, FOLLOW_ROOM", '["reply"]' or "reply follow_room"."""
    cleaned = re.sub(r"[\[\]\"'`]", " ", value or "")
    return [n.strip().upper() for n in re.split(r"[,\s]+", cleaned) if n.strip()]


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
    words = re.findall(r"\b(RESPOND|IGNORE|STOP)\b", strip_fences(raw or "").upper())
    if words:
        return ShouldRespond(words[0], reason, "no decision tag: took the first decision word")
    return ShouldRespond(default, reason, f"no decision in the model output: {default}")
