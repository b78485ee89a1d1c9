"""The plugin API: everything a plugin author writes and uses, from one import.

A plugin is written against this module alone (`from shared.plugin import ...`): what it defines
(Plugin, Action, Provider, Evaluator, Service, TaskWorker, Route, Memory, State, Content, ...), in
ElizaOS's shape with Python names; `Runtime`, the Protocol of everything a plugin may call on the
agent runtime (`shared.runtime.agent_runtime.AgentRuntime` implements it, checked by mypy), so
plugins never import the runtime itself; and, re-exported from their home modules, the records the
runtime reads and writes (Entity, Room, World, ...), the vocabularies (EventType, ModelType,
ChannelType), the Character and the errors a plugin raises, and the knowledge (RAG) functions of
`shared.knowledge` (add a document, find the fragments for a message). Test doubles are in
`shared.testing`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Self

from pydantic import BaseModel, ConfigDict, Field

from shared.character import Character
from shared.errors import (
    ActionError,
    ConfigurationError,
    ElizabusError,
    ModelError,
    NoModelHandlerError,
    PluginConfigurationError,
    ProviderError,
)
from shared.events import now_ms
from shared.ids import create_unique_uuid, string_to_uuid
from shared.knowledge import (  # knowledge (RAG) for plugins: it imports shared.plugin lazily
    IngestResult,
    KnowledgeSource,
    SyncReport,
    add_knowledge,
    get_knowledge,
    knowledge_text,
    source_from_file,
    source_from_text,
    sync_character_knowledge,
)
from shared.model_types import ModelType
from shared.records import (
    ChannelType,
    Component,
    Entity,
    EntitySpec,
    ParticipantState,
    Relationship,
    Room,
    RoomSpec,
    Task,
    World,
    WorldSpec,
)
from shared.runtime.event_types import EventType  # a leaf: shared.runtime imports shared.plugin
from shared.secrets import REDACTED

__all__ = [
    "REDACTED",
    "Action",
    "ActionError",
    "ActionHandler",
    "ActionResult",
    "ChannelType",
    "Character",
    "Component",
    "ConfigurationError",
    "Content",
    "ElizabusError",
    "Entity",
    "EntitySpec",
    "Evaluator",
    "EventHandler",
    "EventType",
    "HandlerCallback",
    "IngestResult",
    "KnowledgeSource",
    "Memory",
    "ModelError",
    "ModelHandlerFn",
    "ModelType",
    "NoModelHandlerError",
    "ParticipantState",
    "Plugin",
    "PluginConfigurationError",
    "PluginInit",
    "Provider",
    "ProviderError",
    "ProviderGet",
    "ProviderResult",
    "Relationship",
    "Room",
    "RoomSpec",
    "Route",
    "Runtime",
    "Service",
    "State",
    "SyncReport",
    "Task",
    "TaskExecute",
    "TaskValidator",
    "TaskWorker",
    "Validator",
    "World",
    "WorldSpec",
    "add_knowledge",
    "always_valid",
    "create_unique_uuid",
    "get_knowledge",
    "knowledge_text",
    "now_ms",
    "source_from_file",
    "source_from_text",
    "string_to_uuid",
    "sync_character_knowledge",
]

Content = dict[str, Any]
"""A message's content, as ElizaOS's Content: `text`, `thought`, `actions`, `source`, ... keys."""


class Memory(BaseModel):
    """A stored message, fact or document, as providers, actions and evaluators see it."""

    model_config = ConfigDict(extra="allow")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    entity_id: uuid.UUID
    agent_id: uuid.UUID
    room_id: uuid.UUID
    world_id: uuid.UUID | None = None
    content: Content = Field(default_factory=dict)
    embedding: list[float] | None = None
    created_at: int = Field(default_factory=now_ms)
    unique: bool = True
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def text(self) -> str:
        """The content's text ("" when it has none)."""
        return str(self.content.get("text") or "")


