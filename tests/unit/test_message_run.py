"""The orchestrator's message runs on doubles: InMemoryEventStore and its read-model doubles, the
scripted model in process (make_test_runtime), the in-memory bus; the bootstrap plugin does the
work."""

from __future__ import annotations

import json
import uuid

from plugins.bootstrap.plugin import bootstrap_plugin
from services.orchestrator.delivery import Delivery, Disposition, Orchestrator
from services.orchestrator.message_run import AgentHost, MessageRunner
from shared import subjects
from shared.character import Character, load_character
from shared.ids import create_unique_uuid
from shared.messages import MessageSent
from shared.model_types import ModelType
from shared.runtime.agent_runtime import AgentRuntime
from shared.runtime.connections import default_world_id
from shared.runtime.event_bus import EventType
from shared.runtime.settings_lookup import secret_values
from shared.secrets import Scrubber
from shared.testing import InMemoryBus, InMemoryEventStore, ScriptedModel, make_test_runtime


def runtime_for(
    character: Character, store: InMemoryEventStore, model: ScriptedModel
) -> AgentRuntime:
    return make_test_runtime(character, model=model, plugins=[bootstrap_plugin()], store=store)


async def orchestrator(
    characters: list[Character],
    store: InMemoryEventStore,
    model: ScriptedModel,
    runtimes: list[AgentRuntime] | None = None,
) -> tuple[Orchestrator, InMemoryBus]:
    host = AgentHost(runtimes or [runtime_for(c, store, model) for c in characters])
    await host.initialize()
    bus = InMemoryBus()
    runner = MessageRunner(store)
    scrubber = Scrubber(v for r in host.by_id.values() for v in secret_values(r.character))
    return Orchestrator(host, runner, bus, store, scrubber=scrubber), bus


async def make(script: dict[ModelType, list[object]] | None = None):
    store = InMemoryEventStore()
    model = ScriptedModel(script=script)
    orch, bus = await orchestrator([load_character(None)], store, model)
    return orch, store, bus, model


def replies(bus: InMemoryBus) -> list[MessageSent]:
    return [
        MessageSent.model_validate_json(p.body)
        for p in bus.published
        if p.subject.startswith("message.sent.")
    ]


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
    orch, store, bus, _ = await make()
    before = len(store.events)  # the agent's own entity, world, room at initialize
    assert await orch.process(Delivery(inbound("what is event sourcing?"))) is Disposition.ACK
    [reply] = replies(bus)
    assert reply.content.text and "REPLY" in reply.content.actions
    run = store.events[before:]
    types = [e.type for e in run]
    assert types[0] == "run.started" and types[-2:] == ["run.ended", "run.outbox"]
    expected_types = (
        "entity.created",
        "room.created",
        "world.created",
        "participant.added",
        "memory.created",
        "model.used",
        "action.executed",
        "message.sent",
    )
    for expected in expected_types:
        assert expected in types, expected
    assert {e.metadata.get("run_id") for e in run} == {str(reply.run_id)}
    used = [e.data for e in run if e.type == "model.used"]
    kinds = [u["model_type"] for u in used]
    # message embedding, should-respond (GROUP room, not named), the answer, reply embedding
    assert kinds[0] == "TEXT_EMBEDDING" and kinds.count("TEXT_LARGE") == 1
    assert "TEXT_SMALL" in kinds and kinds[-1] == "TEXT_EMBEDDING"
    assert used[0]["response"] == "[array]"
    large = next(u for u in used if u["model_type"] == "TEXT_LARGE")
    assert "what is event sourcing?" in large["params"]["prompt"]
    # runtime events went out with the reply, after the commit, each once
    events = [p.subject for p in bus.published if p.subject.startswith("event.")]
    for name in ("RUN_STARTED", "MESSAGE_RECEIVED", "ACTION_STARTED", "ACTION_COMPLETED",
                 "MESSAGE_SENT", "RUN_ENDED"):  # fmt: skip
        assert subjects.event(name) in events, name
    outbox = store.events[-1].data["messages"]
    assert len(outbox) == len(bus.published)


async def test_a_direct_message_is_answered_without_asking_the_model_whether_to() -> None:
    orch, _store, bus, model = await make()
    await orch.process(Delivery(inbound("hi", room={"id": "dm-1", "type": "DM"})))
    assert len(replies(bus)) == 1
    assert ModelType.TEXT_SMALL not in [c.model_type for c in model.calls]


async def test_a_group_message_the_model_declines_gets_no_reply() -> None:
    decline = "<response><reasoning>talking to Bob</reasoning><action>IGNORE</action></response>"
    orch, store, bus, model = await make({ModelType.TEXT_SMALL: [decline]})
    await orch.process(Delivery(inbound("Bob, lunch?")))
    assert replies(bus) == []
    assert ModelType.TEXT_LARGE not in [c.model_type for c in model.calls]
    ended = [e.data for e in store.events if e.type == "run.ended"]
    assert ended[0]["status"] == "ignored"


