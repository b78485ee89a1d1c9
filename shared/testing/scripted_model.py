"""`ScriptedModel`: a deterministic, offline model double, for tests and for when no API key is set.

It is the model double of unit tests (in process: `register` or `as_plugin`) and the model the
model worker serves offline (`ELIZABUS_MODEL_PROVIDER=scripted`, or no API key).
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable, Mapping
from hashlib import blake2b
from typing import Any, NamedTuple

from shared.hashed_embedding import hashed_embedding
from shared.messages import ModelRequest
from shared.model_types import ModelType
from shared.plugin import ModelHandlerFn, Plugin, Runtime

TEXT_TYPES = frozenset(
    {
        ModelType.TEXT_SMALL,
        ModelType.TEXT_LARGE,
        ModelType.TEXT_REASONING_SMALL,
        ModelType.TEXT_REASONING_LARGE,
        ModelType.TEXT_COMPLETION,
    }
)
OBJECT_TYPES = frozenset({ModelType.OBJECT_SMALL, ModelType.OBJECT_LARGE})

GENERIC_REPLY = "Hello! I'm here and listening. What would you like to talk about?"
_OPENERS = ("I hear you", "Got it", "Thanks for telling me", "Interesting", "Understood")
_SNIPPET_CHARS = 200
_XML_SAFE = str.maketrans({"<": "\uff1c", ">": "\uff1e", "&": "\uff06"})  # fullwidth forms

_HEADER = re.compile(r"^\s*#+\s*(?P<title>.*?)\s*$")
_CURRENT = re.compile(r"\b(current|received|latest|new|incoming|last)\s+message\b", re.I)
_CONVERSATION = re.compile(r"conversation|messages|chat history|dialog", re.I)
# "10:02 (2 minutes ago) [entity-id] Alice: text" or plain "Alice: text"
_SPEAKER_LINE = re.compile(
    r"^(?:.*?\]\s+)?(?P<name>[^:\[\]{}\"\n#*-][^:\[\]{}\"\n]{0,63}?):\s+(?P<text>\S.*)$"
)
_AGENT_NAME = (
    re.compile(r"for the character\s+\**([^\s.,*:]+)", re.I),
    re.compile(r"on behalf of\s+\**([^\s.,*:]+)", re.I),
    re.compile(r"\b[Yy]ou are\s+\**([A-Z][^\s.,*:]*)"),
    re.compile(r"<name>\s*([^<{}\s][^<{}]*?)\s*</name>"),
)
_JSON_BLOCK = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.S)
_TEXT_KEYS = frozenset({"text", "message", "reply", "response", "answer", "content"})


class ModelCall(NamedTuple):
    """One call the double answered: the model type and the params it was called with."""

    model_type: ModelType
    params: dict[str, Any]


class ScriptedModel:
    """A deterministic model DOUBLE: answers every model type offline, with no API key.

    It stands in for a real LLM in development, tests and benchmarks: TEXT_EMBEDDING is a real
    hashed embedding; text types answer in the format the prompt asks for (ElizaOS's XML
    `<response>` reply, the shouldRespond decision, JSON, or plain text) with a reply derived
    from the last user message; other types return small documented placeholders.

    `script` maps a model type to canned results returned in order before the defaults (an
    exception instance in the list is raised instead); `add` queues more. With `strict=True` a
    call with nothing scripted raises AssertionError instead of answering the default (except
    TEXT_EMBEDDING, always answered), so a test notices a model call it did not expect. Every
    call is recorded in `.calls` as a `ModelCall` unless `record_calls=False` (the long-running
    worker turns it off so memory stays flat).
    """

    provider = "scripted"
    supported: frozenset[ModelType] = frozenset(ModelType)
    max_concurrency = 1  # CPU-only: a worker runs its requests one at a time, fastest

    def __init__(
        self,
        script: Mapping[ModelType, Iterable[Any]] | None = None,
        *,
        strict: bool = False,
        dimensions: int = 384,
        record_calls: bool = True,
    ) -> None:
        self.dimensions = dimensions
        self.strict = strict
        self.calls: list[ModelCall] = []
        self._record = record_calls
        self._script: dict[ModelType, deque[Any]] = {
            ModelType(model_type): deque(results) for model_type, results in (script or {}).items()
        }

    def add(self, model_type: ModelType, *results: Any) -> None:
        """Queue more canned results for a model type."""
        self._script.setdefault(ModelType(model_type), deque()).extend(results)

    def prompts(self, model_type: ModelType) -> list[str]:
        """The prompts sent to a model type, in order."""
        return [str(c.params.get("prompt", "")) for c in self.calls if c.model_type == model_type]

    async def handle(self, request: ModelRequest) -> Any:
        """The double's result for `request`: the next scripted one, else the default."""
        return self.respond(request.model_type, request.params)

    def respond(self, model_type: ModelType, params: Mapping[str, Any]) -> Any:
        """Record the call, then answer it: the next scripted result, else (unless strict) the
        default."""
        if self._record:
            self.calls.append(ModelCall(model_type, dict(params)))
        queue = self._script.get(model_type)
        if queue:
            result = queue.popleft()
            if isinstance(result, BaseException):
                raise result
            return result
        if self.strict and model_type is not ModelType.TEXT_EMBEDDING:
            raise AssertionError(
                f"unexpected {model_type.value} call: {params.get('prompt', params)} (script an "
                "answer with ScriptedModel({...}) or .add(), or use strict=False)"
            )
        return self.answer(model_type, params)

    def handler(self, model_type: ModelType) -> ModelHandlerFn:
        """An in-process model handler answering `model_type` with this double."""

        async def call(runtime: Runtime, params: dict[str, Any]) -> Any:
            return self.respond(model_type, params)

        return call

    def register(self, runtime: Runtime, priority: int = 0) -> None:
        """Serve every model type on `runtime` in process, now (no `initialize()` needed)."""
        for model_type in ModelType:
            runtime.register_model(
                model_type.value, self.handler(model_type), self.provider, priority
            )

    def as_plugin(self, name: str = "scripted-models", priority: int = 0) -> Plugin:
        """This double as an in-process model plugin serving every model type, registered at
        `initialize()` (unit tests and offline runs without a model worker)."""
        return Plugin(
            name=name, priority=priority, models={t.value: self.handler(t) for t in ModelType}
        )

    def answer(self, model_type: ModelType, params: Mapping[str, Any]) -> Any:
        """The double's default, deterministic result for one model type and its params."""
        if model_type is ModelType.TEXT_EMBEDDING:
            text = params.get("text")
            if isinstance(text, list):  # a batch: one vector per text
                return [
                    hashed_embedding(t if isinstance(t, str) else None, self.dimensions)
                    for t in text
                ]
            return hashed_embedding(text if isinstance(text, str) else None, self.dimensions)
        if model_type in TEXT_TYPES:
            return scripted_text(_prompt(params))
        if model_type in OBJECT_TYPES:
            return scripted_object(_prompt(params), params.get("schema"))
        if model_type is ModelType.TEXT_TOKENIZER_ENCODE:
            return list(_prompt(params).encode())
        if model_type is ModelType.TEXT_TOKENIZER_DECODE:
            tokens = params.get("tokens") or []
            return bytes(int(t) & 0xFF for t in tokens).decode("utf-8", errors="replace")
        return _placeholder(model_type, params)


