"""The partitioned design on a 3-node NATS cluster: a node killed mid-load loses and duplicates
nothing (real nats-server cluster, real Postgres, orchestrators as separate processes).

Three nats-server nodes on loopback, routed to each other; elizabus's streams, consumers and KV
bucket have 3 replicas (`ELIZABUS_STREAM_REPLICAS=3`). Every connection (the adapter publishing
here, the model worker, two orchestrator processes) is given all three URLs. Halfway through the
load, the node leading stream ELIZABUS_PARTITIONS gets SIGKILL: the streams and consumers it led
have no leader for several seconds, connections to it move to the other nodes. Afterwards the
log and the streams must show each message run once, answered once, each room in order. Then the
killed node is restarted on its store and catches up. The nodes have elizabus's users, as the
embedded server of `elizabus up` has: each process logs in as its role (the test itself as admin).
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import nats.js.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import DeliverPolicy
from pydantic import SecretStr

from services.model_worker.app import build_worker_app
from services.model_worker.latency import WithLatency
from shared import subjects
from shared.bus.jetstream_retry import (
    TRANSIENT_ERRORS,
    publish_patiently,
    retry_while_unavailable,
)
from shared.bus.nats_bus import ensure_streams
from shared.bus.nats_connect import connect_nats
from shared.bus.nats_permissions import (
    ADMIN,
    ORCHESTRATOR,
    RoleSet,
    inbox_prefix,
    model_worker_user,
)
from shared.embedded.nats_cluster import EmbeddedNatsCluster
from shared.eventstore.postgres import create_pool
from shared.messages import MessageReceived, MessageSent
from shared.settings import Settings
from shared.testing import ScriptedModel
from tests.integration.support import (
    assert_each_room_in_publish_order,
    at_least,
    completed_runs,
    dm,
    fresh_database,
    inbound_settled,
    orchestrator_process,
    runs_by_message,
    stop_all,
    wait_for,
)

pytestmark = pytest.mark.integration

WORKER_STOP_SECONDS = 60.0
"""How long the teardown waits for the in-process model worker to stop."""

REPLICAS = 3
PARTITIONS = 8  # few raft groups on the small CI machine; rooms share partitions
ROOMS = 12
PER_ROOM = 6
REPLY_SUBJECT = subjects.message_sent("test")


@dataclass
class ClusterBus:
    """A fresh 3-node cluster and database, a model worker, and an adapter's connection."""

    cluster: EmbeddedNatsCluster
    settings: Settings
    nc: NatsClient
    pool: asyncpg.Pool

    def env(self) -> dict[str, str]:
        """The environment of an orchestrator process on this cluster."""
        login = self.cluster.login(ORCHESTRATOR)
        assert login is not None and login.user is not None
        return os.environ | {
            "ELIZABUS_NATS_URL": self.cluster.urls,
            "ELIZABUS_NATS_USER": login.user,
            "ELIZABUS_NATS_PASSWORD": login.password or "",
            "ELIZABUS_DATABASE_URL": str(self.settings.database_url),
            "ELIZABUS_STREAM_REPLICAS": str(REPLICAS),
            "ELIZABUS_PARTITIONS": str(PARTITIONS),
            "ELIZABUS_ACK_WAIT_SECONDS": "2",
            # a model request whose reply died with the node fails fast and the run is retried
            "ELIZABUS_MODEL_ATTEMPT_TIMEOUT_SECONDS": "10",
            "ELIZABUS_LOG_LEVEL": "WARNING",
        }


