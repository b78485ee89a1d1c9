"""AgentRuntime: ElizaOS's IAgentRuntime with Python names, recording what it does as events.

It composes the parts (models by priority, event bus, state composer, action dispatcher,
evaluators, services, tasks) and owns the plugin lifecycle. Writes go through `record`: inside a
message's run they join that run's single atomic append (see `in_recorder`), outside one they are
appended at once.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from shared.bus import Bus
from shared.bus.nats_bus import NatsBus
from shared.character import Character
from shared.errors import ConfigurationError, EmbeddingDimensionMismatchError
from shared.events import EmbeddingDimensionSet, EventData, EventMetadata, NewEvent, now_ms
from shared.eventstore import EventStore
from shared.eventstore.migrations import apply_plugin_schema
from shared.ids import derived_id
from shared.plugin import (
    Action,
    ActionResult,
    Evaluator,
    EventHandler,
    HandlerCallback,
    Memory,
    ModelHandlerFn,
    Plugin,
    Provider,
    Route,
    Runtime,
    Service,
    State,
    TaskWorker,
)
from shared.runtime.actions import ActionDispatcher, result_dict
from shared.runtime.connections import (
    ConnectionManager,
    NothingKnown,
    entity_created_event,
    participant_fact,
    room_fact,
    world_fact,
)
from shared.runtime.database_api import DatabaseApi
from shared.runtime.embedding_repair import EmbeddingRepair
from shared.runtime.evaluators import EvaluatorRunner
from shared.runtime.event_bus import EventBus, EventType
from shared.runtime.memory_api import MemoryApi
from shared.runtime.model_registry import ModelCallPolicy, ModelRegistry
from shared.runtime.plugin_loader import load_plugin, order_plugins, resolve_plugins
from shared.runtime.run_scope import RunRecorder, current_recorder, current_run_id, in_recorder
from shared.runtime.service_registry import ServiceRegistry
from shared.runtime.settings_lookup import get_setting, secret_values
from shared.runtime.sinks import StoreSink, default_stream
from shared.runtime.state import StateComposer
from shared.runtime.task_api import TaskApi
from shared.runtime.tasks import TaskScheduler
from shared.secrets import Scrubber

log = logging.getLogger(__name__)


class AgentRuntime(MemoryApi, DatabaseApi, TaskApi):
    """One agent: its character, plugins and everything they registered."""

    def __init__(
        self,
        character: Character,
        store: EventStore,
        *,
        bus: Bus | None = None,
        nc: Any = None,
        db: Any = None,
        pool: Any = None,
        plugins: Sequence[Plugin | str] = (),
        provider_timeout: float = 10.0,
        model_timeout: float | None = None,
        model_policy: ModelCallPolicy | None = None,
        allow_plugin_paths: bool | None = None,
    ) -> None:
        self._character = character
        self._allow_plugin_paths = allow_plugin_paths
        self._agent_id = character.agent_id
        self.store = store
        self.nc = nc
        self.db = db  # the agent's read model (shared.readmodel); None: no reads
        self.pool = pool  # tasks and bulk connections read Postgres directly
        self._task_store = None
        self._scheduler: TaskScheduler | None = None
        self._repair: EmbeddingRepair | None = None
        self.actions: list[Action] = []
        self.providers: list[Provider] = []
        self.evaluators: list[Evaluator] = []
        self.plugins: list[Plugin] = []
        self.routes: list[Route] = []
        self.task_workers: dict[str, TaskWorker] = {}
        self.plugin_schemas: dict[str, list[str]] = {}
        self.embedding_dimension: int | None = None
        self._initial_plugins = list(plugins)
        self._initialized = False
        self.scrubber = Scrubber(secret_values(character))
        self.connections = ConnectionManager(db if db is not None else NothingKnown())
        self._sink = StoreSink(store, self._agent_id, self.scrubber)
        self.services = ServiceRegistry()
        self.events = EventBus(self._agent_id, bus, self.scrubber)
        self.models = ModelRegistry(
            self, self, timeout=model_timeout, policy=model_policy, emit=self.emit_event,
            scrubber=self.scrubber,
            connection_lost=bus.connection_lost if isinstance(bus, NatsBus) else None,
        )  # fmt: skip
        self.state = StateComposer(self, self.providers, self, timeout=provider_timeout)
        self.dispatcher = ActionDispatcher(
            self, self.actions, self, self._store_memory, self.emit_event, self._keep_results
        )
        self.evaluator_runner = EvaluatorRunner(
            self, self.evaluators, self, self.emit_event, self.compose_state
        )

    # --- identity and settings --------------------------------------------------------------

    @property
    def agent_id(self) -> uuid.UUID:
        """The agent's id."""
        return self._agent_id

    @property
    def character(self) -> Character:
        """The agent's character."""
        return self._character

    def get_setting(self, key: str) -> Any:
        """A setting from the character's settings, its secrets, or the environment."""
        return get_setting(self._character, key)

    # --- recording --------------------------------------------------------------------------

    async def record(
        self, payload: EventData, stream_id: str | None = None, event_id: uuid.UUID | None = None
    ) -> None:
        """EventSink: join the current run's append, or append now when there is no run."""
        recorder = current_recorder()
        if recorder is None or recorder.agent_id != self._agent_id:  # not this agent's run
            await self._sink.record(payload, stream_id, event_id)
        else:
            recorder.add(
                payload, stream_id or default_stream(payload, self._agent_id), event_id=event_id
            )

    async def record_events(self, events: list[NewEvent]) -> None:
        """Record prepared events (facts with derived ids): they join the current run's append,
        or are appended now in one transaction, scrubbed of the agent's secrets."""
        if not events:
            return
        recorder = current_recorder()
        if recorder is not None and recorder.agent_id == self._agent_id:
            recorder.add_all(events)
            return
        for event in events:
            event.metadata = EventMetadata(agent_id=self._agent_id, run_id=current_run_id())
            event.data = self.scrubber.event_data(event.type, event.data)
        await self.store.append(events)

    # --- runs -------------------------------------------------------------------------------

    def start_run(self) -> uuid.UUID:
        """A new run id (ElizaOS's startRun); use `in_run(run_id)` to execute inside it."""
        return uuid.uuid4()

    def get_current_run_id(self) -> uuid.UUID:
        """The calling task's run, or a fresh id when it is in none (as ElizaOS does)."""
        return current_run_id() or uuid.uuid4()

    # --- lifecycle --------------------------------------------------------------------------

    async def initialize(self, *, check_embedding_dimension: bool = True) -> None:
        """Start the agent, in ElizaOS's order: plugins, store, plugin migrations, agent entity,
        its own room, the embedding dimension, then the queued services. Twice is a no-op.
        A model of another dimension than the stored memories' raises
        EmbeddingDimensionMismatchError, unless `check_embedding_dimension` is false (what
        `elizabus memories reembed` starts the agent with)."""
        if self._initialized:
            log.warning("agent %s already initialized", self._character.name)
            return
        plugins = [load_plugin(p) if isinstance(p, str) else p for p in self._initial_plugins]
        plugins += resolve_plugins(self._character.plugins, self._allow_plugin_paths)
        for plugin in order_plugins(plugins):
            await self.register_plugin(plugin)
        await self.store.head()  # the store answers: fail early if the database does not
        if self.pool is not None:  # plugin migrations, once each (ElizaOS's runPluginMigrations)
            for name, statements in self.plugin_schemas.items():
                await apply_plugin_schema(self.pool, name, statements)
        if self.nc is not None:
            await self.models.start(self.nc)
        await self._ensure_agent()
        await self._ensure_embedding_dimension(check_embedding_dimension)
        await self.services.start_queued(self)
        self._initialized = True

    async def stop(self) -> None:
        """Stop services, clear caches and handlers (the store's pool is the caller's)."""
        await self.stop_task_scheduler()
        repair, self._repair = self._repair, None
        if repair is not None:
            await repair.stop()
        await self.services.stop_all()
        await self.models.stop()
        self.state.clear_cache()
        self.events.clear()
        self._initialized = False

    async def _ensure_agent(self) -> None:
        """The agent's own entity, world (its server is the agent), SELF room and participant."""
        c, agent = self._character, self._agent_id
        await self.store.append(
            [
                entity_created_event(agent, agent, [n for n in (c.name, c.username) if n], {}),
                world_fact(agent, agent, c.name, str(agent)),
                room_fact(agent, agent, name=c.name, source="elizabus", type="SELF",
                          channel_id=str(agent), server_id=str(agent), world_id=agent),
                participant_fact(agent, agent, agent),
            ]
        )  # fmt: skip

    async def _ensure_embedding_dimension(self, check: bool = True) -> None:
        """Probe the embedding model once for its dimension (ElizaOS's ensureEmbeddingDimension).
        The call is logged as the agent's start-up run, recorded by the first start only. The
        dimension is recorded (`embedding.dimension_set`) when it is new; with `check`, a
        dimension other than the one the agent's memories were embedded at is refused
        (EmbeddingDimensionMismatchError: run `elizabus memories reembed`)."""
        startup = RunRecorder(derived_id(self._agent_id, "startup"), self._agent_id, self._agent_id)
        with in_recorder(startup):  # its MODEL_USED fan-out is dropped: nobody follows a probe
            try:
                probe = await self.use_model("TEXT_EMBEDDING", {"text": None})
            except Exception as exc:
                log.warning("no embedding model answered (%s): memories get no embeddings", exc)
                probe = None
        if startup.events and not await self.store.read_run(startup.run_id):
            startup.scrub(self.scrubber)
            await self.store.append(startup.events)
        if not isinstance(probe, list) or not probe:
            return
        self.embedding_dimension = len(probe)
        if self.db is None:
            return
        recorded = await self.db.get_embedding_dimension()
        if recorded == self.embedding_dimension:
            return
        if check:
            await self._refuse_other_dimension(recorded)
        if recorded is None:
            await self.record(
                EmbeddingDimensionSet(agent_id=self._agent_id,
                                      dimension=self.embedding_dimension, at=now_ms())
            )  # fmt: skip

    async def _refuse_other_dimension(self, recorded: int | None) -> None:
        """Raise when the agent's memories were embedded at another dimension than the model's."""
        assert self.db is not None and self.embedding_dimension is not None
        if recorded is None:  # a log from before the dimension was recorded: look at the rows
            others = {
                d: n
                for d, n in (await self.db.count_memories_by_dimension()).items()
                if d != self.embedding_dimension
            }
            if not others:
                return
            recorded = max(others, key=lambda d: others[d])
        raise EmbeddingDimensionMismatchError(
            f"agent {self._character.name}: the embedding model answers {self.embedding_dimension}"
            f"-dimension vectors but its memories were embedded at {recorded} dimensions (the "
            "embedding model was changed). Run `elizabus memories reembed` to re-embed them "
            "with the new model (restartable; progress on stderr), or set the previous model "
            "back"
        )

    # --- plugins ----------------------------------------------------------------------------

    async def register_plugin(self, plugin: Plugin) -> None:
        """Register a plugin and everything it brings (ElizaOS's registerPlugin).

        A duplicate name is skipped with a warning. A PluginConfigurationError (or any other
        ConfigurationError) from the plugin's `init`
        (a missing key, a bad setting) is reported and the agent runs without the plugin; any
        other error stops start-up.
        """
        if not plugin.name:
            raise ConfigurationError("a plugin has no name: give every Plugin a `name`")
        if any(p.name == plugin.name for p in self.plugins):
            log.warning("plugin %s already registered: skipped", plugin.name)
            return
        if plugin.init is not None:
            try:
                await plugin.init(plugin.config, self)
            except ConfigurationError as exc:
                log.error("plugin %s is not loaded: %s", plugin.name, exc)
                return
        self.plugins.append(plugin)
        for action in plugin.actions:
            self.register_action(action)
        for provider in plugin.providers:
            self.register_provider(provider)
        for evaluator in plugin.evaluators:
            self.register_evaluator(evaluator)
        for model_type, handler in plugin.models.items():
            self.register_model(model_type, handler, plugin.name, plugin.priority)
        for service in plugin.services:
            if self._initialized:
                await self.register_service(service)
            else:
                self.services.queue(service)
        self.events.register_events(plugin.events)
        if plugin.routes:
            paths = ", ".join(f"{r.type} {r.path}" for r in plugin.routes)
            log.warning(
                "plugin %s declares HTTP routes (%s): elizabus serves no HTTP yet (an HTTP gateway "
                "is planned), so they are kept on the runtime but nobody can call them",
                plugin.name, paths,
            )  # fmt: skip
        self.routes.extend(plugin.routes)
        if plugin.schema:
            self.plugin_schemas[plugin.name] = list(plugin.schema)

    def register_action(self, action: Action) -> None:
        """Add an action; a second one of the same name is skipped."""
        if any(a.name == action.name for a in self.actions):
            log.warning("action %s already registered: skipped", action.name)
            return
        self.actions.append(action)

    def register_provider(self, provider: Provider) -> None:
        """Add a provider; a second one of the same name is skipped."""
        if any(p.name == provider.name for p in self.providers):
            log.warning("provider %s already registered: skipped", provider.name)
            return
        self.providers.append(provider)

    def register_evaluator(self, evaluator: Evaluator) -> None:
        """Add an evaluator; a second one of the same name is skipped."""
        if any(e.name == evaluator.name for e in self.evaluators):
            log.warning("evaluator %s already registered: skipped", evaluator.name)
            return
        self.evaluators.append(evaluator)

    def register_model(
        self, model_type: str, handler: ModelHandlerFn, provider: str, priority: int = 0
    ) -> None:
        """Add an in-process model handler (sorted by priority, then registration order)."""
        self.models.register_model(model_type, handler, provider, priority)

    def get_model(self, model_type: str, provider: str | None = None) -> ModelHandlerFn | None:
        """The in-process handler `use_model` would try first."""
        return self.models.get_model(model_type, provider)

    async def use_model(
        self, model_type: str, params: dict[str, Any], provider: str | None = None
    ) -> Any:
        """Call a model by priority with failover; every attempt is recorded."""
        return await self.models.use_model(model_type, params, provider)

    # --- services ---------------------------------------------------------------------------

    async def register_service(self, service: type[Service]) -> None:
        """Start a service now (after initialize) or queue it (before)."""
        if self._initialized:
            await self.services.register(service, self)
        else:
            self.services.queue(service)

    def get_service(self, service_type: str) -> Service | None:
        """The running service of a type, or None."""
        return self.services.get(service_type)

    def has_service(self, service_type: str) -> bool:
        """Whether a service of this type runs."""
        return self.services.has(service_type)

    def get_registered_service_types(self) -> list[str]:
        """The types of the running services."""
        return self.services.types()

    def get_all_services(self) -> dict[str, Service]:
        """Every running service by type."""
        return self.services.all()

    # --- events -----------------------------------------------------------------------------

    def register_event(self, event: str, handler: EventHandler) -> None:
        """Handle a runtime event in process."""
        self.events.register_event(event, handler)

    def on(self, event: str, handler: EventHandler) -> None:
        """ElizaOS's `on`: the same as `register_event`."""
        self.events.register_event(event, handler)

    def off(self, event: str, handler: EventHandler) -> None:
        """ElizaOS's `off`: stop calling `handler` for `event` (nothing when it is not there)."""
        self.events.unregister_event(event, handler)

    def get_event(self, event: str) -> list[EventHandler]:
        """The handlers of an event."""
        return self.events.get_event(event)

    async def emit_event(self, event: str | list[str], params: dict[str, Any]) -> None:
        """Run the handlers and publish on `event.<name>`; handler errors are isolated."""
        await self.events.emit_event(event, params)

    async def handle_message(self, message: Memory, callback: HandlerCallback) -> None:
        """Emit MESSAGE_RECEIVED for a platform message (the bootstrap plugin's handler answers
        it through `callback`). Unlike other events, a handler error is raised, so the delivery
        is retried rather than lost."""
        if not self.events.get_event(EventType.MESSAGE_RECEIVED):
            raise ConfigurationError(
                f"agent {self._character.name} has no MESSAGE_RECEIVED handler: load the "
                "bootstrap plugin (plugins.bootstrap) or a plugin that handles messages"
            )
        params = {
            "runtime": self,
            "message": message,
            "callback": callback,
            "source": message.content.get("source"),
        }
        await self.events.emit_event(EventType.MESSAGE_RECEIVED, params, raise_errors=True)

    # --- state, actions, evaluators ---------------------------------------------------------

    async def compose_state(
        self,
        message: Memory,
        include_list: list[str] | None = None,
        only_include: bool = False,
        skip_cache: bool = False,
    ) -> State:
        """Compose the state of a message from the providers (cached per message)."""
        return await self.state.compose_state(message, include_list, only_include, skip_cache)

    async def process_actions(
        self,
        message: Memory,
        responses: list[Memory],
        state: State | None = None,
        callback: HandlerCallback | None = None,
    ) -> list[ActionResult]:
        """Run the actions the responses name."""
        return await self.dispatcher.process_actions(message, responses, state, callback)

    def get_action_results(self, message_id: uuid.UUID) -> list[ActionResult]:
        """The ActionResults of the actions run for a message (ElizaOS's getActionResults):
        kept in the state cache by `process_actions`; empty for an unknown message."""
        cached = self.state.get_cached(f"{message_id}_action_results")
        return list(cached.data.get("actionResults") or []) if cached is not None else []

    def _keep_results(self, message_id: uuid.UUID, results: list[ActionResult]) -> None:
        self.state.set_cached(
            f"{message_id}_action_results",
            State(
                values={"actionResults": results},
                data={"actionResults": results},
                text=json.dumps([result_dict(r) for r in results]),
            ),
        )

    async def evaluate(
        self,
        message: Memory,
        state: State | None = None,
        did_respond: bool = False,
        callback: HandlerCallback | None = None,
        responses: list[Memory] | None = None,
    ) -> list[Evaluator]:
        """Run the evaluators that apply after a response."""
        return await self.evaluator_runner.evaluate(
            message, state, did_respond, callback, responses or []
        )

    # --- tasks ------------------------------------------------------------------------------

    def register_task_worker(self, worker: TaskWorker) -> None:
        """Handle tasks of `worker.name` (a second worker of a name replaces the first)."""
        if worker.name in self.task_workers:
            log.warning("task worker %s already registered: replaced", worker.name)
        self.task_workers[worker.name] = worker

    def get_task_worker(self, name: str) -> TaskWorker | None:
        """The worker for tasks of this name."""
        return self.task_workers.get(name)

    def start_task_scheduler(self, tick: float = 1.0) -> TaskScheduler:
        """Run due tasks of this agent every `tick` seconds until the runtime stops."""
        if self._scheduler is None:
            self._scheduler = TaskScheduler(
                self._tasks(), self.store, self.task_workers, self, tick
            )
            self._scheduler.start()
        return self._scheduler

    def start_embedding_repair(self, interval: float = 30.0) -> EmbeddingRepair:
        """Fill in, every `interval` seconds, the embeddings of memories stored without one
        (see embedding_repair) until the runtime stops. Needs the read model."""
        if self._repair is None:
            if self.db is None:
                raise ConfigurationError(
                    "the embedding repair reads the agent's memories: build the AgentRuntime "
                    "with db=<AgentReadModel>"
                )
            self._repair = EmbeddingRepair(self, self.db, interval)
            self._repair.start()
        return self._repair

    async def stop_task_scheduler(self) -> None:
        """Stop the scheduler (a run in progress is cancelled and runs again later)."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            await scheduler.stop()

    # --- memory (the rest is in memory_api) -------------------------------------------

    async def _store_memory(self, memory: Memory) -> None:
        await self.create_memory(memory, embed=False)


_IMPLEMENTS_RUNTIME: type[Runtime] = AgentRuntime
"""AgentRuntime implements the plugins' `Runtime` Protocol: mypy checks this assignment."""
