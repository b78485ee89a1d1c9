"""Doubles for the bootstrap tests: a scripted in-process model and runtime builders."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterable
from typing import Any

from services.model_worker.embedding import hashed_embedding
from services.orchestrator.runtime.agent_runtime import AgentRuntime
from shared.character import Character
from shared.eventstore.memory import InMemoryEventStore
from shared.plugin import Action, Content, Evaluator, Memory, Provider, Runtime

DIMENSIONS = 384


class ScriptedModel:
    """Answers model calls from per-type queues of canned outputs; records every call.

    TEXT_EMBEDDING answers with a real hashed embedding unless scripted; any other unscripted
    call raises, so a test notices a model call it did not expect.
    """

    def __init__(self, **answers: Iterable[Any]) -> None:
        self.answers: dict[str, deque[Any]] = {k: deque(v) for k, v in answers.items()}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def add(self, model_type: str, *answers: Any) -> None:
        """Queue more answers for a model type."""
        self.answers.setdefault(model_type, deque()).extend(answers)

    def prompts(self, model_type: str) -> list[str]:
        """The prompts sent to a model type, in order."""
        return [str(p.get("prompt", "")) for t, p in self.calls if t == model_type]

    def register(self, runtime: AgentRuntime) -> None:
        """Register this double for every model type the bootstrap plugin uses."""
        for model_type in ("TEXT_SMALL", "TEXT_LARGE", "TEXT_EMBEDDING", "OBJECT_SMALL", "IMAGE"):
            runtime.register_model(model_type, self._handler(model_type), "scripted-test", 10)

    def _handler(self, model_type: str) -> Any:
        async def handle(runtime: Runtime, params: dict[str, Any]) -> Any:
            self.calls.append((model_type, dict(params)))
            queue = self.answers.get(model_type)
            if queue:
                answer = queue.popleft()
                if isinstance(answer, Exception):
                    raise answer
                return answer
            if model_type == "TEXT_EMBEDDING":
                return hashed_embedding(str(params.get("text") or ""), DIMENSIONS)
            raise AssertionError(f"unexpected {model_type} call: {params.get('prompt', params)}")

        return handle


def make_runtime(
    model: ScriptedModel | None = None,
    *,
    character: Character | None = None,
    providers: Iterable[Provider] = (),
    actions: Iterable[Action] = (),
    evaluators: Iterable[Evaluator] = (),
    db: Any = None,
) -> AgentRuntime:
    """An AgentRuntime on an in-memory event store with the given parts registered."""
    runtime = AgentRuntime(character or Character(name="Ada"), InMemoryEventStore(), db=db)
    (model or ScriptedModel()).register(runtime)
    for provider in providers:
        runtime.register_provider(provider)
    for action in actions:
        runtime.register_action(action)
    for evaluator in evaluators:
        runtime.register_evaluator(evaluator)
    return runtime


def message(
    runtime: Runtime,
    text: str,
    *,
    room_id: uuid.UUID | None = None,
    entity_id: uuid.UUID | None = None,
    world_id: uuid.UUID | None = None,
    **content: Any,
) -> Memory:
    """A message from someone (a fresh entity unless given) in a room."""
    return Memory(
        entity_id=entity_id or uuid.uuid4(),
        agent_id=runtime.agent_id,
        room_id=room_id or uuid.uuid4(),
        world_id=world_id,
        content={"text": text, "source": "test", **content},
    )


class Sent:
    """A HandlerCallback double that keeps what actions sent."""

    def __init__(self) -> None:
        self.contents: list[Content] = []

    async def __call__(self, content: Content) -> list[Memory]:
        self.contents.append(content)
        return []
