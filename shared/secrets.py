"""Keeps secrets out of the event log, the bus and the logs.

A `Scrubber` replaces secret values wherever they occur in event data, outbound messages, dead
letters and log records with a marker. It knows three kinds of secrets:

- the characters' secrets (`secrets`, `settings.secrets`) and settings whose name looks secret;
- the process environment's secrets (`environment_secrets`): every variable whose name looks
  like a key, token, secret or password (ELIZABUS_OPENAI_API_KEY, OPENAI_API_KEY, PGPASSWORD,
  ...), since `get_setting` falls back to the environment;
- secrets learnt while running (`remember_secrets`): the values of world settings marked
  `secret`, registered when a world is read or written. Every Scrubber of the process scrubs
  them, the log filter included.

Credentials written in a URL (`scheme://user:password@host`) are always replaced, whatever the
password. Values shorter than MIN_SECRET_LENGTH are not scrubbed by value (they would blank
ordinary words and numbers); keep real secrets long, as API keys are.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pydantic_core

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 6

SECRET_NAME_ENDINGS = (
    "KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASS", "PASSPHRASE", "SALT",
    "CREDENTIAL", "CREDENTIALS", "PRIVATE",
)  # fmt: skip
"""A setting or environment variable whose name ends with one of these (after upper-casing,
e.g. OPENAI_API_KEY, PGPASSWORD, DISCORD_BOT_TOKEN) holds a secret."""
SECRET_NAME_WORDS = frozenset({"SECRET", "TOKEN", "PASSWORD", "APIKEY", "CREDENTIALS"})
"""... and so does one with one of these between underscores (AWS_SECRET_ACCESS_KEY_ID)."""

WORLD_EVENTS = frozenset({"world.created", "world.updated"})
"""Events that store a world's settings: a secret setting's value is kept there (the log is
where it lives) and scrubbed everywhere else."""

# Linear: it starts only at "://" and each class stops at "/", a blank or "@".
_URL_CREDENTIALS = re.compile(r"://([^/\s:@]*):([^/\s@]+)@")
_URL_CREDENTIALS_BYTES = re.compile(rb"://([^/\s:@]*):([^/\s@]+)@")


def looks_secret(name: str) -> bool:
    """Whether a setting or variable called `name` holds a secret, judging by its name."""
    upper = name.upper()
    return upper.endswith(SECRET_NAME_ENDINGS) or bool(SECRET_NAME_WORDS & set(upper.split("_")))


def environment_secrets(environment: Mapping[str, str] | None = None) -> list[str]:
    """The secret values of the environment (`os.environ` by default): variables whose name
    `looks_secret`, and the passwords written in URL-valued variables."""
    env = os.environ if environment is None else environment
    found = [v for k, v in env.items() if v and looks_secret(k)]
    for value in env.values():
        found += [m.group(2) for m in _URL_CREDENTIALS.finditer(value or "")]
    return found


def secret_setting_values(settings: Any) -> list[str]:
    """The values of the settings marked `secret` in world settings ({KEY: {"value", "secret"}})
    or in any mapping of settings whose key `looks_secret`."""
    if not isinstance(settings, Mapping):
        return []
    found = []
    for key, setting in settings.items():
        if isinstance(setting, Mapping):
            value, secret = setting.get("value"), bool(setting.get("secret"))
        else:
            value, secret = setting, False
        if (secret or looks_secret(str(key))) and isinstance(value, str | int) and str(value):
            found.append(str(value))
    return found


def redact_url(url: str) -> str:
    """`url` fit for an error message: without its user, password and query string."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _URL_CREDENTIALS.sub("://" + REDACTED + "@", url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{REDACTED}@{host}" if "@" in parts.netloc else parts.netloc
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class _Learnt:
    """The secrets a process learnt while running (world settings marked secret)."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        self.generation = 0
        self.lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        new = {v for v in values if len(v) >= MIN_SECRET_LENGTH} - self.values
        if new:
            with self.lock:
                self.values |= new
                self.generation += 1


_LEARNT = _Learnt()


def remember_secrets(values: Iterable[str]) -> None:
    """Add secrets learnt at run time (a world's secret settings): every Scrubber of this
    process scrubs them from now on."""
    _LEARNT.add(values)


def remember_world_secrets(metadata: Any) -> None:
    """Remember the values of the settings marked secret in a world's metadata."""
    if isinstance(metadata, Mapping):
        remember_secrets(secret_setting_values(metadata.get("settings")))


_NUMBERS = frozenset({float, int})


class Scrubber:
    """Replaces known secret values and URL credentials in strings, nested JSON data, bytes and
    log records."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._own = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        self._generation = -1
        self._pattern: re.Pattern[str] | None = None
        self._bytes_pattern: re.Pattern[bytes] | None = None
        self._compile()

    def _compile(self) -> None:
        if self._generation == _LEARNT.generation:
            return
        with _LEARNT.lock:
            learnt, self._generation = set(_LEARNT.values), _LEARNT.generation
        values = sorted(self._own | learnt, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, values))) if values else None
        encoded = [re.escape(v.encode("utf-8", "surrogatepass")) for v in values]
        self._bytes_pattern = re.compile(b"|".join(encoded)) if encoded else None

    def __bool__(self) -> bool:
        """Always true: URL credentials are scrubbed even when no secret value is known."""
        return True

    def text(self, value: str) -> str:
        """`value` with every secret and every URL password replaced by REDACTED."""
        self._compile()
        if self._pattern is not None:
            value = self._pattern.sub(REDACTED, value)
        if "://" in value:
            value = _URL_CREDENTIALS.sub(r"://\1:" + REDACTED + "@", value)
        return value

    def raw(self, value: bytes) -> bytes:
        """`value` (bytes that may not be text) with every secret's UTF-8 bytes replaced."""
        self._compile()
        if self._bytes_pattern is not None:
            value = self._bytes_pattern.sub(REDACTED.encode(), value)
        if b"://" in value:
            value = _URL_CREDENTIALS_BYTES.sub(rb"://\1:" + REDACTED.encode() + b"@", value)
        return value

    def data(self, value: Any) -> Any:
        """A copy of JSON-like `value` (dicts, lists, strings) with secrets replaced; other values
        are returned as they are."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            if _NUMBERS.issuperset(map(type, value)):  # an embedding: nothing to scrub, fast
                return list(value)
            return [self.data(v) for v in value]
        return value

    def event_data(self, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        """An event's data scrubbed. A world's own events keep the values of its secret
        settings (the log is where they are kept), and are scrubbed everywhere else."""
        if event_type not in WORLD_EVENTS:
            scrubbed: dict[str, Any] = self.data(data)
            return scrubbed
        remember_world_secrets(data.get("metadata"))
        settings = (data.get("metadata") or {}).get("settings")
        scrubbed = self.data(data)
        if isinstance(settings, dict):
            kept = scrubbed["metadata"]["settings"]
            for key, setting in settings.items():
                if isinstance(setting, dict) and setting.get("secret") and "value" in setting:
                    kept[key] = {**kept[key], "value": setting["value"]}
        return scrubbed

    def json_bytes(self, body: bytes) -> bytes:
        """A JSON document with secrets replaced in its string values (parsed and re-encoded;
        returned as it is when it holds nothing to scrub)."""
        self._compile()
        if b"://" not in body and (
            self._bytes_pattern is None or self._bytes_pattern.search(body) is None
        ):
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
        handler.addFilter(scrubber.log_filter())
