"""What happens to a message when things go wrong: handler errors, give-up, a publish that fails
after the commit, two deliveries of one message at once, and settings that cannot work."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import nats.js.errors
import pytest

from services.orchestrator.delivery import Delivery, Disposition, retry_delay
from services.orchestrator.message_run import AgentHost
from shared import subjects
from shared.bus import jetstream_retry
from shared.character import Character
from shared.errors import ConfigurationError
from shared.ids import create_unique_uuid
from shared.plugin import Plugin
from shared.records import ParticipantState
from shared.settings import MAX_DELIVER, Settings
from shared.testing import InMemoryBus, InMemoryEventStore, ScriptedModel
from tests.unit.test_message_run import inbound, make, orchestrator, replies, runtime_for

SECRET = "sk-never-in-the-log-1234"


def failing_plugin(error: Exception) -> Plugin:
    async def fail(params: dict[str, Any]) -> None:
        raise error

    return Plugin(name="failing", events={"MESSAGE_RECEIVED": [fail]})


async def with_failing_handler(error: Exception):  # type: ignore[no-untyped-def]
    store = InMemoryEventStore()
    character = Character(name="Ada", secrets={"TOKEN": SECRET})
    runtime = runtime_for(character, store, ScriptedModel())
    await runtime.register_plugin(failing_plugin(error))
    orch, bus = await orchestrator([], store, ScriptedModel(), runtimes=[runtime])
    return orch, store, bus


async def test_a_handler_error_is_retried_then_dead_lettered_with_its_reason_scrubbed() -> None:
    orch, store, bus = await with_failing_handler(RuntimeError(f"bad token {SECRET}"))
    body = inbound("hello", room={"id": "dm", "type": "DM"})
    before = len(store.events)
    assert await orch.process(Delivery(body, stream_sequence=3)) is Disposition.NAK
    assert len(store.events) == before  # the failed run left nothing behind
    last = Delivery(body, stream_sequence=3, num_delivered=orch.max_deliver)
    assert await orch.process(last) is Disposition.ACK
    [letter] = bus.published
    assert letter.subject == subjects.MESSAGE_DLQ and SECRET.encode() not in letter.body
    rejected = store.events[-1]
    assert orch.max_deliver == MAX_DELIVER  # the app's default limit, not one of its own
    assert rejected.type == "message.rejected"
    assert f"failed {MAX_DELIVER} times" in rejected.data["reason"]
    assert SECRET not in json.dumps(rejected.data) and "[REDACTED]" in rejected.data["reason"]


def test_retries_back_off() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 4, 10)] == [1.0, 2.0, 4.0, 8.0, 30.0]
    defaults = Settings(_env_file=None)
    assert (defaults.retry_delay_seconds, defaults.max_retry_delay_seconds) == (1.0, 30.0)
    assert defaults.max_deliver == MAX_DELIVER == 8
    assert [retry_delay(n, 0.25, 1.0) for n in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 1.0]


class FlakyBus(InMemoryBus):
    """Bus double whose first `failures` publishes raise, as a NATS outage would."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def publish_durable(
        self, subject: str, body: bytes, msg_id: str, headers: dict[str, str] | None = None
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("nats is down")
        await super().publish_durable(subject, body, msg_id, headers)


async def test_a_publish_failing_after_the_commit_is_resent_from_the_stored_outbox() -> None:
    orch, store, _, model = await make()
    orch.bus = bus = FlakyBus(failures=1)
    body = inbound("hi", room={"id": "dm", "type": "DM"})
    assert await orch.process(Delivery(body)) is Disposition.NAK
    count, calls = len(store.events), len(model.calls)
    assert await orch.process(Delivery(body, num_delivered=2)) is Disposition.ACK
    assert len(store.events) == count and len(model.calls) == calls  # nothing ran again
    outbox = store.events[-1].data["messages"]
    assert sorted(p.msg_id for p in bus.published) == sorted(m["msg_id"] for m in outbox)
    assert len(replies(bus)) == 1


async def test_an_outbox_that_never_publishes_is_dead_lettered_at_the_delivery_limit() -> None:
    orch, store, _, _ = await make()
    orch.bus = bus = FlakyBus(failures=10**6)  # every outbox publish of every attempt fails
    body = inbound("hi", room={"id": "dm", "type": "DM"})
    for attempt in range(1, MAX_DELIVER):
        assert await orch.process(Delivery(body, num_delivered=attempt)) is Disposition.NAK
    bus.failures = 1  # the reply fails once more; the dead letter then goes through
    last = Delivery(body, num_delivered=MAX_DELIVER)
    assert await orch.process(last) is Disposition.ACK
    [letter] = [p for p in bus.published if p.subject == subjects.MESSAGE_DLQ]
    assert b"committed but its outbox could not be published" in letter.body
    assert [e.type for e in store.events].count("run.ended") == 1  # the run itself was kept


