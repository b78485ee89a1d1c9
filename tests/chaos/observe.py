"""What became of the load, read where it is recorded: the streams and the `runs` table.

Replies are counted in stream ELIZABUS_MESSAGES (`message.sent.>`), each with the time JetStream
stored it; dead letters in the same stream (`message.dlq`), each naming the sequence of the body
it refused. A run recorded as completed that sent no reply is an agent that chose to stay silent
(possible with a garbage model answer), which is not a lost message.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import asyncpg
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared import subjects
from shared.character import load_character
from shared.ids import create_unique_uuid
from shared.messages import DeadLetter, MessageSent
from tests.chaos.load import Sent

ENDED_WITHOUT_FAILURE = frozenset({"completed", "ignored"})
"""Run statuses of a run that ended as the agent decided (a failed run is dead-lettered)."""


@dataclass(frozen=True)
class Stored:
    """One message of a stream: its body and when JetStream stored it (wall clock)."""

    data: bytes
    stored_at: float
    sequence: int


async def read_subject(nc: NatsClient, subject: str, stream: str) -> list[Stored]:
    """Every message of `stream` on `subject` (wildcards allowed), oldest first."""
    js = nc.jetstream(timeout=5.0)
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.ALL,
        inactive_threshold=30.0,
        mem_storage=True,
    )
    sub = await js.pull_subscribe(subject, stream=stream, config=config)
    found: list[Stored] = []
    try:
        while True:
            try:
                batch = await sub.fetch(256, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                batch = []
            for msg in batch:
                meta = msg.metadata
                found.append(Stored(msg.data, meta.timestamp.timestamp(), meta.sequence.stream))
            if not batch and (await sub.consumer_info()).num_pending == 0:
                return found
    finally:
        await sub.unsubscribe()


@dataclass
class Reply:
    """A reply stored in the stream."""

    reply_id: uuid.UUID
    run_id: uuid.UUID
    stored_at: float
    room: str
    text: str


@dataclass
class Observed:
    """Replies by the message they answer, dead letters by the sequence of what they refused,
    and the messages whose run completed without a reply."""

    replies: dict[uuid.UUID, list[Reply]] = field(default_factory=dict)
    dead_letters: dict[int | None, list[float]] = field(default_factory=dict)
    silent: dict[uuid.UUID, float] = field(default_factory=dict)
    """Messages whose run ended without a reply (the agent chose not to answer): when."""
    silent_status: dict[uuid.UUID, str] = field(default_factory=dict)
    failed_runs: set[uuid.UUID] = field(default_factory=set)

    def resolved(self, sent: Sent) -> bool:
        """Whether `sent` has its outcome (a reply, a silent completed run, or a dead letter)."""
        if sent.sequence in self.dead_letters:
            return True
        if sent.expect == "dlq":
            return False
        mid = sent.message_id
        return mid in self.replies or mid in self.silent


async def observe(nc: NatsClient, pool: asyncpg.Pool, published: list[Sent]) -> Observed:
    """Read the streams and the runs table for the outcome of every published body."""
    out = Observed()
    replies: dict[uuid.UUID, list[Reply]] = defaultdict(list)
    for stored in await read_subject(
        nc, f"{subjects.MESSAGE_SENT_PREFIX}.>", subjects.MESSAGES_STREAM
    ):
        reply = MessageSent.model_validate_json(stored.data)
        replies[reply.in_reply_to].append(
            Reply(reply.id, reply.run_id, stored.stored_at, reply.room.id, reply.content.text)
        )
    out.replies = dict(replies)
    letters: dict[int | None, list[float]] = defaultdict(list)
    for stored in await read_subject(nc, subjects.MESSAGE_DLQ, subjects.MESSAGES_STREAM):
        letter = DeadLetter.model_validate_json(stored.data)
        letters[letter.stream_sequence].append(stored.stored_at)
    out.dead_letters = dict(letters)
    agent = load_character(None).agent_id
    by_run_message = {
        create_unique_uuid(agent, s.key): s.message_id for s in published if s.expect == "reply"
    }
    rows = await pool.fetch(
        "SELECT message_id, status, ended_at FROM runs WHERE message_id = ANY($1::uuid[])",
        list(by_run_message),
    )
    for row in rows:
        mid = by_run_message[row["message_id"]]
        if row["status"] in ENDED_WITHOUT_FAILURE and mid not in out.replies:
            out.silent[mid] = (row["ended_at"] or 0) / 1000.0
            out.silent_status[mid] = row["status"]
        elif row["status"] not in ENDED_WITHOUT_FAILURE:
            out.failed_runs.add(mid)
    return out


async def inbound_settled(nc: NatsClient) -> bool:
    """Whether every `message.received` was routed and every routed copy handled."""
    js = nc.jetstream(timeout=5.0)
    router = await js.consumer_info(subjects.MESSAGES_STREAM, subjects.ROUTER_DURABLE)
    if router.num_pending or router.num_ack_pending:
        return False
    partitions = await js.stream_info(subjects.PARTITIONS_STREAM)
    return partitions.state.messages == 0


async def wait_settled(
    nc: NatsClient, pool: asyncpg.Pool, published: list[Sent], timeout: float
) -> tuple[Observed, bool]:
    """Poll until every published body has its outcome and the inbound queues are empty, or
    `timeout` seconds passed; the last observation and whether it settled."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            seen = await observe(nc, pool, published)
            done = all(seen.resolved(s) for s in published) and await inbound_settled(nc)
        except (nats.errors.Error, OSError, asyncpg.PostgresError, TimeoutError):
            done, seen = False, Observed()
        if done or time.monotonic() > deadline:
            if not done:
                seen = await observe(nc, pool, published)
            return seen, done
        await asyncio.sleep(1.0)
