"""Doubles for the bootstrap tests: a scripted in-process model and runtime builders."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterable
from typing import Any

from services.model_worker.embedding import hashed_embedding
from shared.character import Character
from shared.eventstore.memory import InMemoryEventStore
from shared.plugin import Action, Content, Evaluator, Memory, Provider, Runtime
from shared.runtime.agent_runtime import AgentRuntime

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


class Scene:
    """A world with one room and some people in it, written through the runtime's API."""

    def __init__(self, runtime: AgentRuntime, names: list[str], room_type: str) -> None:
        self.runtime = runtime
        self.names = names
        self.room_type = room_type
        self.world_id = uuid.uuid4()
        self.room_id = uuid.uuid4()
        self.people = {name: uuid.uuid4() for name in names}
        self._clock = 1_000_000

    async def build(self, world_metadata: dict[str, Any] | None = None) -> Scene:
        """Create the world, the room, the people and the participants (the agent too)."""
        from shared.records import Entity, Room, World

        rt, agent = self.runtime, self.runtime.agent_id
        await rt.ensure_world_exists(
            World(id=self.world_id, agent_id=agent, name="Guild", metadata=world_metadata or {})
        )
        await rt.ensure_room_exists(
            Room(
                id=self.room_id,
                agent_id=agent,
                name="general",
                type=self.room_type,
                world_id=self.world_id,
            )
        )
        for name, entity_id in self.people.items():
            await rt.create_entity(Entity(id=entity_id, agent_id=agent, names=[name]))
            await rt.add_participant(entity_id, self.room_id)
        await rt.add_participant(agent, self.room_id)
        return self

    def said(self, name: str, text: str, **content: Any) -> Memory:
        """A message from `name` (or the agent, by its character name) in the room."""
        self._clock += 1000
        who = self.people.get(name, self.runtime.agent_id)
        return Memory(
            entity_id=who,
            agent_id=self.runtime.agent_id,
            room_id=self.room_id,
            world_id=self.world_id,
            created_at=self._clock,
            content={"text": text, "source": "test", "channelType": self.room_type, **content},
        )

    async def store(self, name: str, text: str, **content: Any) -> Memory:
        """Store a message from `name` in the room and return it."""
        memory = self.said(name, text, **content)
        await self.runtime.create_memory(memory)
        return memory


async def scene(
    model: ScriptedModel | None = None,
    names: list[str] | None = None,
    *,
    room_type: str = "GROUP",
    world_metadata: dict[str, Any] | None = None,
    providers: Iterable[Provider] = (),
    actions: Iterable[Action] = (),
    evaluators: Iterable[Evaluator] = (),
    character: Character | None = None,
) -> Scene:
    """A runtime on the in-memory read model, with a world, a room and people in it."""
    from shared.readmodel.memory import InMemoryAgentReadModel

    character = character or Character(name="Ada")
    store = InMemoryEventStore()
    runtime = AgentRuntime(character, store, db=InMemoryAgentReadModel(store, character.agent_id))
    (model or ScriptedModel()).register(runtime)
    for provider in providers:
        runtime.register_provider(provider)
    for action in actions:
        runtime.register_action(action)
    for evaluator in evaluators:
        runtime.register_evaluator(evaluator)
    return await Scene(runtime, names or ["Ann", "Bob"], room_type).build(world_metadata)
