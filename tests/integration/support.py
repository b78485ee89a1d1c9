"""Test support: a full stack per test on real servers, and polling helpers."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from faststream import FastStream
from nats.js.api import ConsumerInfo
from nats.js.client import JetStreamContext

from services.cli.client import BusClient
from services.model_worker.app import build_worker_app
from services.orchestrator.app import OrchestratorApp, build_app
from shared import subjects
from shared.character import Character, load_character
from shared.embedded.nats_server import EmbeddedNats
from shared.errors import ModelError
from shared.eventstore.migrations import migrate
from shared.eventstore.postgres import PostgresEventStore
from shared.ids import create_unique_uuid
from shared.messages import EntityRef, InboundContent, MessageReceived, ModelRequest, RoomRef
from shared.model_types import ModelType
from shared.model_wire import ModelHandler
from shared.projections import PROJECTION_TABLES, comparable_rows
from shared.records import ChannelType
from shared.settings import Settings
from shared.testing import ScriptedModel

REPO = Path(__file__).resolve().parents[2]
STOP_TIMEOUT = 30.0


async def dump_projections(pool: asyncpg.Pool) -> dict[str, list[str]]:
    """Every row of every projection table as sorted JSON text, to compare two states (without
    the maintenance columns, which no event writes: MAINTENANCE_COLUMNS)."""
    return {table: await comparable_rows(pool, table) for table in PROJECTION_TABLES}


async def empty_database(server_url: str) -> str:
    """A new database on the session's Postgres, with no tables; returns its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


async def fresh_database(server_url: str) -> str:
    """A new, migrated database on the session's Postgres; returns its URL."""
    url = await empty_database(server_url)
    await migrate(url)
    return url


@dataclass
class Stack:
    """A running orchestrator and model worker on real NATS and Postgres, and a client."""

    settings: Settings
    nats: EmbeddedNats
    store: PostgresEventStore
    pool: asyncpg.Pool
    client: BusClient
    orchestrator: OrchestratorApp | None
    worker: FastStream

    async def start_orchestrator(self) -> None:
        self.orchestrator = build_app(self.settings, [load_character(None)])
        await self.orchestrator.start()

    async def stop_orchestrator(self) -> None:
        if self.orchestrator is not None:
            await self.orchestrator.stop()
            self.orchestrator = None