async def test_naming_the_agent_in_a_group_answers_without_asking() -> None:
    decline = "<response><action>IGNORE</action></response>"
    orch, _, bus, _model = await make({ModelType.TEXT_SMALL: [decline]})
    name = load_character(None).name
    await orch.process(Delivery(inbound(f"hey {name}, what time is it?")))
    assert len(replies(bus)) == 1


async def test_a_duplicate_delivery_adds_nothing_and_resends_the_same_outbox() -> None:
    orch, store, bus, model = await make()
    body = inbound(msg_id=uuid.uuid4())
    await orch.process(Delivery(body))
    count, calls, published = len(store.events), len(model.calls), list(bus.published)
    first_send = [(p.subject, p.msg_id, p.body) for p in bus.sent]
    assert await orch.process(Delivery(body, num_delivered=2)) is Disposition.ACK
    assert len(store.events) == count
    assert len(model.calls) == calls  # checked before any handler ran: no model call at all
    resent = [(p.subject, p.msg_id, p.body) for p in bus.sent[len(first_send) :]]
    assert sorted(resent) == sorted(first_send)  # the recorded outbox, sent again as it was
    assert bus.published == published  # and stored once: the double dedupes as JetStream does


async def test_the_second_message_in_a_room_sees_the_first() -> None:
    orch, store, _, _ = await make()
    await orch.process(Delivery(inbound("my name is Alice and I like tea")))
    await orch.process(Delivery(inbound("what do I like?")))
    prompts = [
        e.data["params"]["prompt"]
        for e in store.events
        if e.type == "model.used" and e.data["model_type"] == "TEXT_LARGE"
    ]
    assert "Alice: my name is Alice and I like tea" in prompts[1]
    # the connection was recorded once
    rooms = [e for e in store.events if e.type == "room.created" and e.data["type"] != "SELF"]
    assert len(rooms) == 1


async def test_malformed_bodies_go_to_the_dead_letter_subject_with_a_reason() -> None:
    orch, store, bus, _ = await make()
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
    orch, store, bus, _ = await make()
    body = inbound(agent_id=str(uuid.uuid4()))
    assert await orch.process(Delivery(body, stream_sequence=1)) is Disposition.ACK
    assert bus.published[0].subject == subjects.MESSAGE_DLQ
    assert "unknown agent_id" in store.events[-1].data["reason"]


async def test_an_ignore_answer_sends_no_reply() -> None:
    ignore = (
        "<response><thought>not for me</thought><actions>IGNORE</actions><text></text></response>"
    )
    orch, store, bus, _ = await make({ModelType.TEXT_LARGE: [ignore]})
    await orch.process(Delivery(inbound()))
    assert replies(bus) == []
    ended = [e.data for e in store.events if e.type == "run.ended"]
    assert ended[0]["status"] == "ignored"


async def test_two_agents_on_one_orchestrator_never_see_each_others_data() -> None:
    store = InMemoryEventStore()
    ada = Character(name="Ada", secrets={"API_TOKEN": "sk-ada-secret-123"})
    bob = Character(name="Bob")
    orch, _ = await orchestrator([ada, bob], store, ScriptedModel())
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
    rooms = {
        e.data["agent_id"]: e.data["id"]
        for e in store.events
        if e.type == "room.created" and e.data["type"] != "SELF"
    }
    assert rooms[str(ada.agent_id)] != rooms[str(bob.agent_id)]  # agent-scoped ids
    # and a character's secrets never reach the log
    assert all("sk-ada-secret-123" not in e.model_dump_json() for e in store.events)


async def test_the_reply_is_stored_strictly_after_the_message() -> None:
    orch, store, _, _ = await make()
    for i in range(20):
        await orch.process(Delivery(inbound(f"quick message {i}")))
    memories = [
        e.data for e in store.events
        if e.type == "memory.created" and e.data.get("table_name", "messages") == "messages"
        and e.data["content"].get("type") != "action_result"
    ]  # fmt: skip
    assert len(memories) == 40
    for message, reply in zip(memories[::2], memories[1::2], strict=True):
        assert reply["content"]["inReplyTo"] == message["id"]
        assert reply["created_at"] > message["created_at"]


