"""The walking skeleton end to end on a real nats-server (JetStream) and Postgres+pgvector."""

from __future__ import annotations

import base64
import uuid

import nats
import pytest

from shared import subjects
from shared.messages import EntityRef, InboundContent, MessageReceived, RoomRef
from shared.projections import rebuild_projections
from tests.integration.support import Stack, dump_projections, inbound_settled, wait_for

pytestmark = pytest.mark.integration


async def stored_count(stack: Stack, subject: str, stream: str = subjects.MESSAGES_STREAM) -> int:
    """How many messages a JetStream stream holds on one subject."""
    nc = await nats.connect(stack.nats.url)
    try:
        info = await nc.jetstream().stream_info(stream, subjects_filter=subject)
        return int((info.state.subjects or {}).get(subject, 0))
    finally:
        await nc.close()


async def event_count(stack: Stack) -> int:
    return int(await stack.pool.fetchval("SELECT count(*) FROM events"))


def message(
    text: str, user: str = "u1", room: str = "r1", msg_id: uuid.UUID | None = None
) -> MessageReceived:
    return MessageReceived(
        id=msg_id or uuid.uuid4(),
        source="test",
        entity=EntityRef(id=user, name=user.upper(), username=user),
        room=RoomRef(id=room, name=room, type="GROUP", server_id="srv"),
        content=InboundContent(text=text),
    )


async def test_full_pipeline_reply_events_and_projections(stack: Stack) -> None:
    reply = await stack.client.send("hello, who are you?", user="alice", room="lobby")
    assert reply.content.text
    run = await stack.store.read_run(reply.run_id)
    types = [e.type for e in run]
    assert types[0] == "run.started" and types[-2:] == ["run.ended", "run.outbox"]
    # message embedding, the answer, reply embedding (a DM: no should-respond call)
    used = [e.data["model_type"] for e in run if e.type == "model.used"]
    assert used == ["TEXT_EMBEDDING", "TEXT_LARGE", "TEXT_EMBEDDING"]
    assert "message.sent" in types
    positions = [e.position for e in run]  # one append: one block of the log, nothing between
    assert positions == list(range(positions[0], positions[0] + len(run)))
    ended = run[-2].data
    assert ended["status"] == "completed" and ended["duration_ms"] > 0
    outbox = [m["subject"] for m in run[-1].data["messages"]]
    assert "message.sent.test" in outbox and "event.MESSAGE_RECEIVED" in outbox
    # the fan-out reaches JetStream (just after the reply): other services can follow every run
    for name in ("RUN_STARTED", "MESSAGE_RECEIVED", "MESSAGE_SENT", "RUN_ENDED"):
        subject = subjects.event(name)

        async def stored(subject: str = subject) -> bool:
            return await stored_count(stack, subject, subjects.EVENTS_STREAM) >= 1

        await wait_for(stored, timeout=10)

    rows = await stack.pool.fetch(
        "SELECT entity_id, content, vector_dims(embedding) AS dims FROM memories "
        "WHERE content->>'type' IS DISTINCT FROM 'action_result' ORDER BY created_at"
    )
    assert [r["content"]["text"] for r in rows] == ["hello, who are you?", reply.content.text]
    assert all(r["dims"] == 384 for r in rows)
    # ElizaOS's action_result memory of REPLY, stored without an embedding
    [result] = await stack.pool.fetch(
        "SELECT content, embedding FROM memories WHERE content->>'type' = 'action_result'"
    )
    assert result["content"]["actionName"] == "REPLY" and result["embedding"] is None
    assert result["content"]["actionStatus"] == "completed"
    assert await stack.pool.fetchval("SELECT count(*) FROM entities") == 2  # alice + the agent
    # the agent's own room and world (created at initialize) and the lobby's
    assert await stack.pool.fetchval("SELECT count(*) FROM participants") == 3
    assert await stack.pool.fetchval("SELECT count(*) FROM rooms") == 2
    assert await stack.pool.fetchval("SELECT count(*) FROM worlds") == 2
    logs = await stack.pool.fetch("SELECT type, body FROM logs WHERE run_id = $1", reply.run_id)
    log_types = sorted(r["type"] for r in logs)
    assert log_types.count("useModel:TEXT_EMBEDDING") == 2 and "useModel:TEXT_LARGE" in log_types
    large = next(r["body"] for r in logs if r["type"] == "useModel:TEXT_LARGE")
    assert "hello, who are you?" in large["params"]["prompt"] and large["response"]


async def test_duplicate_publish_gives_one_run_and_one_reply(stack: Stack) -> None:
    first = message("only once please")
    reply = await stack.client.send("warm up")  # the stack is serving
    assert reply.content.text
    await stack.client.publish(first)
    await stack.client.publish(first)  # same Nats-Msg-Id: JetStream drops it
    # a late duplicate outside JetStream's window: same id, different Nats-Msg-Id
    await stack.client.js.publish(
        subjects.MESSAGE_RECEIVED,
        first.model_dump_json().encode(),
        headers={"Nats-Msg-Id": f"late-{first.id}"},
    )
    runs_for = "SELECT count(*) FROM runs WHERE status = 'completed'"
    await wait_for(lambda: _eq(stack.pool.fetchval(runs_for), 2))
    # give the late duplicate time to be processed, then check it added nothing
    await wait_for(lambda: _consumer_idle(stack))
    assert await stack.pool.fetchval(runs_for) == 2
    assert await stored_count(stack, subjects.message_sent("test")) == 2
    # JetStream stored warm-up, first and the late duplicate (its Nats-Msg-Id differs) ...
    assert await stored_count(stack, subjects.MESSAGE_RECEIVED) == 3
    # ... and the orchestrator recognised the late one as a run it had already recorded:
    started = await stack.pool.fetchval("SELECT count(*) FROM events WHERE type='run.started'")
    assert started == 2


