"""ElizaOS character files: loaded unchanged, validated with errors that name the field."""

from __future__ import annotations

import json
import logging
import re
import uuid
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.errors import ConfigurationError
from shared.ids import string_to_uuid

log = logging.getLogger(__name__)

DEFAULT_CHARACTER = Path(__file__).with_name("default_character.json")

NAME_PLACEHOLDER = re.compile(r"\{\{\s*(?:name|agentName)\s*\}\}")
"""`{{name}}` and `{{agentName}}` in a character's texts stand for the character's own name."""

_TEXT_FIELDS = ("system", "bio", "lore", "message_examples", "post_examples", "topics",
                "adjectives", "style")  # fmt: skip
"""The fields whose texts go into prompts as they are (templates are rendered separately)."""


class CharacterStyle(BaseModel):
    """How the character writes: always, in chat, in posts."""

    model_config = ConfigDict(extra="allow")
    all: list[str] = Field(default_factory=list)
    chat: list[str] = Field(default_factory=list)
    post: list[str] = Field(default_factory=list)


class Character(BaseModel):
    """An agent's personality and configuration, in ElizaOS's character JSON shape."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: uuid.UUID | None = None
    name: str = Field(min_length=1)
    username: str | None = None
    system: str | None = None
    bio: list[str] = Field(default_factory=list)
    message_examples: list[Any] = Field(default_factory=list, alias="messageExamples")
    post_examples: list[str] = Field(default_factory=list, alias="postExamples")
    topics: list[str] = Field(default_factory=list)
    adjectives: list[str] = Field(default_factory=list)
    knowledge: list[Any] = Field(default_factory=list)
    plugins: list[str] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, Any] = Field(default_factory=dict)
    style: CharacterStyle = Field(default_factory=CharacterStyle)
    templates: dict[str, Any] = Field(default_factory=dict)
    _source_dir: Path | None = PrivateAttr(default=None)

    @property
    def source_dir(self) -> Path | None:
        """The folder of the file the character was loaded from (relative `knowledge` paths are
        read from there); None for a character built in code."""
        return self._source_dir

    @field_validator("bio", mode="before")
    @classmethod
    def _bio_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _fill_in_the_name(self) -> Character:
        """Replace `{{name}}` / `{{agentName}}` in bio, lore, system, examples, topics,
        adjectives and style with the character's name, so no prompt shows them raw
        (`{{name1}}`-style example speakers are left for the examples' own renaming)."""
        for field_name in _TEXT_FIELDS:
            value = getattr(self, field_name, None)
            if value is None and self.model_extra is not None:
                value = self.model_extra.get(field_name)
            if value is None:
                continue
            filled = _fill(value, self.name)
            if field_name in type(self).model_fields:
                object.__setattr__(self, field_name, filled)
            elif self.model_extra is not None:
                self.model_extra[field_name] = filled
        return self

    @property
    def agent_id(self) -> uuid.UUID:
        """The agent's id: the character's own, or ElizaOS's `stringToUuid(name)` (as ElizaOS's
        AgentRuntime derives it), so the same character has the same id in both."""
        return self.id or string_to_uuid(self.name)


ELIZAOS_CHARACTER_KEYS = frozenset({
    "id", "name", "username", "system", "templates", "bio", "messageExamples", "postExamples",
    "topics", "adjectives", "knowledge", "plugins", "settings", "secrets", "style",
})  # fmt: skip
"""The keys of ElizaOS 1.x's Character type."""


def elizaos_shape_problems(raw: object, where: str) -> list[str]:
    """What ElizaOS's character validation refuses in `raw` (no `bio`), as "field: problem"
    lines; keys ElizaOS does not know are logged as a warning (elizabus keeps them, ElizaOS
    would reject the file)."""
    if not isinstance(raw, dict):
        return ["<root>: a character is a JSON object with at least a name and a bio"]
    problems = []
    if "bio" not in raw:
        problems.append("bio: ElizaOS requires it (a string or a list of strings)")
    unknown = sorted(set(raw) - ELIZAOS_CHARACTER_KEYS)
    if unknown:
        log.warning(
            "character %s has keys ElizaOS does not know: %s (kept, but ElizaOS would reject "
            "this file; move them under `settings`)",
            where,
            ", ".join(unknown),
        )
    return problems


def _fill(value: Any, name: str) -> Any:
    """`value` with the name placeholders replaced in every string it holds."""
    if isinstance(value, str):
        return NAME_PLACEHOLDER.sub(lambda _: name, value)
    if isinstance(value, list):
        return [_fill(v, name) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, name) for k, v in value.items()}
    if isinstance(value, BaseModel):
        return value.model_copy(update={k: _fill(v, name) for k, v in dict(value).items()})
    return value


def load_character(path: Path | None = None) -> Character:
    """Read and validate a character file; the shipped default when no path is given.

    Besides the field types, the file must have ElizaOS's required `bio`; unknown keys are
    logged (`elizaos_shape_problems`). Every problem found is listed in the error."""
    path = path or DEFAULT_CHARACTER
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read character file {path}: {exc}") from exc
    except ValueError as exc:
        raise ConfigurationError(f"character file {path} is not valid JSON: {exc}") from exc
    problems = elizaos_shape_problems(raw, f"file {path}")
    character: Character | None = None
    try:
        character = Character.model_validate(raw)
    except ValidationError as exc:
        problems += [
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        ]
    if problems or character is None:
        raise ConfigurationError(f"character file {path} is invalid: {'; '.join(problems)}")
    character._source_dir = path.resolve().parent
    return character
