"""The message pipeline on doubles: InMemoryEventStore, InMemoryReadModel, scripted model, bus."""

from __future__ import annotations

import json
import uuid

from services.model_worker.scripted import ScriptedModel
from services.orchestrator.pipeline import AgentDirectory, MessagePipeline
from services.orchestrator.readmodel_memory import InMemoryReadModel
from services.orchestrator.service import Delivery, Disposition, Orchestrator
from shared import subjects
from shared.bus.memory_bus import InMemoryBus
from shared.character import Character, load_character
from shared.eventstore.memory import InMemoryEventStore
from shared.messages import MessageSent, ModelType
from shared.model_client import InProcessModelClient


def make(script: dict[ModelType, list[object]] | None = None):
    store = InMemoryEventStore()
    model = ScriptedModel(script=script)
    pipeline = MessagePipeline(
        store,
        InMemoryReadModel(store),
        InProcessModelClient(model),
        AgentDirectory([load_character(None)]),
    )
    bus = InMemoryBus()
    return Orchestrator(pipeline, bus, store), store, bus, model


def inbound(text: str = "hello there", msg_id: uuid.UUID | None = None, **over: object) -> bytes:
    body = {
        "id": str(msg_id or uuid.uuid4()),
        "source": "test",
        "entity": {"id": "u1", "name": "Alice", "username": "alice"},
        "room": {"id": "r1", "name": "general", "type": "GROUP", "server_id": "s1"},
        "content": {"text": text},
    } | over
    return json.dumps(body).encode()


async def test_a_message_gets_a_reply_and_its_run_is_recorded() -> None:
    orch, store, bus, _ = make()
    assert await orch.process(Delivery(inbound("what is event sourcing?"))) is Disposition.ACK
    [sent] = bus.published
    assert sent.subject == subjects.message_sent("test")
    reply = MessageSent.model_validate_json(sent.body)
    assert reply.content.text and "REPLY" in reply.content.actions
    types = [e.type for e in store.events]
    assert types[0] == "run.started" and types[-1] == "run.ended"
    for expected in (
        "entity.created",
        "room.created",
        "world.created",
        "participant.added",
        "memory.created",
        "model.used",
        "action.executed",
        "message.sent",
    ):
        assert expected in types, expected
    run_ids = {e.metadata.get("run_id") for e in store.events if e.type != "entity.created"}
    assert run_ids == {str(reply.run_id)}
    used = [e.data for e in store.events if e.type == "model.used"]
    assert [u["model_type"] for u in used] == ["TEXT_EMBEDDING", "TEXT_LARGE", "TEXT_EMBEDDING"]
    assert used[0]["response"] == "[array]"
    assert "what is event sourcing?" in used[1]["params"]["prompt"]


async def test_a_duplicate_delivery_adds_nothing_and_resends_the_same_reply() -> None:
    orch, store, bus, model = make()
    body = inbound(msg_id=uuid.uuid4())
    await orch.process(Delivery(body))
    count = len(store.events)
    large = [c for c in model.calls if c.model_type is ModelType.TEXT_LARGE]
    assert await orch.process(Delivery(body, num_delivered=2)) is Disposition.ACK
    assert len(store.events) == count
    # no second generation: only the embedding that runs beside the redelivery check
    assert [c for c in model.calls if c.model_type is ModelType.TEXT_LARGE] == large
    assert len(bus.published) == 1  # the double dedupes by msg id, as JetStream does
    assert bus.published[0].msg_id is not None


async def test_the_second_message_in_a_room_sees_the_first() -> None:
    orch, store, _, _ = make()
    await orch.process(Delivery(inbound("my name is Alice and I like tea")))
    await orch.process(Delivery(inbound("what do I like?")))
    prompts = [
        e.data["params"]["prompt"]
        for e in store.events
        if e.type == "model.used" and e.data["model_type"] == "TEXT_LARGE"
    ]
    assert "Alice: my name is Alice and I like tea" in prompts[1]
    # the connection was recorded once
    assert [e.type for e in store.events].count("room.created") == 1


async def test_malformed_bodies_go_to_the_dead_letter_subject_with_a_reason() -> None:
    orch, store, bus, _ = make()
    assert await orch.process(Delivery(b"{not json", stream_sequence=7)) is Disposition.ACK
    assert await orch.process(Delivery(inbound(source=""), stream_sequence=8)) is Disposition.ACK
    assert [p.subject for p in bus.published] == [subjects.MESSAGE_DLQ] * 2
    rejected = [e.data for e in store.events if e.type == "message.rejected"]
    assert "invalid message.received body" in rejected[0]["reason"]
    assert "source" in rejected[1]["reason"]
    # a redelivery of the same bad message is not recorded twice
    await orch.process(Delivery(b"{not json", stream_sequence=7, num_delivered=2))
    assert len([e for e in store.events if e.type == "message.rejected"]) == 2


async def test_an_unknown_agent_is_rejected_not_retried() -> None:
    orch, store, bus, _ = make()
    body = inbound(agent_id=str(uuid.uuid4()))
    assert await orch.process(Delivery(body, stream_sequence=1)) is Disposition.ACK
    assert bus.published[0].subject == subjects.MESSAGE_DLQ
    assert "unknown agent_id" in store.events[-1].data["reason"]


async def test_an_ignore_answer_sends_no_reply() -> None:
    ignore = (
        "<response><thought>not for me</thought><actions>IGNORE</actions><text></text></response>"
    )
    orch, store, bus, _ = make({ModelType.TEXT_LARGE: [ignore]})
    await orch.process(Delivery(inbound()))
    assert bus.published == []
    ended = [e.data for e in store.events if e.type == "run.ended"]
    assert ended[0]["status"] == "ignored"


async def test_two_agents_on_one_orchestrator_never_see_each_others_data() -> None:
    store = InMemoryEventStore()
    ada = Character(name="Ada", secrets={"API_TOKEN": "sk-ada-secret-123"})
    bob = Character(name="Bob")
    pipeline = MessagePipeline(
        store, InMemoryReadModel(store), InProcessModelClient(ScriptedModel()),
        AgentDirectory([ada, bob]),
    )  # fmt: skip
    orch = Orchestrator(pipeline, InMemoryBus(), store)
    # the same platform user and room talk to both agents
    await orch.process(Delivery(inbound("my locker code is 4711", agent_id=str(ada.agent_id))))
    await orch.process(Delivery(inbound("hello Bob", agent_id=str(bob.agent_id))))
    prompts = {
        e.metadata["agent_id"]: e.data["params"]["prompt"]
        for e in store.events
        if e.type == "model.used" and e.data["model_type"] == "TEXT_LARGE"
    }
    assert "4711" in prompts[str(ada.agent_id)]
    assert "4711" not in prompts[str(bob.agent_id)]
    rooms = {e.data["agent_id"]: e.data["id"] for e in store.events if e.type == "room.created"}
    assert rooms[str(ada.agent_id)] != rooms[str(bob.agent_id)]  # agent-scoped ids
    # and a character's secrets never reach the log
    assert all("sk-ada-secret-123" not in e.model_dump_json() for e in store.events)


async def test_the_reply_is_stored_strictly_after_the_message() -> None:
    orch, store, _, _ = make()
    for i in range(20):
        await orch.process(Delivery(inbound(f"quick message {i}")))
    memories = [e.data for e in store.events if e.type == "memory.created"]
    for message, reply in zip(memories[::2], memories[1::2], strict=True):
        assert reply["content"]["inReplyTo"] == message["id"]
        assert reply["created_at"] > message["created_at"]