@dataclass
class State:
    """Composed context for prompts: template `values`, structured `data`, and prompt `text`."""

    values: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    text: str = ""


@dataclass
class ProviderResult:
    """What one provider contributes to the state."""

    text: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class ActionResult:
    """What an action reports back: success, text, values merged into state, data."""

    success: bool = True
    text: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


HandlerCallback = Callable[[Content], Awaitable[list[Memory]]]
"""How an action speaks: called with the content to send; returns the memories it stored."""

ProviderGet = Callable[["Runtime", Memory, State], Awaitable[ProviderResult]]
ActionHandler = Callable[
    ["Runtime", Memory, State | None, dict[str, Any], HandlerCallback | None, list[Memory]],
    Awaitable[ActionResult | None],
]
Validator = Callable[["Runtime", Memory, State | None], Awaitable[bool]]
EventHandler = Callable[[dict[str, Any]], Awaitable[None]]
ModelHandlerFn = Callable[["Runtime", dict[str, Any]], Awaitable[Any]]


async def always_valid(runtime: Runtime, message: Memory, state: State | None) -> bool:
    """The default `validate`: the action or evaluator applies to every message."""
    return True


@dataclass
class Provider:
    """A source of context for prompts (ElizaOS's Provider).

    `private` providers run only when named in an include list; `dynamic` ones only when asked
    for; `position` orders their text in the state (lower first).
    """

    name: str
    get: ProviderGet
    description: str = ""
    position: int = 0
    private: bool = False
    dynamic: bool = False


@dataclass
class Action:
    """Something the agent can do in answer to a message (ElizaOS's Action)."""

    name: str
    handler: ActionHandler
    description: str = ""
    similes: list[str] = field(default_factory=list)
    examples: list[Any] = field(default_factory=list)
    validate: Validator = always_valid


@dataclass
class Evaluator:
    """Runs after a response to learn from the conversation (ElizaOS's Evaluator)."""

    name: str
    handler: ActionHandler
    description: str = ""
    similes: list[str] = field(default_factory=list)
    examples: list[Any] = field(default_factory=list)
    validate: Validator = always_valid
    always_run: bool = False


@dataclass
class Route:
    """An HTTP route a plugin exposes (served by a gateway; recorded by the runtime)."""

    path: str
    type: str
    handler: Callable[..., Awaitable[Any]]
    public: bool = False
    name: str | None = None


TaskExecute = Callable[["Runtime", dict[str, Any], Task], Awaitable[None]]
"""A task worker's body: called with the runtime, the task's options (its metadata) and the task."""
TaskValidator = Callable[["Runtime", Memory, State | None], Awaitable[bool]]


@dataclass
class TaskWorker:
    """Runs tasks of one name; `validate` may decline a task for now."""

    name: str
    execute: TaskExecute
    validate: TaskValidator | None = None


class Service:
    """A long-lived component a plugin provides (a client, a connection, a scheduler).

    Subclasses set `service_type`, implement `start` (build and start an instance for a runtime)
    and `stop`. The runtime starts plugin services during `initialize()` and stops them in `stop()`.
    """

    service_type: ClassVar[str] = ""
    capability_description: ClassVar[str] = ""

    def __init__(self, runtime: Runtime | None = None) -> None:
        self.runtime = runtime

    @classmethod
    async def start(cls, runtime: Runtime) -> Self:
        """Create and start the service for `runtime`."""
        return cls(runtime)

    async def stop(self) -> None:
        """Release what the service holds."""


PluginInit = Callable[[Mapping[str, Any], "Runtime"], Awaitable[None]]


@dataclass
class Plugin:
    """A bundle of behaviour for an agent, as ElizaOS's Plugin.

    `schema` is a list of SQL statements applied once (plugin migrations); `dependencies` names
    plugins that must be registered first; higher `priority` models win over lower ones.
    """

    name: str
    description: str = ""
    init: PluginInit | None = None
    config: dict[str, Any] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    providers: list[Provider] = field(default_factory=list)
    evaluators: list[Evaluator] = field(default_factory=list)
    models: dict[str, ModelHandlerFn] = field(default_factory=dict)
    services: list[type[Service]] = field(default_factory=list)
    events: dict[str, list[EventHandler]] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    schema: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    priority: int = 0