async def test_send_message_to_another_room_goes_to_that_rooms_channel() -> None:
    send = "<response><actions>SEND_MESSAGE</actions><text></text></response>"
    where = (
        "<response><targetType>room</targetType><target>random</target>"
        "<text>Alice is running late</text></response>"
    )
    orch, _, bus, _ = await make()
    runtime = orch.agents.default
    # the agent knows #random from an earlier message there (Alice too: she was there)
    await orch.process(
        Delivery(inbound("hi all", room={"id": "r2", "name": "random", "type": "DM"}))
    )
    models = runtime.models
    models.register_model("TEXT_LARGE", answer(send), "script", priority=10)
    models.register_model("TEXT_SMALL", answer(where), "script", priority=10)
    # Alice is no OWNER or ADMIN of the world yet: the agent does not post for her
    await orch.process(
        Delivery(inbound("tell #random I'm late", room={"id": "dm-9", "type": "DM"}))
    )
    assert all(r.room.id != "r2" for r in replies(bus)[1:])
    world = await runtime.get_world(default_world_id(runtime.agent_id, "test"))
    assert world is not None
    alice = create_unique_uuid(runtime.agent_id, "u1")
    await runtime.update_world(world.model_copy(update={"metadata": {"roles": {
        str(alice): "OWNER"}}}))  # fmt: skip
    await orch.process(
        Delivery(inbound("tell #random I'm late", room={"id": "dm-9", "type": "DM"}))
    )
    sent = replies(bus)[-1]
    assert sent.room.id == "r2" and sent.content.text == "Alice is running late"
    assert sent.content.actions == ["SEND_MESSAGE"]


def answer(text: str):  # type: ignore[no-untyped-def]
    async def handler(runtime: object, params: object) -> str:
        return text

    return handler


async def test_embeddings_go_on_beside_the_run_and_the_log_still_holds_them() -> None:
    """The message's embedding is asked while the run goes on (as ElizaOS 1.7 queues it after
    storing the message), yet the run's append waits for it: the embedding model here answers
    the message only once the response model was asked, which deadlocks a run that awaits the
    embedding before going on (the wait_for turns that into a failure), and the reply only once
    the run has ended, which leaves it out of the log if the append does not wait."""
    import asyncio

    store = InMemoryEventStore()
    model = ScriptedModel()
    runtime = runtime_for(load_character(None), store, model)
    asked_for_a_response = asyncio.Event()
    scripted_large = model.handler(ModelType.TEXT_LARGE)

    async def large(rt: object, params: dict[str, object]) -> object:
        asked_for_a_response.set()
        return await scripted_large(rt, params)  # type: ignore[arg-type]

    run_ended = asyncio.Event()

    async def embedding(rt: object, params: dict[str, object]) -> list[float]:
        if params.get("text") is None:  # the start-up dimension probe
            return [0.0] * 384
        await (run_ended if asked_for_a_response.is_set() else asked_for_a_response).wait()
        return [0.5] * 384

    async def on_run_ended(params: dict[str, object]) -> None:
        run_ended.set()

    runtime.register_event(EventType.RUN_ENDED, on_run_ended)
    runtime.register_model(ModelType.TEXT_LARGE.value, large, "test", priority=10)
    runtime.register_model(ModelType.TEXT_EMBEDDING.value, embedding, "test", priority=10)
    orch, bus = await orchestrator([], store, model, runtimes=[runtime])
    before = len(store.events)
    outcome = await asyncio.wait_for(orch.process(Delivery(inbound("Eliza, hi"))), 10)
    assert outcome is Disposition.ACK
    assert replies(bus)
    created = [e for e in store.events[before:] if e.type == "memory.created"]
    texts = {e.data["content"]["text"]: e.data for e in created}
    assert "Eliza, hi" in texts and len(created) >= 2  # the message and the reply
    embedded = [d for d in texts.values() if d["metadata"].get("type") != "action_result"]
    assert len(embedded) >= 2  # the message and the reply (action results get no embedding)
    for data in embedded:
        assert data["embedding"] == [0.5] * 384, data["content"]["text"]
        assert data["unique"] is True


async def test_a_finished_run_is_freed_without_the_cyclic_collector() -> None:
    """A run's data (its recorder with every event, its memories and states) is freed by reference
    counting once the run is over: left in a cycle (its cached reads are tasks whose context holds
    the run's scope, which holds them) it would wait for a full collection, which walks the whole
    heap and pauses every run in flight."""
    import gc

    from shared.runtime.run_scope import RunRecorder

    orch, _, bus, _ = await make()
    await orch.process(Delivery(inbound("Eliza, warm up")))  # templates compiled, caches filled
    gc.collect()
    gc.disable()
    try:
        for n in range(3):
            assert await orch.process(Delivery(inbound(f"Eliza, number {n}"))) is Disposition.ACK
        left = [o for o in gc.get_objects() if isinstance(o, RunRecorder)]
    finally:
        gc.enable()
    assert len(replies(bus)) == 4
    assert left == []
