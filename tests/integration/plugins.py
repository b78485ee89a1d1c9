"""Plugins the integration tests load into a real orchestrator by dotted path, as a character file
would, to watch it from inside or to push a secret through every way out of the process."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from shared.character import Character
from shared.plugin import Memory, Plugin, Provider, ProviderResult, Runtime, State, TaskWorker
from shared.runtime.remote_actions import remote_action
from shared.runtime.remote_providers import remote_provider

log = logging.getLogger(__name__)

WITNESS: list[tuple[int, str]] = []
"""(id of the AgentRuntime, run id) of every run started, in this process."""

TICKS: list[uuid.UUID] = []
"""The task ids the `ticking` task worker ran, in this process."""

SECRET = "sk-live-4f9a2c-never-leaves-the-process"
SECRET_PROVIDER = "SECRET_ECHO"
SECRET_ACTION = "SECRET_ACTION"
SECRET_EVENT = "SECRET_PLUGIN_READY"


def handled_by() -> set[int]:
    """The runtimes (one per orchestrator) that started a run, in this process."""
    return {runtime for runtime, _ in WITNESS}


def witness_plugin() -> Plugin:
    """Records which runtime starts each run (several orchestrators in one test process)."""

    async def init(config: Mapping[str, Any], runtime: Runtime) -> None:
        async def started(params: dict[str, Any]) -> None:
            WITNESS.append((id(runtime), str(params.get("runId"))))

        runtime.register_event("RUN_STARTED", started)  # type: ignore[attr-defined]

    return Plugin(name="witness", init=init)


def witness_character() -> Character:
    """The default character's name with the witness plugin loaded."""
    return Character(name="Witnessed", plugins=["tests.integration.plugins:witness_plugin"])


def echo_plugin() -> Plugin:
    """A MESSAGE_RECEIVED handler of its own: answers "echo: <text>" without any model."""

    async def echo(params: dict[str, Any]) -> None:
        message: Memory = params["message"]
        await params["callback"]({"text": f"echo: {message.text}", "actions": ["ECHO"]})

    return Plugin(name="echo", events={"MESSAGE_RECEIVED": [echo]})


def ticking_plugin() -> Plugin:
    """Registers the `ticking` task worker and queues one task for it at start-up: it runs only
    if the orchestrator started the agent's task scheduler."""

    async def execute(runtime: Runtime, options: dict[str, Any], task: Any) -> None:
        TICKS.append(task.id)

    async def init(config: Mapping[str, Any], runtime: Runtime) -> None:
        runtime.register_task_worker(TaskWorker(name="ticking", execute=execute))  # type: ignore[attr-defined]
        await runtime.create_task("ticking", tags=["queue"])  # type: ignore[attr-defined]

    return Plugin(name="ticking", init=init)


def secret_plugin() -> Plugin:
    """Puts the character's secret `API_TOKEN` everywhere it could leak: a log line at start-up,
    a runtime event emitted outside any run, a provider that fails with it, and a remote provider
    and a remote action whose requests carry the message (the tests send the secret in it)."""

    async def failing(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
        raise RuntimeError(f"token {runtime.get_setting('API_TOKEN')} was refused")

    async def init(config: Mapping[str, Any], runtime: Runtime) -> None:
        token = runtime.get_setting("API_TOKEN")
        log.warning("secret plugin starting with token %s", token)
        await runtime.emit_event(SECRET_EVENT, {"token": token})
        nc = runtime.nc  # type: ignore[attr-defined]
        runtime.register_provider(Provider(name="SECRET_FAILING", get=failing))  # type: ignore[attr-defined]
        runtime.register_provider(remote_provider(nc, SECRET_PROVIDER))  # type: ignore[attr-defined]
        runtime.register_action(remote_action(nc, SECRET_ACTION))  # type: ignore[attr-defined]

    return Plugin(name="secret", init=init)


def secret_character() -> Character:
    """A character holding SECRET, with the secret plugin loaded."""
    return Character(
        name="Keeper",
        secrets={"API_TOKEN": SECRET},
        plugins=["tests.integration.plugins:secret_plugin"],
    )