class ElectingBus(FlakyBus):
    """Bus double whose first `failures` publishes find no stream leader, as while a cluster
    elects one after a node died."""

    async def publish_durable(
        self, subject: str, body: bytes, msg_id: str, headers: dict[str, str] | None = None
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise nats.js.errors.NoStreamResponseError
        await InMemoryBus.publish_durable(self, subject, body, msg_id, headers)


async def test_a_publish_during_a_leader_election_is_retried_in_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jetstream_retry, "RETRY_PAUSE_SECONDS", 0.001)
    orch, store, _, _ = await make()
    orch.bus = bus = ElectingBus(failures=3)
    body = inbound("hi", room={"id": "dm", "type": "DM"})
    assert await orch.process(Delivery(body)) is Disposition.ACK  # no redelivery needed
    assert bus.failures == 0
    assert len(replies(bus)) == 1
    assert [e.type for e in store.events].count("run.ended") == 1


async def test_two_deliveries_at_once_record_one_run_only() -> None:
    orch, store, bus, _ = await make()
    body = inbound("hello twice", room={"id": "dm", "type": "DM"})
    before = len(store.events)
    results = await asyncio.gather(orch.process(Delivery(body)), orch.process(Delivery(body)))
    assert results == [Disposition.ACK, Disposition.ACK]
    run = store.events[before:]
    for kind in ("run.started", "run.ended", "run.outbox", "action.executed", "message.sent"):
        assert [e.type for e in run].count(kind) == 1, kind
    assert len(replies(bus)) == 1


async def test_a_muted_room_is_not_answered_even_a_dm() -> None:
    orch, _, bus, _ = await make()
    runtime = orch.agents.default
    body = json.loads(inbound("hello", room={"id": "quiet", "type": "DM"}))
    await orch.process(Delivery(json.dumps(body).encode()))
    assert len(replies(bus)) == 1
    room = create_unique_uuid(runtime.agent_id, "quiet")  # the platform room's agent-scoped id
    await runtime.set_participant_user_state(room, runtime.agent_id, ParticipantState.MUTED)
    body["id"] = str(uuid.uuid4())
    await orch.process(Delivery(json.dumps(body).encode()))
    assert len(replies(bus)) == 1  # muted: no second reply
    body["id"], body["content"]["text"] = str(uuid.uuid4()), f"{runtime.character.name}, hi?"
    await orch.process(Delivery(json.dumps(body).encode()))
    assert len(replies(bus)) == 2  # named: answered


def test_two_characters_with_one_agent_id_are_refused() -> None:
    store = InMemoryEventStore()
    runtimes = [runtime_for(Character(name="Twin"), store, ScriptedModel()) for _ in range(2)]
    with pytest.raises(ConfigurationError, match="agent id"):
        AgentHost(runtimes)


async def test_one_agents_run_never_serves_its_reads_or_takes_writes_of_another() -> None:
    from shared.plugin import Memory
    from shared.runtime.run_scope import RunRecorder, in_recorder

    store = InMemoryEventStore()
    ada = runtime_for(Character(name="Ada"), store, ScriptedModel())
    bob = runtime_for(Character(name="Bob"), store, ScriptedModel())
    room = uuid.uuid4()
    await ada.create_memory(Memory(entity_id=ada.agent_id, agent_id=ada.agent_id, room_id=room,
                                   content={"text": "ada's secret plan"}))  # fmt: skip
    rec = RunRecorder(uuid.uuid4(), ada.agent_id, uuid.uuid4())
    with in_recorder(rec):
        assert len(await ada.get_memories(room_id=room)) == 1
        assert await bob.get_memories(room_id=room) == []  # not ada's cached answer
        await bob.create_memory(Memory(entity_id=bob.agent_id, agent_id=bob.agent_id,
                                       room_id=room, content={"text": "bob's note"}))  # fmt: skip
    assert all(e.metadata.agent_id == ada.agent_id for e in rec.events)  # bob's write went alone
    assert [m.text for m in await bob.get_memories(room_id=room)] == ["bob's note"]