def _prompt(params: Mapping[str, Any]) -> str:
    for key in ("prompt", "text", "input"):
        value = params.get(key)
        if isinstance(value, str):
            return value
    return ""


def _digest(text: str) -> int:
    return int.from_bytes(blake2b(text.encode(), digest_size=4).digest(), "little")


def scripted_text(prompt: str) -> str:
    """The double's text answer, in the format `prompt` asks for."""
    agent = agent_name(prompt)
    message = last_user_message(prompt, agent)
    if _asks_should_respond(prompt):
        agent_name_safe = agent.translate(_XML_SAFE)
        return (
            f"<response><name>{agent_name_safe}</name>"
            f"<reasoning>{_thought(message)}</reasoning>"
            "<action>RESPOND</action></response>"
        )
    if "<response>" in prompt:
        return (
            f"<response><thought>{_thought(message)}</thought>"
            "<actions>REPLY</actions><providers></providers>"
            f"<text>{reply_to(message)}</text></response>"
        )
    if "json" in prompt.lower():
        return json.dumps(_json_answer(prompt, message))
    return reply_to(message)


def scripted_object(prompt: str, schema: Any = None) -> dict[str, Any]:
    """The double's object answer: shaped by a JSON schema or the prompt's JSON example."""
    message = last_user_message(prompt, agent_name(prompt))
    if isinstance(schema, Mapping) and isinstance(schema.get("properties"), Mapping):
        return {
            key: _value_for_schema(key, spec, message) for key, spec in schema["properties"].items()
        }
    return _json_answer(prompt, message)


def agent_name(prompt: str) -> str:
    """The agent's name as the prompt states it, else "Agent"."""
    for pattern in _AGENT_NAME:
        found = pattern.search(prompt)
        if found:
            return found.group(1).strip()
    return "Agent"