@pytest.fixture
async def bus(tmp_path: Path, database_url: str) -> AsyncIterator[ClusterBus]:
    roles = RoleSet.of(worker_providers=["scripted"], model_timeout_seconds=10)
    cluster = await EmbeddedNatsCluster(tmp_path / "nats", size=3, roles=roles).start()
    try:
        db_url = await fresh_database(database_url)
        settings = Settings(
            nats_url=cluster.urls, database_url=db_url, stream_replicas=REPLICAS, _env_file=None
        )
        nc = await connect_nats(cluster.urls, "test-adapter", auth=cluster.login(ADMIN))
        # the adapter can publish before any orchestrator runs; the first requests to a cluster
        # that has just elected its meta leader can time out, hence the retry
        await retry_while_unavailable(
            lambda: ensure_streams(
                nc.jetstream(timeout=2), settings.duplicate_window_seconds, replicas=REPLICAS
            ),
            "creating the streams",
            60,
        )
        # text calls take a while, so runs overlap and the kill finds some in flight
        worker_login = cluster.login(model_worker_user("scripted"))
        assert worker_login is not None and worker_login.password is not None
        worker_settings = settings.model_copy(
            update={
                "nats_user": worker_login.user,
                "nats_password": SecretStr(worker_login.password),
            }
        )
        _, worker = build_worker_app(worker_settings, WithLatency(ScriptedModel(), 0.1))
        await worker.start()
        pool = await create_pool(db_url, max_size=4)
        try:
            yield ClusterBus(cluster, settings, nc, pool)
        finally:
            await pool.close()
            try:  # seen hanging once in ~26 runs after the node restart (cause not found)
                await asyncio.wait_for(worker.stop(), WORKER_STOP_SECONDS)
            except TimeoutError:
                warnings.warn(
                    f"the in-process model worker did not stop within {WORKER_STOP_SECONDS:g}s; "
                    "left to the cluster's stop",
                    stacklevel=1,
                )
            await nc.close()
    finally:
        await cluster.stop()


async def publish(nc: NatsClient, message: MessageReceived) -> None:
    """Publish as an adapter would, retrying (same Nats-Msg-Id) through a leader election."""
    await publish_patiently(
        nc.jetstream(),
        subjects.MESSAGE_RECEIVED,
        message.model_dump_json().encode(),
        str(message.id),
    )


async def stored_replies(nc: NatsClient, expected: int) -> list[MessageSent]:
    """Every reply stored in the stream on REPLY_SUBJECT (at least `expected` are waited for)."""
    js = nc.jetstream()
    info = await retry_while_unavailable(  # the killed node's streams may still be electing
        lambda: js.stream_info(subjects.MESSAGES_STREAM, subjects_filter=REPLY_SUBJECT),
        "reading the stream", 60.0,
    )  # fmt: skip
    stored = (info.state.subjects or {}).get(REPLY_SUBJECT, 0)
    sub = await retry_while_unavailable(
        lambda: js.subscribe(
            REPLY_SUBJECT,
            stream=subjects.MESSAGES_STREAM,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        ),
        "reading the replies", 60.0,
    )  # fmt: skip
    try:
        return [
            MessageSent.model_validate_json((await sub.next_msg(timeout=10)).data)
            for _ in range(max(stored, expected))
        ]
    finally:
        await sub.unsubscribe()


async def settled(bus: ClusterBus) -> bool:
    """`inbound_settled`, false while JetStream still elects (a request fails meanwhile)."""
    try:
        return await inbound_settled(bus.nc.jetstream())
    except TRANSIENT_ERRORS:
        return False


async def both_pulling(bus: ClusterBus) -> bool:
    """Whether both orchestrator processes have started: each waits on every partition."""
    js = bus.nc.jetstream()
    try:
        info = await js.consumer_info(subjects.PARTITIONS_STREAM, subjects.partition_durable(0))
    except (*TRANSIENT_ERRORS, nats.js.errors.NotFoundError):
        return False  # not created yet
    return info.num_waiting >= 2


