"""The orchestrator process: pulls its share of the partitions of `message.received` and runs them.

`build_app` wires one process: the bus, the event store, one AgentRuntime per character, the
router (services/orchestrator/router.py, on its own thread) that copies `message.received` into
partitions, and the pull loops (services/orchestrator/pull_loops.py) that run each partition's
messages in order. Start as many processes as you like: they share the same
durable consumers, so each takes a share with no configuration, and a process that dies leaves its
messages to the others after the ack wait (`ELIZABUS_ACK_WAIT_SECONDS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

import asyncpg
from nats.aio.msg import Msg

from services.orchestrator.agents import build_runtime
from services.orchestrator.consumers import ensure_partition_consumers, ensure_router_consumer
from services.orchestrator.delivery import (
    Delivery,
    Disposition,
    Orchestrator,
    retry_delay,
)
from services.orchestrator.message_run import AgentHost, MessageRunner
from services.orchestrator.pull_loops import RECEIVED_SEQUENCE_HEADER, PullLoops
from services.orchestrator.router import RouterThread
from shared import subjects
from shared.bus import nats_permissions
from shared.bus.jetstream_retry import retry_while_unavailable
from shared.bus.models_bucket import open_models_bucket
from shared.bus.nats_bus import NatsBus, ensure_streams
from shared.bus.nats_connect import connect_nats
from shared.character import Character, load_character
from shared.errors import ConfigurationError
from shared.eventstore.id_migration import legacy_ids_in_use
from shared.eventstore.migrations import migrate
from shared.eventstore.postgres import PostgresEventStore, create_pool
from shared.gc_tuning import tune_for_serving
from shared.inbound import InboundLimits
from shared.projections import PostgresProjector
from shared.projections.vector_index import VectorIndexMaintainer
from shared.runtime.settings_lookup import secret_values
from shared.secrets import Scrubber, install_log_scrubber
from shared.settings import Settings

log = logging.getLogger(__name__)

STOP_DEADLINE_SECONDS = 10.0
"""How long a stopping orchestrator lets its runs in flight finish before handing them back."""

BUS_SETUP_PATIENCE_SECONDS = 60.0
"""How long start-up retries creating the streams and consumers while JetStream does not answer
(a cluster that is still electing its leaders, or whose node just died)."""

BUS_SETUP_REQUEST_TIMEOUT_SECONDS = 2.0
"""How long one stream or consumer request of start-up waits for its answer before it is asked
again: a clustered nats-server can leave two orchestrators' simultaneous requests to create the
same stream unanswered (nats-server issue 3677), while the stream does get created."""


async def refuse_legacy_ids(pool: asyncpg.Pool, characters: list[Character]) -> None:
    """Stop start-up when the log still holds ids of elizabus's first id scheme for one of these
    agents: running on would give them new ids and lose their history."""
    found = await legacy_ids_in_use(
        pool, [(c.name, c.agent_id, c.id is not None) for c in characters]
    )
    if found:
        raise ConfigurationError(
            "the database holds ids from before elizabus computed ids as ElizaOS does ("
            + "; ".join(found)
            + "): stop every orchestrator, run `elizabus ids migrate`, then start again"
        )


class OrchestratorApp:
    """One orchestrator process: `start` connects and starts pulling, `stop` stops pulling, lets
    the runs in flight finish (or hands them back), then closes runtimes, bus and pool."""

    def __init__(self, settings: Settings, characters: list[Character]) -> None:
        self.settings = settings
        self.characters = characters
        self.scrubber = Scrubber(v for c in characters for v in secret_values(c))
        self.bus: NatsBus | None = None
        self.pool: asyncpg.Pool | None = None
        self.host: AgentHost | None = None
        self.service: Orchestrator | None = None
        self.loops: PullLoops | None = None
        self.router: RouterThread | None = None
        self.stopping = asyncio.Event()
        self.index_maintainer: VectorIndexMaintainer | None = None

    async def start(self) -> None:
        """Migrate, connect, start the agents, ensure streams and consumers, start pulling."""
        settings = self.settings
        install_log_scrubber(self.scrubber)  # the hosted characters' secrets never reach a log
        database_url = settings.resolved_database_url()
        await migrate(database_url)
        self.bus = bus = await NatsBus.connect(
            settings.resolved_nats_url(),
            name="elizabus-orchestrator",
            auth=settings.resolved_nats_auth(nats_permissions.ORCHESTRATOR),
        )
        replicas = settings.stream_replicas

        js = bus.nc.jetstream(timeout=BUS_SETUP_REQUEST_TIMEOUT_SECONDS)

        partitions = settings.partitions or 0

        async def set_up_jetstream() -> None:
            await ensure_streams(
                js,
                settings.duplicate_window_seconds,
                replicas=replicas,
                messages_max_age_seconds=settings.messages_max_age_days * 24 * 3600.0,
                messages_max_bytes=settings.messages_max_bytes,
            )
            await ensure_router_consumer(js, settings.ack_wait_seconds, replicas)
            nonlocal partitions
            partitions = await ensure_partition_consumers(
                js, settings.partitions, settings.ack_wait_seconds, replicas
            )
            await open_models_bucket(js, replicas=replicas)  # before the agents watch it

        await retry_while_unavailable(
            set_up_jetstream, "creating the streams and consumers", BUS_SETUP_PATIENCE_SECONDS
        )
        self.pool = pool = await create_pool(database_url, max_size=settings.db_pool_size)
        await refuse_legacy_ids(pool, self.characters)
        store = PostgresEventStore(pool, PostgresProjector())
        host = AgentHost([build_runtime(c, store, pool, bus, settings) for c in self.characters])
        await host.initialize()
        self.host = host
        self.index_maintainer = VectorIndexMaintainer(pool)  # new memories into their HNSW index
        self.index_maintainer.start()
        for runtime in host.by_id.values():
            runtime.start_task_scheduler()
            runtime.start_embedding_repair(settings.embedding_repair_seconds)
        self.service = Orchestrator(
            host, MessageRunner(store, fault=settings.fault), bus, store,
            max_deliver=settings.max_deliver,
            fault=settings.fault, scrubber=self.scrubber, limits=InboundLimits.of(settings),
        )  # fmt: skip
        self.loops = PullLoops(
            bus.js, self.handle, partitions=partitions,
            max_concurrent_runs=settings.max_concurrent_runs,
            ack_wait=settings.ack_wait_seconds, scrub=self.scrub_body,
        )  # fmt: skip
        self.loops.start()
        self.router = RouterThread(
            lambda: connect_nats(
                settings.resolved_nats_url(), "elizabus-router",
                auth=settings.resolved_nats_auth(nats_permissions.ORCHESTRATOR),
            ),
            partitions=partitions, ack_wait=settings.ack_wait_seconds, scrub=self.scrub_body,
        )  # fmt: skip
        self.router.start()
        tune_for_serving()
        names = ", ".join(f"{c.name} ({c.agent_id})" for c in self.characters)
        log.info("orchestrator ready: agents %s; %d partitions, up to %d runs at once", names,
                 partitions, settings.max_concurrent_runs)  # fmt: skip

    def scrub_body(self, body: bytes) -> bytes:
        """An inbound body with the hosted agents' secrets removed before the router copies it
        onto the bus again (a user who pasted a key in chat): JSON stays JSON."""
        try:
            return self.scrubber.json_bytes(body)
        except ValueError:  # not JSON: it will be dead-lettered; scrub its bytes
            return self.scrubber.raw(body)

    async def handle(self, msg: Msg) -> None:
        """Run one partition message to its end: retried in place with back-off (holding the
        partition, so no later message of the conversation overtakes it) until it is done or
        dead-lettered; the pull loop then acknowledges it."""
        assert self.service is not None
        headers = dict(msg.headers or {})
        received = headers.pop(RECEIVED_SEQUENCE_HEADER, None)
        attempt = msg.metadata.num_delivered
        while True:
            delivery = Delivery(
                body=msg.data,
                subject=subjects.MESSAGE_RECEIVED,
                headers={k: v for k, v in headers.items() if not k.startswith("Nats-")},
                stream_sequence=int(received) if received and received.isdigit() else None,
                num_delivered=attempt,
            )
            if await self.service.process(delivery) is Disposition.ACK:
                return  # the loop acknowledges it
            await self._before_retry(
                retry_delay(
                    attempt,
                    self.settings.retry_delay_seconds,
                    self.settings.max_retry_delay_seconds,
                )
            )
            attempt += 1

    async def _before_retry(self, delay: float) -> None:
        """Wait `delay` seconds before running a failed message again, unless this process is
        stopping: then it hands the message back at once (cancelled, so the pull loop NAKs it
        for whichever process runs next) instead of retrying until the stop deadline. A stack
        whose `up` was killed has lost its database and bus too: retrying in place only kept
        the next `up` waiting for this process to exit."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), delay)
        if self.stopping.is_set():
            log.info("stopping: a failed message is handed back instead of retried here")
            raise asyncio.CancelledError

    async def _stop_loops(self, loops: PullLoops) -> None:
        """Stop pulling and give the runs in flight up to STOP_DEADLINE_SECONDS to finish; but
        while NATS is away (the whole stack is going down, e.g. its `up` was killed) no run can
        publish its reply nor be acknowledged, so they are handed back at once: the next `up`
        waits for this process to exit."""
        bus = self.bus
        if bus is None or not bus.nc.is_connected:
            await loops.stop(0.0)
            return
        graceful = asyncio.ensure_future(loops.stop(STOP_DEADLINE_SECONDS))
        lost = bus.connection_lost()  # shared: never cancelled
        await asyncio.wait({graceful, lost}, return_when=asyncio.FIRST_COMPLETED)
        if not graceful.done():
            log.info("stopping: NATS went away, the runs in flight are handed back now")
            await loops.stop(0.0)
        await graceful

    async def stop(self) -> None:
        """Stop pulling, let the runs in flight finish or hand them back (`_stop_loops`), then
        close everything."""
        self.stopping.set()
        if self.router is not None:
            await self.router.stop()
            self.router = None
        if self.loops is not None:
            await self._stop_loops(self.loops)
            self.loops = None
        if self.host is not None:
            await self.host.stop()
            self.host = None
        if self.index_maintainer is not None:
            await self.index_maintainer.stop()
            self.index_maintainer = None
        if self.bus is not None:
            await self.bus.close()
            self.bus = None
        if self.pool is not None:
            await self.pool.close()
            self.pool = None


def build_app(settings: Settings, characters: list[Character]) -> OrchestratorApp:
    """Wire one orchestrator process (not started)."""
    return OrchestratorApp(settings, characters)


async def run_orchestrator(settings: Settings, character_paths: list[Path]) -> None:
    """Run the orchestrator until SIGINT/SIGTERM, then stop it gracefully."""
    characters = [load_character(p) for p in character_paths] or [load_character(None)]
    app = build_app(settings, characters)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await app.start()
    try:
        await stopping.wait()
    finally:
        log.info("orchestrator stopping: no new messages; runs in flight finish or go back")
        await app.stop()
