"""Runtime builders for the bootstrap tests, on shared.testing's doubles: a runtime with some
parts registered, and a scene (a world, a room and people in it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from shared.character import Character
from shared.plugin import Action, Content, Evaluator, Memory, Provider, Runtime
from shared.runtime.agent_runtime import AgentRuntime
from shared.testing import ScriptedModel, make_test_runtime


def make_runtime(
    model: ScriptedModel | None = None,
    *,
    character: Character | None = None,
    providers: Iterable[Provider] = (),
    actions: Iterable[Action] = (),
    evaluators: Iterable[Evaluator] = (),
) -> AgentRuntime:
    """A runtime without a read model (`make_test_runtime(read_model=False)`) with the given
    parts registered; the model double is strict unless given."""
    runtime = make_test_runtime(
        character, model=model or ScriptedModel(strict=True), read_model=False
    )
    register(runtime, providers, actions, evaluators)
    return runtime


def register(
    runtime: AgentRuntime,
    providers: Iterable[Provider],
    actions: Iterable[Action],
    evaluators: Iterable[Evaluator],
) -> None:
    """Register the parts a test exercises."""
    for provider in providers:
        runtime.register_provider(provider)
    for action in actions:
        runtime.register_action(action)
    for evaluator in evaluators:
        runtime.register_evaluator(evaluator)


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
    """A runtime on the in-memory read model, with a world, a room and people in it; the model
    double is strict unless given."""
    runtime = make_test_runtime(character, model=model or ScriptedModel(strict=True))
    register(runtime, providers, actions, evaluators)
    return await Scene(runtime, names or ["Ann", "Bob"], room_type).build(world_metadata)