def last_user_message(prompt: str, agent: str = "") -> str | None:
    """The message the prompt asks to answer, or None when the prompt has none to find.

    Looks first for a "# Current message" style section, then for the last "Name: text"
    line (not by `agent`) inside a conversation/messages section.
    """
    lines = prompt.splitlines()
    current = _section_after(lines, _CURRENT)
    if current:
        return current
    in_conversation = False
    found: str | None = None
    in_fence = False
    for line in lines:
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        header = None if in_fence else _HEADER.match(line)
        if header:
            in_conversation = bool(_CONVERSATION.search(header.group("title")))
            continue
        if in_fence or not in_conversation:
            continue
        spoken = _SPEAKER_LINE.match(line.strip())
        if spoken and spoken.group("name").strip() != agent:
            found = spoken.group("text").strip()
    return found


def _section_after(lines: list[str], title: re.Pattern[str]) -> str | None:
    for index, line in enumerate(lines):
        header = _HEADER.match(line)
        if not header or not title.search(header.group("title")):
            continue
        body: list[str] = []
        for following in lines[index + 1 :]:
            if _HEADER.match(following) or (body and not following.strip()):
                break
            if following.strip():
                body.append(following.strip())
        if body:
            text = " ".join(body)
            spoken = _SPEAKER_LINE.match(text)
            return spoken.group("text").strip() if spoken else text
    return None


def _snippet(message: str) -> str:
    """The message on one line, cut short, with `<`, `>` and `&` swapped for their fullwidth forms.

    The swap keeps the double's XML well-formed without entities (which lenient regex parsers
    would show verbatim as `&lt;`).
    """
    text = " ".join(message.split()).translate(_XML_SAFE)
    return text if len(text) <= _SNIPPET_CHARS else text[: _SNIPPET_CHARS - 1] + "…"


def reply_to(message: str | None) -> str:
    """The double's deterministic reply to a user message (generic when there is none)."""
    if not message or not message.strip():
        return GENERIC_REPLY
    opener = _OPENERS[_digest(message) % len(_OPENERS)]
    return f'{opener}: "{_snippet(message)}". Tell me more.'


def _thought(message: str | None) -> str:
    if not message:
        return "No message to answer; greet and invite the user to talk."
    return f'The user said "{_snippet(message)}"; a short friendly reply fits.'


def _asks_should_respond(prompt: str) -> bool:
    if "RESPOND" not in prompt or "IGNORE" not in prompt:
        return False
    return "<action>" in prompt or "<actions>" not in prompt


def _json_answer(prompt: str, message: str | None) -> dict[str, Any]:
    for block in _JSON_BLOCK.findall(prompt):
        try:
            example = json.loads(block)
        except ValueError:
            continue
        if isinstance(example, dict) and example:
            return {key: _like(key, value, message) for key, value in example.items()}
    return {"thought": _thought(message), "text": reply_to(message), "actions": ["REPLY"]}


def _like(key: str, example: Any, message: str | None) -> Any:
    lowered = key.lower()
    if lowered in ("actions", "action"):
        return ["REPLY"] if isinstance(example, list) else "REPLY"
    if isinstance(example, bool):
        return True
    if isinstance(example, int | float):
        return 0
    if isinstance(example, list):
        return []
    if isinstance(example, dict):
        return {k: _like(k, v, message) for k, v in example.items()}
    if lowered in ("thought", "reasoning"):
        return _thought(message)
    return reply_to(message) if lowered in _TEXT_KEYS else f"scripted {key}"


def _value_for_schema(key: str, spec: Any, message: str | None) -> Any:
    kind = spec.get("type") if isinstance(spec, Mapping) else None
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if isinstance(spec, Mapping) and spec.get("enum"):
        return spec["enum"][0]
    if kind == "object" and isinstance(spec, Mapping):
        props = spec.get("properties") or {}
        return {k: _value_for_schema(k, v, message) for k, v in props.items()}
    defaults: dict[str, Any] = {"boolean": True, "integer": 0, "number": 0.0, "array": []}
    if kind in defaults:
        return defaults[kind]
    return _like(key, "", message)


def _placeholder(model_type: ModelType, params: Mapping[str, Any]) -> Any:
    """The double's small stand-ins for media types; no real media is ever produced."""
    seed = f"{_digest(json.dumps(params, sort_keys=True, default=str)):08x}"
    if model_type is ModelType.IMAGE:
        return [{"url": f"https://scripted.invalid/image/{seed}.png"}]
    if model_type is ModelType.IMAGE_DESCRIPTION:
        return {"title": "A scripted image", "description": f"Placeholder description {seed}."}
    if model_type is ModelType.TRANSCRIPTION:
        return f"(scripted transcription {seed})"
    if model_type is ModelType.TEXT_TO_SPEECH:
        return {"audio_base64": "", "content_type": "audio/wav", "note": f"scripted {seed}"}
    return {"model_type": model_type.value, "placeholder": seed}
