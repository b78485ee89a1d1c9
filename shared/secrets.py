"""Keeps characters' secrets out of the event log, the bus and the logs.

A `Scrubber` knows the secret values of the agents a process hosts and replaces any occurrence
of them in event data, outbound messages and log records with a marker. Values shorter than
MIN_SECRET_LENGTH are not scrubbed (they would blank ordinary words and numbers); keep real
secrets long, as API keys are.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

import pydantic_core

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 6


class Scrubber:
    """Replaces known secret values in strings, nested JSON data, and log records."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, values))) if values else None

    def __bool__(self) -> bool:
        """Whether there is anything to scrub."""
        return self._pattern is not None

    def text(self, value: str) -> str:
        """`value` with every secret replaced by REDACTED."""
        return self._pattern.sub(REDACTED, value) if self._pattern is not None else value

    def data(self, value: Any) -> Any:
        """A copy of JSON-like `value` (dicts, lists, strings) with secrets replaced; other values
        are returned as they are."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return value

    def json_bytes(self, body: bytes) -> bytes:
        """A JSON document with secrets replaced in its string values (parsed and re-encoded;
        returned as it is when there is nothing to scrub)."""
        if self._pattern is None:
            return body
        return pydantic_core.to_json(self.data(pydantic_core.from_json(body)))

    def log_filter(self) -> logging.Filter:
        """A logging filter that scrubs each record's formatted message (attach it to handlers)."""
        return _ScrubbingFilter(self)


class _ScrubbingFilter(logging.Filter):
    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__()
        self.scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        if self.scrubber:
            message = record.getMessage()
            scrubbed = self.scrubber.text(message)
            if scrubbed != message:
                record.msg, record.args = scrubbed, None
            if record.exc_info and record.exc_info[1] is not None:
                text = logging.Formatter().formatException(record.exc_info)
                record.exc_text = self.scrubber.text(text)
        return True


def install_log_scrubber(scrubber: Scrubber) -> None:
    """Scrub every record that reaches the root logger's handlers (once per handler: a filter
    already there is replaced, so starting a service twice in one process stacks nothing)."""
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, _ScrubbingFilter)]:
            handler.removeFilter(old)
        if scrubber:
            handler.addFilter(scrubber.log_filter())
