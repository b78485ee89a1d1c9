"""ATTACHMENTS: the files of this message and of the room's recent messages."""

from __future__ import annotations

import logging
from typing import Any

from plugins.bootstrap.providers.format import add_header
from shared.plugin import Memory, Provider, ProviderResult, Runtime, State

log = logging.getLogger(__name__)

RECENT_MESSAGES_SCANNED = 20
MAX_TEXT_CHARS = 1000


def _attachments(memory: Memory) -> list[dict[str, Any]]:
    found = memory.content.get("attachments")
    return [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []


def format_attachment(item: dict[str, Any]) -> str:
    """An attachment's id, title, URL, type, description and (shortened) text."""
    lines = [f"- {item.get('title') or item.get('id') or 'untitled'}"]
    for key, label in (("id", "ID"), ("url", "URL"), ("contentType", "Type"),
                       ("source", "Source"), ("description", "Description")):  # fmt: skip
        if item.get(key):
            lines.append(f"  {label}: {item[key]}")
    text = str(item.get("text") or "")
    if text:
        more = "..." if len(text) > MAX_TEXT_CHARS else ""
        lines.append(f"  Text: {text[:MAX_TEXT_CHARS]}{more}")
    return "\n".join(lines)


async def get_attachments(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """This message's attachments first, then those of recent messages in the room (by id,
    each once). A failed read of recent messages leaves only this message's."""
    items = _attachments(message)
    try:
        recent = await runtime.get_memories(room_id=message.room_id, count=RECENT_MESSAGES_SCANNED)
    except Exception:
        log.exception("ATTACHMENTS could not read recent messages; showing this message's only")
        recent = []
    for memory in sorted(recent, key=lambda m: m.created_at, reverse=True):
        if memory.id != message.id:
            items += _attachments(memory)
    unique: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items:
        key = str(item.get("id") or item.get("url") or len(unique))
        if key not in seen:
            seen.add(key)
            unique.append(item)
    text = add_header("# Attachments", "\n".join(format_attachment(a) for a in unique))
    return ProviderResult(text=text, values={"attachments": text}, data={"attachments": unique})


ATTACHMENTS = Provider(
    name="ATTACHMENTS",
    description="Files, images and links shared in this conversation, with their descriptions.",
    dynamic=True,
    get=get_attachments,
)