class Runtime(Protocol):
    """Everything a plugin may call on the agent runtime (ElizaOS's IAgentRuntime).

    `shared.runtime.agent_runtime.AgentRuntime` implements it (mypy checks that there). Reads see
    what is committed; inside a message's run, the run's own writes commit with the run.
    """

    # --- identity, settings and what the agent has registered -------------------------------

    @property
    def agent_id(self) -> uuid.UUID: ...

    @property
    def character(self) -> Character: ...

    def get_setting(self, key: str) -> Any:
        """A setting from the character's settings, its secrets, or the environment; None when
        none has it ("true"/"false" strings become booleans)."""
        ...

    @property
    def plugins(self) -> list[Plugin]: ...

    @property
    def actions(self) -> list[Action]: ...

    @property
    def providers(self) -> list[Provider]: ...

    @property
    def evaluators(self) -> list[Evaluator]: ...

    @property
    def routes(self) -> list[Route]: ...

    # --- registering (a plugin's `init` may add more than its Plugin lists) -------------------

    async def register_plugin(self, plugin: Plugin) -> None: ...

    def register_action(self, action: Action) -> None: ...

    def register_provider(self, provider: Provider) -> None: ...

    def register_evaluator(self, evaluator: Evaluator) -> None: ...

    def register_model(
        self, model_type: str, handler: ModelHandlerFn, provider: str, priority: int = 0
    ) -> None: ...

    async def register_service(self, service: type[Service]) -> None: ...

    def register_event(self, event: str, handler: EventHandler) -> None: ...

    def register_task_worker(self, worker: TaskWorker) -> None: ...

    # --- models --------------------------------------------------------------------------------

    def get_model(self, model_type: str, provider: str | None = None) -> ModelHandlerFn | None: ...

    async def use_model(
        self, model_type: str, params: dict[str, Any], provider: str | None = None
    ) -> Any:
        """The model's result: text for TEXT_* types, a vector for TEXT_EMBEDDING, a dict for
        OBJECT_* types, ... (as ElizaOS's useModel)."""
        ...

    # --- services and events -------------------------------------------------------------------

    def get_service(self, service_type: str) -> Service | None: ...

    def has_service(self, service_type: str) -> bool: ...

    def get_registered_service_types(self) -> list[str]: ...

    def get_all_services(self) -> dict[str, Service]: ...

    def get_event(self, event: str) -> list[EventHandler]: ...

    async def emit_event(self, event: str | list[str], params: dict[str, Any]) -> None: ...

    # --- runs, state, actions, evaluators ------------------------------------------------------

    def start_run(self) -> uuid.UUID: ...

    def get_current_run_id(self) -> uuid.UUID: ...

    async def compose_state(
        self,
        message: Memory,
        include_list: list[str] | None = None,
        only_include: bool = False,
        skip_cache: bool = False,
    ) -> State: ...

    async def process_actions(
        self,
        message: Memory,
        responses: list[Memory],
        state: State | None = None,
        callback: HandlerCallback | None = None,
    ) -> list[ActionResult]: ...

    def get_action_results(self, message_id: uuid.UUID) -> list[ActionResult]: ...

    async def evaluate(
        self,
        message: Memory,
        state: State | None = None,
        did_respond: bool = False,
        callback: HandlerCallback | None = None,
        responses: list[Memory] | None = None,
    ) -> list[Evaluator]: ...

    # --- tasks (the runtime's scheduler runs due ones with their workers) ------------------------

    def get_task_worker(self, name: str) -> TaskWorker | None: ...

    async def create_task(
        self,
        name: str,
        *,
        description: str = "",
        room_id: uuid.UUID | None = None,
        world_id: uuid.UUID | None = None,
        entity_id: uuid.UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        task_id: uuid.UUID | None = None,
    ) -> uuid.UUID: ...

    async def get_task(self, task_id: uuid.UUID) -> Task | None: ...

    async def get_tasks(
        self,
        *,
        room_id: uuid.UUID | None = None,
        tags: list[str] | None = None,
        entity_id: uuid.UUID | None = None,
        name: str | None = None,
    ) -> list[Task]: ...

    async def update_task(
        self,
        task_id: uuid.UUID,
        *,
        name: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None: ...

    async def delete_task(self, task_id: uuid.UUID) -> None: ...

    # --- memories ------------------------------------------------------------------------------

    async def create_memory(
        self,
        memory: Memory,
        table_name: str = "messages",
        unique: bool | None = None,
        *,
        embed: bool = True,
    ) -> uuid.UUID:
        """Store a memory, embedding its text first (TEXT_EMBEDDING) when it has no embedding
        and `embed` is true; `unique` None computes it as ElizaOS 1.7 (a memory given with
        its embedding is unique unless one of its table/room/world/entity is 0.95 similar; one
        embedded here is unique)."""
        ...

    async def create_memories(
        self,
        memories: Sequence[Memory],
        table_name: str = "messages",
        unique: bool | None = None,
        *,
        embed: bool = True,
        table_names: Sequence[str] | None = None,
    ) -> list[uuid.UUID]:
        """Store many memories in one append, their embeddings asked in batches; `table_names`
        (one per memory) stores memories of several tables in that one append."""
        ...

    async def add_embedding_to_memory(self, memory: Memory) -> Memory:
        """The memory with the embedding of its text (recorded too when it is stored)."""
        ...

    async def get_memories(
        self,
        *,
        room_id: uuid.UUID | None = None,
        table_name: str = "messages",
        count: int | None = None,
        entity_id: uuid.UUID | None = None,
        world_id: uuid.UUID | None = None,
        start: int | None = None,
        end: int | None = None,
        unique: bool = False,
        offset: int | None = None,
    ) -> list[Memory]: ...

    async def get_memory_by_id(self, memory_id: uuid.UUID) -> Memory | None: ...

    async def get_memories_by_ids(
        self, memory_ids: list[uuid.UUID], table_name: str | None = None
    ) -> list[Memory]: ...

    async def get_memories_by_room_ids(
        self, room_ids: list[uuid.UUID], table_name: str = "messages", limit: int | None = None
    ) -> list[Memory]: ...

    async def search_memories(
        self,
        *,
        embedding: list[float],
        table_name: str,
        query: str | None = None,
        match_threshold: float = 0.5,
        count: int = 10,
        room_id: uuid.UUID | None = None,
        world_id: uuid.UUID | None = None,
        entity_id: uuid.UUID | None = None,
        unique: bool = False,
    ) -> list[Memory]: ...

    async def get_relevant_memories(
        self,
        query: str,
        room_id: uuid.UUID | None = None,
        count: int = 10,
        table_name: str = "messages",
        match_threshold: float = 0.5,
    ) -> list[Memory]:
        """The memories nearest the query's embedding, re-ranked by BM25 relevance to it."""
        ...

    async def rerank_memories(self, query: str, memories: list[Memory]) -> list[Memory]: ...

    async def count_memories(
        self, room_id: uuid.UUID | None = None, unique: bool = True, table_name: str | None = None
    ) -> int: ...

    async def update_memory(
        self,
        memory_id: uuid.UUID,
        *,
        content: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        embedding: list[float] | None = None,
        embed: bool = True,
    ) -> bool:
        """Replace what is given of a memory; False when the agent has no such memory."""
        ...

    async def delete_memory(self, memory_id: uuid.UUID) -> None: ...

    async def delete_many_memories(self, memory_ids: Sequence[uuid.UUID]) -> None: ...

    async def delete_all_memories(self, room_id: uuid.UUID, table_name: str) -> None: ...

    async def clear_all_agent_memories(self) -> None: ...

    # --- entities and components ---------------------------------------------------------------

    async def get_entity_by_id(self, entity_id: uuid.UUID) -> Entity | None: ...

    async def get_entities_for_room(
        self, room_id: uuid.UUID, include_components: bool = False
    ) -> list[Entity]: ...

    async def create_entity(self, entity: Entity) -> bool: ...

    async def update_entity(self, entity: Entity) -> None: ...

    async def get_component(
        self,
        entity_id: uuid.UUID,
        type: str,
        world_id: uuid.UUID | None = None,
        source_entity_id: uuid.UUID | None = None,
    ) -> Component | None: ...

    async def get_components(
        self,
        entity_id: uuid.UUID,
        world_id: uuid.UUID | None = None,
        source_entity_id: uuid.UUID | None = None,
    ) -> list[Component]: ...

    async def create_component(self, component: Component) -> bool: ...

    async def update_component(self, component: Component) -> None: ...

    async def delete_component(self, component_id: uuid.UUID) -> None: ...

    # --- worlds, rooms, participants, connections ----------------------------------------------

    async def get_world(self, world_id: uuid.UUID) -> World | None: ...

    async def get_all_worlds(self) -> list[World]: ...

    async def ensure_world_exists(self, world: World) -> None: ...

    async def update_world(self, world: World) -> None: ...

    async def get_room(self, room_id: uuid.UUID) -> Room | None: ...

    async def get_rooms(self, world_id: uuid.UUID) -> list[Room]: ...

    async def get_rooms_for_participant(self, entity_id: uuid.UUID) -> list[uuid.UUID]: ...

    async def ensure_room_exists(self, room: Room) -> None: ...

    async def update_room(self, room: Room) -> None: ...

    async def delete_room(self, room_id: uuid.UUID) -> None: ...

    async def add_participant(self, entity_id: uuid.UUID, room_id: uuid.UUID) -> bool: ...

    async def remove_participant(self, entity_id: uuid.UUID, room_id: uuid.UUID) -> bool: ...

    async def get_participants_for_room(self, room_id: uuid.UUID) -> list[uuid.UUID]: ...

    async def get_participant_user_state(
        self, room_id: uuid.UUID, entity_id: uuid.UUID
    ) -> ParticipantState | None: ...

    async def set_participant_user_state(
        self, room_id: uuid.UUID, entity_id: uuid.UUID, state: ParticipantState | None
    ) -> None: ...

    async def ensure_connection(
        self,
        entity_id: uuid.UUID,
        room_id: uuid.UUID,
        world_id: uuid.UUID | None = None,
        user_name: str | None = None,
        name: str | None = None,
        source: str | None = None,
        type: str | None = None,
        channel_id: str | None = None,
        server_id: str | None = None,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        world_name: str | None = None,
    ) -> None:
        """Make sure the entity, the world, the room and both participants exist (ElizaOS's
        ensureConnection); a known entity gets the new names and this source's metadata."""
        ...

    async def ensure_connections(
        self,
        entities: Sequence[EntitySpec],
        rooms: Sequence[RoomSpec],
        source: str,
        world: WorldSpec,
    ) -> int:
        """Connect many entities and rooms of one world in batches; how many events were
        recorded."""
        ...

    # --- relationships -------------------------------------------------------------------------

    async def create_relationship(
        self,
        source_entity_id: uuid.UUID,
        target_entity_id: uuid.UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> bool: ...

    async def update_relationship(self, relationship: Relationship) -> None: ...

    async def get_relationship(
        self, source_entity_id: uuid.UUID, target_entity_id: uuid.UUID
    ) -> Relationship | None: ...

    async def get_relationships(
        self, entity_id: uuid.UUID, tags: list[str] | None = None
    ) -> list[Relationship]: ...
