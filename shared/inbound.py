"""What an inbound message may hold, checked before anything else is done with it.

A body that breaks these rules is refused at once with a reason that says what to fix
(`InvalidInputError`, a permanent failure: it is dead-lettered, never retried): over the size
limits (`ELIZABUS_MAX_MESSAGE_BYTES`, `_MAX_TEXT_CHARS`, `_MAX_ATTACHMENTS`, `_MAX_FIELD_CHARS`),
not valid JSON or not a `MessageReceived`, or holding NUL (U+0000) in any field: Postgres text and
jsonb cannot store NUL, so it is refused rather than silently altered. Unpaired surrogates and bytes
that are not UTF-8 are refused by the JSON parser (invalid JSON).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from shared.errors import InvalidInputError
from shared.messages import MessageReceived
from shared.settings import Settings

__all__ = ["InboundLimits", "parse_inbound"]


@dataclass(frozen=True)
class InboundLimits:
    """The sizes an inbound message may reach (defaults: the settings' defaults)."""

    max_body_bytes: int = 256 * 1024
    max_text_chars: int = 32_000
    max_attachments: int = 16
    max_field_chars: int = 2048

    @classmethod
    def of(cls, settings: Settings) -> InboundLimits:
        """The limits the settings give."""
        return cls(
            max_body_bytes=settings.max_message_bytes,
            max_text_chars=settings.max_text_chars,
            max_attachments=settings.max_attachments,
            max_field_chars=settings.max_field_chars,
        )


def parse_inbound(body: bytes, limits: InboundLimits) -> MessageReceived:
    """The message in `body`, or InvalidInputError saying what is wrong with it."""
    if len(body) > limits.max_body_bytes:
        raise InvalidInputError(
            f"message body of {len(body)} bytes is over the limit of {limits.max_body_bytes} "
            "(ELIZABUS_MAX_MESSAGE_BYTES): send large content as an attachment URL"
        )
    try:
        message = MessageReceived.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidInputError(f"invalid message.received body: {_summary(exc)}") from exc
    if len(message.content.text) > limits.max_text_chars:
        raise InvalidInputError(
            f"content.text has {len(message.content.text)} characters, over the limit of "
            f"{limits.max_text_chars} (ELIZABUS_MAX_TEXT_CHARS): split the message"
        )
    if len(message.content.attachments) > limits.max_attachments:
        raise InvalidInputError(
            f"{len(message.content.attachments)} attachments, over the limit of "
            f"{limits.max_attachments} (ELIZABUS_MAX_ATTACHMENTS)"
        )
    for path, text in _strings(message.model_dump(mode="json")):
        if "\x00" in text:
            raise InvalidInputError(
                f"{path} contains NUL (U+0000), which cannot be stored: remove it"
            )
        if path != "content.text" and len(text) > limits.max_field_chars:
            raise InvalidInputError(
                f"{path} has {len(text)} characters, over the limit of {limits.max_field_chars} "
                "(ELIZABUS_MAX_FIELD_CHARS)"
            )
    return message


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a JSON value, with its dotted path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def _summary(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<body>'}: {e['msg']}" for e in exc.errors()
    )