async def test_malformed_body_goes_to_dlq_and_service_keeps_serving(stack: Stack) -> None:
    await stack.client.js.publish(
        subjects.MESSAGE_RECEIVED, b"{this is not json", headers={"Nats-Msg-Id": "bad-1"}
    )
    await stack.client.js.publish(
        subjects.MESSAGE_RECEIVED, b'{"id": "not-a-uuid"}', headers={"Nats-Msg-Id": "bad-2"}
    )
    reply = await stack.client.send("are you still there?")
    assert reply.content.text
    await wait_for(lambda: _eq(stored_count(stack, subjects.MESSAGE_DLQ), 2))
    rows = await stack.pool.fetch(
        "SELECT data FROM events WHERE type = 'message.rejected' ORDER BY position"
    )
    # each invalid body has a partition of its own content, so the two may be rejected in
    # either order
    by_body = {r["data"]["body"]: r["data"]["reason"] for r in rows}
    assert len(rows) == 2 and set(by_body) == {"{this is not json", '{"id": "not-a-uuid"}'}
    assert "invalid message.received body" in by_body["{this is not json"]
    wrong_fields = by_body['{"id": "not-a-uuid"}']
    assert "id" in wrong_fields and "source" in wrong_fields


async def test_hostile_bodies_reach_the_dead_letters_and_the_log_stores_their_bytes(
    stack: Stack,
) -> None:
    hostile = {
        "nul": message("a\x00b").model_dump_json().encode(),
        "bytes": b'{"id": "\x00\xff", "x": 1}',
        "huge": message("z" * 1_000_000).model_dump_json().encode(),
        "surrogate": message("ok").model_dump_json().encode().replace(b'"ok"', b'"\\udc00"'),
    }
    for name, raw in hostile.items():
        await stack.client.js.publish(
            subjects.MESSAGE_RECEIVED, raw, headers={"Nats-Msg-Id": f"hostile-{name}"}
        )
    reply = await stack.client.send("still serving?")
    assert reply.content.text
    await wait_for(lambda: _eq(stored_count(stack, subjects.MESSAGE_DLQ), len(hostile)))
    rows = await stack.pool.fetch(
        "SELECT data FROM events WHERE type = 'message.rejected' ORDER BY position"
    )
    by_reason = {r["data"]["reason"]: r["data"] for r in rows}
    assert len(by_reason) == len(hostile)
    reasons = " | ".join(by_reason)
    assert "content.text contains NUL (U+0000)" in reasons
    assert "over the limit of 262144 (ELIZABUS_MAX_MESSAGE_BYTES)" in reasons
    assert reasons.count("invalid message.received body") == 2  # the bytes and the surrogate
    stored = {base64.b64decode(d["body_base64"]) for d in by_reason.values() if d["body_base64"]}
    assert hostile["bytes"] in stored  # raw NUL and a byte that is not UTF-8: kept as base64
    texts = {d["body"] for d in by_reason.values()}
    assert hostile["nul"].decode() in texts  # NUL as a JSON escape: plain text
    huge = next(d for d in by_reason.values() if d["body_size"])
    assert huge["body_size"] == len(hostile["huge"])
    assert await stored_count(stack, subjects.message_sent("test")) == 1  # none was answered


async def test_projections_rebuilt_from_the_log_equal_the_live_ones(stack: Stack) -> None:
    for i, (user, room) in enumerate(
        [("ann", "a"), ("bob", "a"), ("ann", "b"), ("cy", "b"), ("bob", "b"), ("ann", "a")]
    ):
        reply = await stack.client.send(f"message {i} from {user}", user=user, room=room)
        assert reply.content.text
    await stack.client.js.publish(subjects.MESSAGE_RECEIVED, b"[]", headers={"Nats-Msg-Id": "bad"})
    await wait_for(lambda: _eq(stored_count(stack, subjects.MESSAGE_DLQ), 1))

    live = await dump_projections(stack.pool)
    assert all(
        live[t] for t in ("entities", "rooms", "worlds", "participants", "memories", "logs", "runs")
    )
    replayed = await rebuild_projections(stack.pool, page_size=7)  # several pages
    assert replayed == await event_count(stack)
    assert await dump_projections(stack.pool) == live


async def _eq(value, expected) -> bool:  # type: ignore[no-untyped-def]
    return bool(await value == expected)


async def _consumer_idle(stack: Stack) -> bool:
    nc = await nats.connect(stack.nats.url)
    try:
        return await inbound_settled(nc.jetstream())
    finally:
        await nc.close()
