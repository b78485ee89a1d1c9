"""Parse the model's `<response>` block, surviving the malformed output real LLMs produce."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_FENCE = re.compile(r"```(?:xml|html|text)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_BLOCK = re.compile(r"<response>(.*?)(?:</response>|$)", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"<([a-zA-Z_][\w-]*)>(.*?)(?:</\1>|(?=<[a-zA-Z_][\w-]*>)|$)", re.DOTALL)


@dataclass
class ParsedResponse:
    """What the model decided: its thought, the actions to run, providers it asked for, the text."""

    thought: str = ""
    actions: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    text: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    fallback: str | None = None


def _names(value: str) -> list[str]:
    return [n.strip().upper() for n in re.split(r"[,\s]+", value) if n.strip()]


def parse_response(raw: str) -> ParsedResponse:
    """Read thought/actions/providers/text from model output.

    Tags may be missing, unclosed, fenced in code blocks or wrapped in prose. With no tags at all
    the whole output is taken as the reply text (`fallback` says so); never raises.
    """
    text = raw or ""
    fenced = _FENCE.search(text)
    if fenced and "<" in fenced.group(1):
        text = fenced.group(1)
    block = _BLOCK.search(text)
    body = block.group(1) if block else text
    fields = {m.group(1).lower(): m.group(2).strip() for m in _TAG.finditer(body)}
    if not fields:
        plain = raw.strip()
        return ParsedResponse(
            actions=["REPLY"] if plain else ["IGNORE"],
            text=plain,
            fallback="no XML tags in the model output: used it whole as the reply text",
        )
    actions = _names(fields.get("actions", ""))
    reply = fields.get("text", "")
    fallback = None
    if not actions:
        actions = ["REPLY"] if reply else ["IGNORE"]
        fallback = "no <actions> in the model output: chose by whether <text> was given"
    return ParsedResponse(
        thought=fields.get("thought", ""),
        actions=actions,
        providers=_names(fields.get("providers", "")),
        text=reply,
        fields=fields,
        fallback=fallback,
    )