async def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05) -> None:  # type: ignore[no-untyped-def]
    """Poll an async predicate until it is true, failing the test after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def inbound_settled(js: JetStreamContext) -> bool:
    """Whether every `message.received` has been routed and every routed copy handled: the
    router's consumer has nothing pending and the partitions' work queue is empty."""
    router = await js.consumer_info(subjects.MESSAGES_STREAM, subjects.ROUTER_DURABLE)
    if router.num_pending or router.num_ack_pending:
        return False
    partitions = await js.stream_info(subjects.PARTITIONS_STREAM)
    return partitions.state.messages == 0


async def at_least(value: Awaitable[int], expected: int) -> bool:
    """Whether the awaited count reached `expected` (a `wait_for` predicate's body)."""
    return await value >= expected


def dm(room: str, text: str) -> MessageReceived:
    """A message in a DM room (always answered), from the room's own user."""
    return MessageReceived(
        id=uuid.uuid4(),
        source="test",
        entity=EntityRef(id=f"user-{room}", name=f"User {room}"),
        room=RoomRef(id=room, name=room, type=ChannelType.DM),
        content=InboundContent(text=text),
    )


async def orchestrator_process(env: dict[str, str]) -> asyncio.subprocess.Process:
    """An orchestrator process (`elizabus orchestrator`) with this environment."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli.main", "orchestrator", env=env
    )


async def stop_all(procs: list[asyncio.subprocess.Process]) -> None:
    """SIGTERM the processes still running and wait for them (SIGKILL after 20 s)."""
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def completed_runs(pool: asyncpg.Pool) -> int:
    """How many runs ended in the log."""
    return int(await pool.fetchval("SELECT count(*) FROM events WHERE type = 'run.ended'"))


async def runs_by_message(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    """Every run.started / run.ended of the log, by message memory id, in commit order."""
    rows = await pool.fetch(
        "SELECT position, type, data FROM events WHERE type IN ('run.started', 'run.ended') "
        "ORDER BY position"
    )
    runs: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        runs.setdefault(row["data"]["message_id"], []).append(
            {"position": row["position"], "type": row["type"], **row["data"]}
        )
    return runs


def assert_each_room_in_publish_order(
    published: dict[str, list[MessageReceived]], runs: dict[str, list[dict[str, Any]]]
) -> None:
    """Each message ran once; per room, runs committed in publish order, each after the last."""
    agent = load_character(None).agent_id
    for room, messages in published.items():
        previous_end: dict[str, Any] | None = None
        for message in messages:
            memory_id = str(create_unique_uuid(agent, str(message.id)))
            events = runs.get(memory_id, [])
            assert [e["type"] for e in events] == ["run.started", "run.ended"], (room, events)
            started, ended = events
            if previous_end is not None:
                assert started["position"] > previous_end["position"], f"{room} out of order"
                assert started["started_at"] >= previous_end["ended_at"], (
                    f"{room}: a run started before the previous message's run had ended"
                )
            previous_end = ended


class ControlledModel:
    """A model worker's handler for fault tests: the scripted double, except that the first
    `fail_first[type]` calls of a model type fail and every call of a type in `delay` answers
    that many seconds late. It records each call's model type and arrival time (monotonic)."""

    provider = "scripted"
    max_concurrency = 8

    def __init__(
        self,
        *,
        fail_first: dict[ModelType, int] | None = None,
        delay: dict[ModelType, float] | None = None,
        script: dict[ModelType, list[Any]] | None = None,
    ) -> None:
        self.inner = ScriptedModel(script)
        self.supported = self.inner.supported
        self.fail_first = fail_first or {}
        self.delay = delay or {}
        self.calls: list[tuple[ModelType, float]] = []

    async def handle(self, request: ModelRequest) -> Any:
        """Record the call, then fail, wait, or answer as the test asked."""
        self.calls.append((request.model_type, time.monotonic()))
        n = self.count(request.model_type)
        if n <= self.fail_first.get(request.model_type, 0):
            raise ModelError(f"controlled failure {n} of {request.model_type.value}")
        await asyncio.sleep(self.delay.get(request.model_type, 0.0))
        return await self.inner.handle(request)

    def count(self, model_type: ModelType) -> int:
        """How many calls of `model_type` arrived."""
        return len(self.times(model_type))

    def times(self, model_type: ModelType) -> list[float]:
        """When each call of `model_type` arrived (time.monotonic)."""
        return [at for t, at in self.calls if t is model_type]


def direct_message(text: str, *, user: str = "u1", source: str = "test") -> MessageReceived:
    """A DM (always answered: no should-respond model call) from `user`, in the user's own room."""
    return MessageReceived(
        id=uuid.uuid4(),
        source=source,
        entity=EntityRef(id=user, name=user.upper(), username=user),
        room=RoomRef(id=f"dm-{user}", name=f"dm-{user}", type="DM"),
        content=InboundContent(text=text),
    )


@dataclass
class Servers:
    """A fresh nats-server and database for one test, and the services the test starts on them
    (in process, or as `elizabus` child processes). Observations are made from outside only:
    JetStream stream and consumer counts, the `events` table."""

    tmp: Path
    nats: EmbeddedNats
    database_url: str
    pool: asyncpg.Pool
    client: BusClient
    apps: list[FastStream | OrchestratorApp] = field(default_factory=list)
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)

    def settings(self, **overrides: Any) -> Settings:
        """Settings on these servers (a 2 s ack wait), with `overrides`."""
        fields: dict[str, Any] = {
            "nats_url": self.nats.url,
            "database_url": self.database_url,
            "data_dir": self.tmp,
            "ack_wait_seconds": 2.0,
            "allow_plugin_paths": True,  # the tests' own plugins, named by dotted path
        }
        return Settings(**(fields | overrides))

    async def start_worker(
        self, model: ModelHandler | None = None, *, name: str | None = None, priority: int = 0
    ) -> FastStream:
        """A model worker in process (the scripted double unless `model` is given)."""
        _, app = build_worker_app(
            self.settings(), model or ScriptedModel(), provider_name=name, priority=priority
        )
        await app.start()
        self.apps.append(app)
        return app

    async def start_orchestrator(
        self, characters: list[Character] | None = None, **settings: Any
    ) -> OrchestratorApp:
        """An orchestrator in process (the default character unless `characters` are given)."""
        app = build_app(self.settings(**settings), characters or [load_character(None)])
        await app.start()
        self.apps.append(app)
        return app

    async def stop(self, app: FastStream | OrchestratorApp) -> None:
        """Stop one service this harness started."""
        self.apps.remove(app)
        await app.stop()

    async def spawn(
        self, *args: str, pipes: bool = False, **env: str
    ) -> asyncio.subprocess.Process:
        """`elizabus ARGS` as a child process on these servers; `env` adds ELIZABUS_<KEY>;
        `pipes` connects its stdin, stdout and stderr to the test."""
        variables = {k: v for k, v in os.environ.items() if not k.startswith("ELIZABUS_")}
        variables |= {
            "ELIZABUS_NATS_URL": self.nats.url,
            "ELIZABUS_DATABASE_URL": self.database_url,
            "ELIZABUS_DATA_DIR": str(self.tmp),
            "ELIZABUS_LOG_LEVEL": "WARNING",
            "ELIZABUS_ALLOW_PLUGIN_PATHS": "true",  # the tests' own plugins, by dotted path
        }
        variables |= {f"ELIZABUS_{k.upper()}": v for k, v in env.items()}
        pipe = asyncio.subprocess.PIPE if pipes else None
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli.main", *args,
            env=variables, cwd=REPO, stdin=pipe, stdout=pipe, stderr=pipe,
        )  # fmt: skip
        self.processes.append(proc)
        return proc

    async def run(
        self, *args: str, stdin: str = "", timeout: float = 60.0, **env: str
    ) -> tuple[int, str, str]:
        """`elizabus ARGS` to completion on these servers: exit code, stdout, stderr."""
        proc = await self.spawn(*args, pipes=True, **env)
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def stored(self, subject: str, stream: str = subjects.MESSAGES_STREAM) -> int:
        """How many messages JetStream stream `stream` holds on `subject`."""
        info = await self.client.js.stream_info(stream, subjects_filter=subject)
        return int((info.state.subjects or {}).get(subject, 0))

    async def received_consumers(self) -> list[ConsumerInfo]:
        """The consumers the orchestrators run inbound messages from: one per partition of
        `message.received` (docs/partitions.md)."""
        return list(await self.client.js.consumers_info(subjects.PARTITIONS_STREAM))

    async def deliveries(self) -> int:
        """How many times JetStream delivered inbound messages to be run, redeliveries
        included (each delivery takes the next consumer sequence number of its partition)."""
        return sum(c.delivered.consumer_seq for c in await self.received_consumers())

    async def idle(self) -> bool:
        """Whether every `message.received` message was routed, delivered and acked."""
        return await inbound_settled(self.client.js)

    async def count_events(self, event_type: str | None = None) -> int:
        """How many events the log holds (of one type)."""
        if event_type is None:
            return int(await self.pool.fetchval("SELECT count(*) FROM events"))
        sql = "SELECT count(*) FROM events WHERE type = $1"
        return int(await self.pool.fetchval(sql, event_type))

    async def close(self) -> None:
        """Stop everything started, newest first, then the servers. Each step is bounded and
        runs even if one before failed: a step that hangs or fails is reported as an error after
        the others ran, never a test run that hangs or leaves servers behind."""
        for proc in self.processes:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            *((f"stopping {app}", app.stop) for app in reversed(self.apps)),
            ("closing the client", self.client.close),
            ("closing the pool", self.pool.close),
            ("stopping nats-server", self.nats.stop),
        ]
        problems = []
        for name, step in steps:
            task = asyncio.ensure_future(step())
            done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT)
            if not done:  # cancelled, and not waited for long: it may ignore cancellation
                problems.append(f"{name}: not finished within {STOP_TIMEOUT}s")
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
            elif task.exception() is not None:
                problems.append(f"{name}: {task.exception()!r}")
        assert not problems, f"teardown: {problems}"


async def exit_code(proc: asyncio.subprocess.Process, timeout: float = 60.0) -> int:
    """The child's exit code, failing the test if it still runs after `timeout` seconds."""
    return await asyncio.wait_for(proc.wait(), timeout)


async def equals(value: Awaitable[Any], expected: Any) -> bool:
    """`await value == expected`, for wait_for predicates."""
    return bool(await value == expected)