async def test_a_nats_node_killed_mid_load_loses_and_duplicates_nothing(bus: ClusterBus) -> None:
    rooms = [f"room-{i}" for i in range(ROOMS)]
    published: dict[str, list[MessageReceived]] = {room: [] for room in rooms}
    total = ROOMS * PER_ROOM

    async def publish_round(k: int) -> None:
        for room in rooms:  # interleaved: one message of every room, then the next
            message = dm(room, f"{room} message {k}")
            published[room].append(message)
            await publish(bus.nc, message)

    orchestrators = [await orchestrator_process(bus.env()) for _ in range(2)]
    try:
        await wait_for(lambda: both_pulling(bus), timeout=60)
        for k in range(PER_ROOM // 2):
            await publish_round(k)
        # mid-load: the orchestrators run (some runs ended), most messages still wait or run
        await wait_for(lambda: at_least(completed_runs(bus.pool), 4), timeout=60)
        js = bus.nc.jetstream()
        placement = (await js.stream_info(subjects.PARTITIONS_STREAM)).cluster
        assert placement is not None and placement.leader is not None
        victim = placement.leader  # the node leading the partitions' work queue
        await bus.cluster.kill(bus.cluster.index_of(victim))
        assert await completed_runs(bus.pool) < total // 2  # the first half is still running
        for k in range(PER_ROOM // 2, PER_ROOM):  # published while the cluster re-elects
            await publish_round(k)

        await wait_for(lambda: at_least(completed_runs(bus.pool), total), timeout=120)
        await wait_for(lambda: settled(bus), timeout=60)
        after = (await js.stream_info(subjects.PARTITIONS_STREAM)).cluster
        assert after is not None and after.leader not in (None, victim)  # it did fail over
    finally:
        await stop_all(orchestrators)

    # nothing lost, nothing run twice: one run per message, each room in publish order
    assert await completed_runs(bus.pool) == total
    assert_each_room_in_publish_order(published, await runs_by_message(bus.pool))
    dead_letters = await bus.pool.fetchval(
        "SELECT count(*) FROM events WHERE type = 'message.rejected'"
    )
    assert dead_letters == 0
    # one stored reply per message, none twice; each inbound message stored once
    replies = await stored_replies(bus.nc, total)
    expected_ids = {m.id for messages in published.values() for m in messages}
    assert len(replies) == total
    assert {r.in_reply_to for r in replies} == expected_ids
    info = await retry_while_unavailable(
        lambda: js.stream_info(subjects.MESSAGES_STREAM, subjects_filter="message.received"),
        "reading the stream", 60.0,
    )  # fmt: skip
    assert (info.state.subjects or {}).get("message.received") == total

    # the killed node comes back on its store and catches up with the stream
    await bus.cluster.restart(bus.cluster.index_of(victim))
    await wait_for(lambda: caught_up(bus, victim), timeout=30)
    # every process had the grants it uses on every node. One refusal is expected: a worker that
    # moved to another node answering a request it received through the killed one (a reply
    # permission belongs to the connection the request came on; that request is lost, as it is
    # when the requester's node dies, and the run retries it)
    for node in bus.cluster.nodes:
        log = node.log_file.read_text(errors="replace")
        refused = [line for line in log.splitlines() if "Violation" in line]
        assert [line for line in refused if not late_reply(line)] == [], node.log_file


def late_reply(log_line: str) -> bool:
    """Whether nats-server refused the model worker a reply to the orchestrator's inbox."""
    worker = model_worker_user("scripted")
    return (
        f'user:{worker}"' in log_line
        and "Publish Violation" in log_line
        and f'Subject "{inbox_prefix(ORCHESTRATOR)}.' in log_line
    )


async def caught_up(bus: ClusterBus, node: str) -> bool:
    """Whether `node` is again a current replica of ELIZABUS_PARTITIONS (or its leader)."""
    try:
        info = (await bus.nc.jetstream().stream_info(subjects.PARTITIONS_STREAM)).cluster
    except TRANSIENT_ERRORS:
        return False
    if info is None:
        return False
    replicas = {r.name: r for r in info.replicas or []}
    return info.leader == node or (node in replicas and bool(replicas[node].current))
