"""AgentRuntime's database surface on doubles: each write read back through the in-memory read
model, agent isolation, vector search and BM25 re-ranking, writes inside a run."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.character import Character
from shared.errors import ConfigurationError
from shared.messages import ModelRequest
from shared.model_types import ModelType
from shared.plugin import Memory, Plugin, Runtime
from shared.records import Component, Entity, ParticipantState, Relationship, Room, World
from shared.runtime.agent_runtime import AgentRuntime
from shared.runtime.run_scope import RunRecorder, in_recorder
from shared.testing import InMemoryAgentReadModel, InMemoryEventStore, ScriptedModel

SCRIPTED = ScriptedModel()


async def embed(runtime: Runtime, params: dict[str, Any]) -> Any:
    return await SCRIPTED.handle(ModelRequest(model_type=ModelType.TEXT_EMBEDDING, params=params))


MODELS = Plugin(name="scripted-models", models={"TEXT_EMBEDDING": embed})


def make(store: InMemoryEventStore | None = None, name: str = "Ada") -> AgentRuntime:
    store = store or InMemoryEventStore()
    character = Character(name=name)
    db = InMemoryAgentReadModel(store, character.agent_id)
    return AgentRuntime(character, store, db=db, plugins=[MODELS])


def memory(rt: AgentRuntime, room: uuid.UUID, text: str, at: int, **kw: Any) -> Memory:
    return Memory(entity_id=kw.pop("entity_id", rt.agent_id), agent_id=rt.agent_id, room_id=room,
                  content={"text": text}, created_at=at, **kw)  # fmt: skip


async def test_reads_without_a_read_model_say_how_to_get_one() -> None:
    rt = AgentRuntime(Character(name="Ada"), InMemoryEventStore())
    with pytest.raises(ConfigurationError, match="db=<AgentReadModel>"):
        await rt.get_room(uuid.uuid4())


async def test_ensure_connection_creates_everything_once_and_merges_a_new_source() -> None:
    rt = make()
    entity, room = uuid.uuid4(), uuid.uuid4()
    await rt.ensure_connection(entity, room, name="Bob", user_name="bob", source="discord",
                               server_id="s1", user_id="42", channel_id="c1")  # fmt: skip
    count = len(rt.store.events)  # type: ignore[attr-defined]
    await rt.ensure_connection(entity, room, name="Bob", user_name="bob", source="discord",
                               server_id="s1", user_id="42", channel_id="c1")  # fmt: skip
    assert len(rt.store.events) == count  # type: ignore[attr-defined]
    found = await rt.get_entity_by_id(entity)
    assert found and found.names == ["Bob", "bob"]
    assert found.metadata == {"discord": {"id": "42", "name": "Bob", "userName": "bob"}}
    got_room = await rt.get_room(room)
    assert got_room and got_room.source == "discord" and got_room.channel_id == "c1"
    assert got_room.world_id and await rt.get_world(got_room.world_id)
    assert set(await rt.get_participants_for_room(room)) == {entity, rt.agent_id}
    await rt.ensure_connection(entity, room, name="Robert", source="telegram", user_id="7",
                               server_id="s1")  # fmt: skip
    merged = await rt.get_entity_by_id(entity)
    assert merged and merged.names == ["Bob", "bob", "Robert"]
    assert set(merged.metadata) == {"discord", "telegram"}


async def test_memories_newest_first_filtered_and_deleted() -> None:
    rt = make()
    await rt.initialize()  # registers the scripted embedding model
    room, other, bob = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ids = [await rt.create_memory(memory(rt, room, f"m{i}", 1000 + i)) for i in range(5)]
    await rt.create_memory(memory(rt, room, "bob says", 2000, entity_id=bob))
    await rt.create_memory(memory(rt, other, "elsewhere", 3000))
    await rt.create_memory(memory(rt, room, "a fact", 4000), table_name="facts")
    got = await rt.get_memories(room_id=room, count=3)
    assert [m.text for m in got] == ["bob says", "m4", "m3"]
    window = await rt.get_memories(room_id=room, start=1001, end=1003)
    assert [m.text for m in window] == ["m3", "m2", "m1"]
    assert [m.text for m in await rt.get_memories(entity_id=bob)] == ["bob says"]
    assert [m.text for m in await rt.get_memories(table_name="facts")] == ["a fact"]
    first = await rt.get_memory_by_id(ids[0])
    assert first and first.text == "m0" and first.embedding and len(first.embedding) == 384
    await rt.delete_memory(ids[0])
    assert await rt.get_memory_by_id(ids[0]) is None
    assert len(await rt.get_memories(room_id=room)) == 5


async def test_search_by_cosine_similarity_then_bm25_rerank() -> None:
    rt = make()
    room = uuid.uuid4()
    docs = [("the weather is sunny", [1.0, 0.0, 0.0]), ("dogs love long walks", [0.9, 0.1, 0.0]),
            ("cats sleep all day", [0.8, 0.3, 0.0]), ("far away", [0.0, 0.0, 1.0])]  # fmt: skip
    for i, (text, vector) in enumerate(docs):
        await rt.create_memory(memory(rt, room, text, 100 + i, embedding=vector), "facts")
    await rt.create_memory(memory(rt, room, "other dims", 200, embedding=[1.0, 0.0]), "facts")
    hits = await rt.search_memories(embedding=[1.0, 0.0, 0.0], table_name="facts",
                                    match_threshold=0.5)  # fmt: skip
    assert [h.text for h in hits] == [d[0] for d in docs[:3]]
    assert hits[0].similarity == pytest.approx(1.0)  # type: ignore[attr-defined]
    assert hits[1].similarity > hits[2].similarity >= 0.5  # type: ignore[attr-defined]
    top = await rt.search_memories(embedding=[1.0, 0.0, 0.0], table_name="facts", count=1)
    assert [h.text for h in top] == ["the weather is sunny"]
    reranked = await rt.search_memories(embedding=[1.0, 0.0, 0.0], table_name="facts",
                                        query="which cats sleep", match_threshold=0.5)  # fmt: skip
    assert reranked[0].text == "cats sleep all day"
    assert {m.text for m in reranked} == {d[0] for d in docs[:3]}
    assert await rt.search_memories(embedding=[1.0, 0.0, 0.0], table_name="facts",
                                    room_id=uuid.uuid4()) == []  # fmt: skip


async def test_entities_and_components_round_trip() -> None:
    rt = make()
    room, alice, source, world = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert await rt.create_entity(Entity(id=alice, agent_id=rt.agent_id, names=["Alice"]))
    assert not await rt.create_entity(Entity(id=alice, agent_id=rt.agent_id, names=["Other"]))
    await rt.update_entity(Entity(id=alice, agent_id=rt.agent_id, names=["Al"],
                                  metadata={"web": {"id": "a"}}))  # fmt: skip
    found = await rt.get_entity_by_id(alice)
    assert found and found.names == ["Alice", "Al"] and found.metadata == {"web": {"id": "a"}}
    card = Component(entity_id=alice, agent_id=rt.agent_id, type="contact", world_id=world,
                     source_entity_id=source, data={"phone": "1"}, created_at=1)  # fmt: skip
    note = Component(entity_id=alice, agent_id=rt.agent_id, type="note", data={}, created_at=2)
    assert await rt.create_component(card) and await rt.create_component(note)
    assert await rt.create_component(card)  # the same component again: recorded once
    got = await rt.get_component(alice, "contact", world_id=world, source_entity_id=source)
    assert got and got.data == {"phone": "1"}
    assert await rt.get_component(alice, "contact", world_id=uuid.uuid4()) is None
    assert [c.type for c in await rt.get_components(alice)] == ["contact", "note"]
    assert [c.type for c in await rt.get_components(alice, source_entity_id=source)] == ["contact"]
    await rt.update_component(card.model_copy(update={"data": {"phone": "2"}}))
    updated = await rt.get_component(alice, "contact")
    assert updated and updated.data == {"phone": "2"} and updated.created_at == 1
    await rt.add_participant(alice, room)
    [member] = await rt.get_entities_for_room(room, include_components=True)
    assert member.id == alice and [c.type for c in member.components] == ["contact", "note"]
    assert (await rt.get_entities_for_room(room))[0].components == []
    await rt.delete_component(note.id)
    assert await rt.get_component(alice, "note") is None


async def test_worlds_rooms_and_participants_round_trip() -> None:
    rt = make()
    world, room, bob = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await rt.ensure_world_exists(World(id=world, agent_id=rt.agent_id, name="W", server_id="s"))
    await rt.ensure_world_exists(World(id=world, agent_id=rt.agent_id, name="Other"))
    await rt.update_world(World(id=world, agent_id=rt.agent_id, name="W2", server_id="s",
                                metadata={"roles": {str(bob): "OWNER"}}))  # fmt: skip
    got = await rt.get_world(world)
    assert got and got.name == "W2" and got.metadata["roles"] == {str(bob): "OWNER"}
    assert world in [w.id for w in await rt.get_all_worlds()]
    await rt.ensure_room_exists(Room(id=room, agent_id=rt.agent_id, name="general",
                                     world_id=world))  # fmt: skip
    await rt.update_room(Room(id=room, agent_id=rt.agent_id, name="lobby", world_id=world))
    assert [r.name for r in await rt.get_rooms(world)] == ["lobby"]
    assert not await rt.remove_participant(bob, room)
    assert await rt.add_participant(bob, room)
    assert await rt.get_rooms_for_participant(bob) == [room]
    await rt.set_participant_user_state(room, bob, ParticipantState.MUTED)
    assert await rt.get_participant_user_state(room, bob) is ParticipantState.MUTED
    await rt.set_participant_user_state(room, bob, None)
    assert await rt.get_participant_user_state(room, bob) is None
    assert await rt.remove_participant(bob, room)
    assert await rt.get_participants_for_room(room) == []
    assert await rt.add_participant(bob, room)  # re-added after a removal
    assert await rt.get_participants_for_room(room) == [bob]
    await rt.create_memory(memory(rt, room, "in the room", 5))
    await rt.delete_room(room)
    assert await rt.get_room(room) is None and await rt.get_rooms(world) == []
    assert await rt.get_participants_for_room(room) == []
    assert await rt.get_memories(room_id=room) == []
    await rt.ensure_room_exists(Room(id=room, agent_id=rt.agent_id, name="again"))
    again = await rt.get_room(room)
    assert again and again.name == "again"  # re-created after its deletion


async def test_relationships_round_trip() -> None:
    rt = make()
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert await rt.create_relationship(a, b, ["friend", "colleague"], {"since": 2020})
    assert not await rt.create_relationship(a, b, ["enemy"])
    assert await rt.create_relationship(c, a, ["friend"])
    rel = await rt.get_relationship(a, b)
    assert rel and rel.tags == ["friend", "colleague"] and rel.metadata == {"since": 2020}
    assert await rt.get_relationship(b, a) is None
    assert len(await rt.get_relationships(a)) == 2
    assert {r.source_entity_id for r in await rt.get_relationships(a, ["friend"])} == {a, c}
    assert [r.target_entity_id for r in await rt.get_relationships(a, ["friend", "colleague"])] == [
        b
    ]
    await rt.update_relationship(Relationship(source_entity_id=a, target_entity_id=b,
                                              agent_id=rt.agent_id, tags=["enemy"]))  # fmt: skip
    updated = await rt.get_relationship(a, b)
    assert updated and updated.tags == ["enemy"] and updated.id == rel.id
    assert await rt.get_relationships(b, ["friend"]) == []


async def test_two_agents_on_one_log_never_see_each_others_rows() -> None:
    store = InMemoryEventStore()
    ada, bea = make(store, "Ada"), make(store, "Bea")
    room, bob = uuid.uuid4(), uuid.uuid4()
    await ada.ensure_connection(bob, room, name="Bob", source="x", server_id="s")
    mid = await ada.create_memory(memory(ada, room, "secret", 1, embedding=[1.0, 0.0]), "facts")
    await ada.create_relationship(bob, ada.agent_id, ["friend"])
    assert await bea.get_entity_by_id(bob) is None and await bea.get_room(room) is None
    assert await bea.get_memory_by_id(mid) is None
    assert await bea.get_memories(room_id=room) == []
    assert await bea.search_memories(embedding=[1.0, 0.0], table_name="facts") == []
    assert await bea.get_participants_for_room(room) == []
    assert await bea.get_relationships(bob) == [] and await bea.get_all_worlds() == []
    assert await ada.get_memory_by_id(mid) is not None


async def test_writes_in_a_run_are_read_back_once_the_run_commits() -> None:
    rt = make()
    bob, room = uuid.uuid4(), uuid.uuid4()
    recorder = RunRecorder(uuid.uuid4(), rt.agent_id, correlation_id=uuid.uuid4())
    with in_recorder(recorder):
        await rt.ensure_connection(bob, room, name="Bob", source="x")
        await rt.ensure_connection(bob, room, name="Bob", source="x")  # not committed yet
        assert await rt.get_entity_by_id(bob) is None
    await rt.store.append(recorder.events)
    assert set(await rt.get_participants_for_room(room)) == {bob, rt.agent_id}
    assert len([e for e in rt.store.events if e.type == "entity.created"]) == 1  # type: ignore[attr-defined]
