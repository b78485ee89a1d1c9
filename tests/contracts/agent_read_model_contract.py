"""The AgentReadModel contract: one suite every implementation passes (PostgresAgentReadModel over
the projections and InMemoryAgentReadModel folding the log alike), run through the agent's
database surface (AgentRuntime's reads and writes) and, for `connection_state`, directly.

Subclass `AgentReadModelContract` in a `Test...` class and give it a `backend` fixture that
yields a `ReadModelBackend` on a fresh, empty log (see tests/contracts/test_agent_read_model.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from shared.character import Character
from shared.connection_events import ParticipantRemoved
from shared.errors import EmptyMemoryError, ModelError
from shared.eventstore import EventStore
from shared.hashed_embedding import hashed_embedding
from shared.model_types import ModelType
from shared.plugin import Memory, Plugin
from shared.readmodel import AgentReadModel
from shared.readmodel.protocol import ConnectionState
from shared.records import Component, Entity, ParticipantState, Relationship, Room, World
from shared.runtime.agent_runtime import AgentRuntime
from shared.runtime.embedder import EMBED_CONCURRENCY
from shared.runtime.embedding_repair import repair_embeddings
from shared.runtime.run_scope import RunRecorder, in_recorder
from shared.testing import ScriptedModel


@dataclass
class ReadModelBackend:
    """One implementation under test: a fresh log, and the read model of any agent on it."""

    store: EventStore
    read_model: Callable[[uuid.UUID], AgentReadModel]

    def runtime(self, name: str) -> AgentRuntime:
        """An agent on this log reading through this implementation, with the scripted model as
        a plugin (its models are registered by `initialize()`)."""
        character = Character(name=name)
        return AgentRuntime(character, self.store, db=self.read_model(character.agent_id),
                            plugins=[ScriptedModel().as_plugin()])  # fmt: skip

    async def started(self, name: str) -> AgentRuntime:
        """An initialized agent with no model: its own entity, world and room recorded."""
        character = Character(name=name)
        rt = AgentRuntime(character, self.store, db=self.read_model(character.agent_id))
        await rt.initialize()
        return rt


def memory(rt: AgentRuntime, room: uuid.UUID, text: str, at: int, **kw: Any) -> Memory:
    """A memory of the agent's in `room` (another speaker: `entity_id=`)."""
    return Memory(entity_id=kw.pop("entity_id", rt.agent_id), agent_id=rt.agent_id, room_id=room,
                  content={"text": text}, created_at=at, **kw)  # fmt: skip


async def scripted_runtime(backend: ReadModelBackend) -> tuple[AgentRuntime, ScriptedModel]:
    """Agent Ada on `backend`, initialized, its models the scripted double (returned too)."""
    model = ScriptedModel()
    character = Character(name="Ada")
    rt = AgentRuntime(character, backend.store, db=backend.read_model(character.agent_id),
                      plugins=[model.as_plugin()])  # fmt: skip
    await rt.initialize()
    return rt, model


def note(rt: AgentRuntime, room: uuid.UUID, text: str, at: int, vector: list[float]) -> Memory:
    """A fact of the agent's in `room`, with its embedding."""
    return Memory(entity_id=rt.agent_id, agent_id=rt.agent_id, room_id=room,
                  content={"text": text}, created_at=at, embedding=vector)  # fmt: skip


def removal_by(room: uuid.UUID, entity: uuid.UUID, agent: uuid.UUID) -> ParticipantRemoved:
    """`participant.removed` stated by `agent` (recorded even where the agent's own read model
    shows no such participant, as a plugin could)."""
    return ParticipantRemoved(room_id=room, entity_id=entity, agent_id=agent)


class Scenario:
    """Fixed ids for one agent's worth of writes."""

    def __init__(self) -> None:
        self.bob, self.carol, self.room, self.gone = (uuid.uuid4() for _ in range(4))
        self.world = uuid.uuid4()


async def write_everything(rt: AgentRuntime, s: Scenario) -> None:
    """One of every write, including updates, removals and deletions."""
    await rt.ensure_connection(s.bob, s.room, world_id=s.world, name="Bob", user_name="bob",
                               source="discord", server_id="g", user_id="1")  # fmt: skip
    await rt.ensure_connection(s.carol, s.room, world_id=s.world, name="Carol", source="discord",
                               server_id="g", user_id="2")  # fmt: skip
    await rt.ensure_connection(s.bob, s.room, world_id=s.world, name="Robert", source="slack",
                               server_id="g", user_id="b")  # fmt: skip
    await rt.update_world(World(id=s.world, agent_id=rt.agent_id, name="Guild", server_id="g",
                                metadata={"settings": {"x": 1}}))  # fmt: skip
    await rt.update_room(Room(id=s.room, agent_id=rt.agent_id, name="general", source="discord",
                              world_id=s.world))  # fmt: skip
    await rt.ensure_room_exists(Room(id=s.gone, agent_id=rt.agent_id, world_id=s.world))
    await rt.add_participant(s.bob, s.gone)
    docs = [("tea is lovely", [1.0, 0.0, 0.0]), ("green tea and biscuits", [0.9, 0.2, 0.0]),
            ("coffee in the morning", [0.7, 0.7, 0.0]), ("unrelated", [0.0, 0.0, 1.0])]  # fmt: skip
    for i, (text, vector) in enumerate(docs):
        await rt.create_memory(note(rt, s.room, text, 1000 + i, vector), "facts")
    await rt.create_memory(note(rt, s.room, "two dims", 1100, [1.0, 0.0]), "facts")
    await rt.create_memory(note(rt, s.gone, "in a deleted room", 1200, [1.0, 0.0, 0.0]), "facts")
    dropped = await rt.create_memory(note(rt, s.room, "dropped", 1300, [1.0, 0.0, 0.0]), "facts")
    await rt.delete_memory(dropped)
    await rt.delete_room(s.gone)
    await rt.set_participant_user_state(s.room, s.carol, ParticipantState.FOLLOWED)
    await rt.set_participant_user_state(s.room, s.bob, ParticipantState.MUTED)
    await rt.set_participant_user_state(s.room, s.bob, None)
    card = Component(entity_id=s.bob, agent_id=rt.agent_id, type="card", world_id=s.world,
                     source_entity_id=s.carol, data={"n": 1}, created_at=1)  # fmt: skip
    temp = Component(entity_id=s.carol, agent_id=rt.agent_id, type="temp", created_at=2)
    await rt.create_component(card)
    await rt.create_component(temp)
    await rt.update_component(card.model_copy(update={"data": {"n": 2}}))
    await rt.delete_component(temp.id)
    await rt.create_relationship(s.bob, s.carol, ["friend", "colleague"], {"since": 2020})
    await rt.create_relationship(s.carol, rt.agent_id, ["friend"])
    await rt.update_relationship(Relationship(source_entity_id=s.carol,
                                              target_entity_id=rt.agent_id, agent_id=rt.agent_id,
                                              tags=["friend", "fan"]))  # fmt: skip
    await rt.remove_participant(s.carol, s.room)
    await rt.add_participant(s.carol, s.room)
    await write_memories(rt, s)


def axis(size: int, *hot: int) -> list[float]:
    """A vector of `size` dimensions with 1.0 at the `hot` indexes."""
    vector = [0.0] * size
    for i in hot:
        vector[i] = 1.0
    return vector


async def write_memories(rt: AgentRuntime, s: Scenario) -> None:
    """The memory API's writes: embeddings of two indexed sizes (384 and 3072, a halfvec index),
    a batch, an update, deletions by ids and of a room's table."""
    for size in (384, 3072):
        await rt.create_memories(
            [note(rt, s.room, f"{size} first", 2000 + size, axis(size, 0)),
             note(rt, s.room, f"{size} second", 2001 + size, axis(size, 0, 1)),
             note(rt, s.gone, f"{size} elsewhere", 2002 + size, axis(size, 1))],
            "documents",
        )  # fmt: skip
    scratch = await rt.create_memories(
        [memory(rt, s.room, f"scratch {i}", 3000 + i) for i in range(4)], "scratch", embed=False
    )
    await rt.update_memory(scratch[0], content={"text": "edited"}, metadata={"edited": True},
                           embed=False)  # fmt: skip
    await rt.update_memory(scratch[1], embedding=axis(3, 2))
    await rt.delete_many_memories(scratch[2:3])
    await rt.create_memory(memory(rt, s.room, "cleared", 3100), "cleared", embed=False)
    await rt.delete_all_memories(s.room, "cleared")


async def all_reads(db: Any, s: Scenario) -> dict[str, Any]:
    """Every read of the surface, as plain data (embeddings left out: Postgres keeps float32)."""

    def dump(value: Any) -> Any:
        if isinstance(value, list):
            return [dump(v) for v in value]
        if isinstance(value, Memory):
            return value.model_dump(exclude={"embedding", "similarity"})
        return value.model_dump() if hasattr(value, "model_dump") else value

    reads = {
        "memories": await db.get_memories(room_id=s.room, table_name="facts", count=4),
        "window": await db.get_memories(table_name="facts", start=1001, end=1002),
        "search": await db.search_memories(
            embedding=[1.0, 0.0, 0.0], table_name="facts", match_threshold=0.6
        ),
        "bob": await db.get_entity_by_id(s.bob),
        "in_room": await db.get_entities_for_room(s.room, include_components=True),
        "card": await db.get_component(s.bob, "card", s.world, s.carol),
        "components": await db.get_components(s.carol),
        "world": await db.get_world(s.world),
        "worlds": await db.get_all_worlds(),
        "room": await db.get_room(s.room),
        "gone": await db.get_room(s.gone),
        "rooms": await db.get_rooms(s.world),
        "bob_rooms": await db.get_rooms_for_participant(s.bob),
        "participants": await db.get_participants_for_room(s.room),
        "gone_participants": await db.get_participants_for_room(s.gone),
        "carol_state": await db.get_participant_user_state(s.room, s.carol),
        "bob_state": await db.get_participant_user_state(s.room, s.bob),
        "documents": await db.get_memories(table_name="documents"),
        "scratch": await db.get_memories(table_name="scratch"),
        "cleared": await db.get_memories(room_id=s.room, table_name="cleared"),
        "unique_only": await db.get_memories(table_name="facts", unique=True, offset=1),
        "by_ids": await db.get_memories_by_ids(
            [m.id for m in await db.get_memories(table_name="scratch")] + [uuid.uuid4()]
        ),
        "by_rooms": await db.get_memories_by_room_ids([s.room, s.gone], "documents", 5),
        "count": await db.count_memories(s.room, unique=False, table_name="facts"),
        "count_unique": await db.count_memories(s.room, table_name="facts"),
        "count_all": await db.count_memories(unique=False),
        "search_384": await db.search_memories(
            embedding=axis(384, 0), table_name="documents", match_threshold=0.1
        ),
        "search_3072": await db.search_memories(
            embedding=axis(3072, 1), table_name="documents", match_threshold=0.1, room_id=s.room
        ),
        "search_unique": await db.search_memories(
            embedding=[1.0, 0.0, 0.0], table_name="facts", match_threshold=0.6, unique=True
        ),
        "dims": await db.count_memories_by_dimension(),
        "dimension": await db.get_embedding_dimension(),
        "relationship": await db.get_relationship(s.bob, s.carol),
        "friends_of_carol": await db.get_relationships(s.carol, ["friend"]),
        "fans": await db.get_relationships(s.carol, ["fan", "friend"]),
    }
    return {k: dump(v) for k, v in reads.items()}


class AgentReadModelContract:
    """Every read after every write, newest-first memories, vector search with BM25 re-ranking,
    agents isolated on one log, a run's writes visible once it commits, and connection_state."""

    async def test_ensure_connection_creates_everything_once_and_merges_a_new_source(
        self, backend: ReadModelBackend
    ) -> None:
        rt = backend.runtime("Ada")
        entity, room = uuid.uuid4(), uuid.uuid4()
        await rt.ensure_connection(entity, room, name="Bob", user_name="bob", source="discord",
                                   server_id="s1", user_id="42", channel_id="c1")  # fmt: skip
        count = await rt.store.head()
        await rt.ensure_connection(entity, room, name="Bob", user_name="bob", source="discord",
                                   server_id="s1", user_id="42", channel_id="c1")  # fmt: skip
        assert await rt.store.head() == count
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

    async def test_memories_newest_first_filtered_and_deleted(
        self, backend: ReadModelBackend
    ) -> None:
        rt = backend.runtime("Ada")
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

    async def test_a_batch_is_unique_as_if_created_one_after_another(
        self, backend: ReadModelBackend
    ) -> None:
        rt, _ = await scripted_runtime(backend)
        room, other = uuid.uuid4(), uuid.uuid4()
        kettle, cat, dog = axis(8, 0), axis(8, 1), axis(8, 2)  # given with their embeddings,
        await rt.create_memory(note(rt, room, "the kettle is on", 1, kettle), "facts")  # checked
        batch = [
            note(rt, room, "the kettle is on", 2, kettle),  # as a stored one
            note(rt, room, "the cat sleeps", 3, cat),
            note(rt, room, "the cat sleeps", 4, cat),  # as an earlier one of the batch
            note(rt, other, "the cat sleeps", 5, cat),  # another room
            note(rt, room, "the dog sleeps", 6, dog),
            memory(rt, room, "the cat sleeps", 7),  # embedded here: unique (ElizaOS 1.7)
            note(rt, room, "the cat sleeps", 8, cat),
        ]
        batch[-1].unique = True  # set on the memory: kept
        ids = await rt.create_memories(batch, "facts")
        flags = {m.id: m.unique for m in await rt.get_memories_by_ids(ids)}
        assert [flags[i] for i in ids] == [False, True, False, True, True, True, True]
        # memories of several tables in one batch: each in its own table, checked within it
        mixed = [
            note(rt, room, "the cat sleeps", 9, cat),
            note(rt, room, "the cat sleeps", 10, cat),
        ]
        await rt.create_memories(mixed, table_names=["notes", "facts"])
        assert [m.text for m in await rt.get_memories(table_name="notes")] == ["the cat sleeps"]
        assert [m.unique for m in mixed] == [True, False]  # new in notes; in facts already

    async def test_the_memory_api_as_events(self, backend: ReadModelBackend) -> None:
        rt, model = await scripted_runtime(backend)
        room, other = uuid.uuid4(), uuid.uuid4()
        calls = len(model.calls)
        batch = await rt.create_memories(
            [memory(rt, room, t, i) for i, t in enumerate(["tea", "green tea", "coffee"])], "facts"
        )
        embeds = [c.params for c in model.calls[calls:] if c.model_type is ModelType.TEXT_EMBEDDING]
        assert embeds == [{"text": ["tea", "green tea", "coffee"]}]  # one call for the batch
        first = await rt.create_memory(memory(rt, room, "the kettle is on", 10), "facts")
        stored = await rt.get_memory_by_id(first)
        assert stored is not None and stored.embedding
        on = list(stored.embedding)
        # ElizaOS 1.7's createMemory (plugin-sql): the similarity search decides `unique` only
        # for a memory that comes with its embedding; one embedded afterwards is unique
        again = await rt.create_memory(
            memory(rt, room, "the kettle is on", 11, embedding=on), "facts"
        )
        embedded_here = await rt.create_memory(memory(rt, room, "the kettle is on", 9), "facts")
        elsewhere = await rt.create_memory(
            memory(rt, other, "the kettle is on", 12, embedding=on), "facts"
        )
        forced = await rt.create_memory(
            memory(rt, room, "the kettle is on", 13, embedding=on), "facts", True
        )
        flags = {m.id: m.unique for m in await rt.get_memories_by_ids(
            [first, again, embedded_here, elsewhere, forced, uuid.uuid4()])}  # fmt: skip
        assert flags == {
            first: True, again: False, embedded_here: True, elsewhere: True, forced: True
        }  # fmt: skip
        assert await rt.count_memories(room, table_name="facts") == 6  # unique ones (default)
        assert await rt.count_memories(room, unique=False, table_name="facts") == 7
        assert await rt.count_memories(unique=False) == 8
        assert [m.id for m in await rt.get_memories_by_room_ids([room, other], "facts", 2)] == [
            forced, elsewhere]  # fmt: skip

        assert await rt.update_memory(first, content={"text": "the kettle boiled"}) is True
        updated = await rt.get_memory_by_id(first)
        assert updated is not None and updated.text == "the kettle boiled"
        kettle = await rt.use_model("TEXT_EMBEDDING", {"text": "the kettle boiled"})
        assert list(updated.embedding or []) == pytest.approx(kettle, abs=1e-6)  # re-embedded
        assert await rt.update_memory(first, metadata={"checked": True}) is True
        kept = await rt.get_memory_by_id(first)
        assert kept is not None and kept.metadata == {"checked": True}
        assert kept.text == "the kettle boiled"  # what is not given stays
        assert await rt.update_memory(uuid.uuid4(), content={"text": "x"}) is False

        await rt.delete_many_memories([again, forced])
        assert {m.id for m in await rt.get_memories_by_ids([first, again, forced])} == {first}
        await rt.create_memory(memory(rt, room, "a note", 30), "notes", embed=False)
        await rt.delete_all_memories(room, "facts")
        assert await rt.get_memories(room_id=room, table_name="facts") == []
        assert [m.text for m in await rt.get_memories(room_id=room, table_name="notes")] == [
            "a note"]  # fmt: skip
        assert [m.id for m in await rt.get_memories(table_name="facts")] == [elsewhere]
        assert len(batch) == 3

        note_id = await rt.create_memory(memory(rt, room, "plain note", 40), "notes", embed=False)
        plain = await rt.get_memory_by_id(note_id)
        assert plain is not None and plain.embedding is None
        assert (await rt.add_embedding_to_memory(plain)).embedding is not None
        stored = await rt.get_memory_by_id(note_id)
        assert stored is not None and stored.embedding is not None  # recorded for it too
        with pytest.raises(EmptyMemoryError, match="no text to embed"):
            await rt.add_embedding_to_memory(memory(rt, room, "", 41))
        await rt.clear_all_agent_memories()
        assert await rt.count_memories(unique=False) == 0

    async def test_a_model_taking_one_text_embeds_a_batch_concurrently_within_a_bound(
        self, backend: ReadModelBackend
    ) -> None:
        in_flight, most = 0, 0

        async def one_text(_runtime: Any, params: dict[str, Any]) -> list[float]:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            text = params.get("text")
            return hashed_embedding(text if isinstance(text, str) else None)

        character = Character(name="Ada")
        plugin = Plugin(name="one-text", models={"TEXT_EMBEDDING": one_text})
        rt = AgentRuntime(character, backend.store, db=backend.read_model(character.agent_id),
                          plugins=[plugin])  # fmt: skip
        await rt.initialize()
        room = uuid.uuid4()
        texts = [f"note number {i}" for i in range(20)]
        ids = await rt.create_memories([memory(rt, room, t, i) for i, t in enumerate(texts)])
        for memory_id, text in zip(ids, texts, strict=True):
            stored = await rt.get_memory_by_id(memory_id)
            assert stored is not None and list(stored.embedding or []) == pytest.approx(
                hashed_embedding(text), abs=1e-6)  # fmt: skip
        assert 1 < most <= EMBED_CONCURRENCY
        assert rt.embedder.takes_lists is False

    async def test_relevant_memories_are_reranked_by_bm25_over_vector_order(
        self, backend: ReadModelBackend
    ) -> None:
        rt = backend.runtime("Ada")
        await rt.initialize()
        room = uuid.uuid4()
        query = "kettle whistle"
        q = hashed_embedding(query)
        side = hashed_embedding("zebra elephant giraffe")
        dot = sum(a * b for a, b in zip(q, side, strict=True))
        orth = [b - dot * a for a, b in zip(q, side, strict=True)]
        norm = sum(x * x for x in orth) ** 0.5
        sixty = [0.6 * a + 0.8 * b / norm for a, b in zip(q, orth, strict=True)]  # cosine 0.6
        await rt.create_memory(memory(rt, room, "the kettle whistle sang", 1, embedding=sixty))
        await rt.create_memory(memory(rt, room, "zebras at noon", 2, embedding=q))  # cosine 1.0
        by_vector = await rt.search_memories(embedding=q, table_name="messages")
        assert [m.text for m in by_vector] == ["zebras at noon", "the kettle whistle sang"]
        relevant = await rt.get_relevant_memories(query, room)
        assert [m.text for m in relevant] == ["the kettle whistle sang", "zebras at noon"]
        assert await rt.get_relevant_memories(query, uuid.uuid4()) == []  # room-scoped
        assert await rt.get_relevant_memories("   ", room) == []

    async def test_search_by_cosine_similarity_then_bm25_rerank(
        self, backend: ReadModelBackend
    ) -> None:
        rt = backend.runtime("Ada")
        room = uuid.uuid4()
        docs = [("the weather is sunny", [1.0, 0.0, 0.0]),
                ("dogs love long walks", [0.9, 0.1, 0.0]),
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
        reranked = await rt.search_memories(
            embedding=[1.0, 0.0, 0.0], table_name="facts", query="which cats sleep",
            match_threshold=0.5,
        )  # fmt: skip
        assert reranked[0].text == "cats sleep all day"
        assert {m.text for m in reranked} == {d[0] for d in docs[:3]}
        assert await rt.search_memories(embedding=[1.0, 0.0, 0.0], table_name="facts",
                                        room_id=uuid.uuid4()) == []  # fmt: skip

    async def test_entities_and_components_round_trip(self, backend: ReadModelBackend) -> None:
        rt = backend.runtime("Ada")
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
        assert [c.type for c in await rt.get_components(alice, source_entity_id=source)] == [
            "contact"
        ]
        await rt.update_component(card.model_copy(update={"data": {"phone": "2"}}))
        updated = await rt.get_component(alice, "contact")
        assert updated and updated.data == {"phone": "2"} and updated.created_at == 1
        await rt.add_participant(alice, room)
        [member] = await rt.get_entities_for_room(room, include_components=True)
        assert member.id == alice and [c.type for c in member.components] == ["contact", "note"]
        assert (await rt.get_entities_for_room(room))[0].components == []
        await rt.delete_component(note.id)
        assert await rt.get_component(alice, "note") is None

    async def test_worlds_rooms_and_participants_round_trip(
        self, backend: ReadModelBackend
    ) -> None:
        rt = backend.runtime("Ada")
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

    async def test_relationships_round_trip(self, backend: ReadModelBackend) -> None:
        rt = backend.runtime("Ada")
        a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        assert await rt.create_relationship(a, b, ["friend", "colleague"], {"since": 2020})
        assert not await rt.create_relationship(a, b, ["enemy"])
        assert await rt.create_relationship(c, a, ["friend"])
        rel = await rt.get_relationship(a, b)
        assert rel and rel.tags == ["friend", "colleague"] and rel.metadata == {"since": 2020}
        assert await rt.get_relationship(b, a) is None
        assert len(await rt.get_relationships(a)) == 2
        assert {r.source_entity_id for r in await rt.get_relationships(a, ["friend"])} == {a, c}
        assert [
            r.target_entity_id for r in await rt.get_relationships(a, ["friend", "colleague"])
        ] == [b]
        await rt.update_relationship(
            Relationship(source_entity_id=a, target_entity_id=b, agent_id=rt.agent_id,
                         tags=["enemy"])
        )  # fmt: skip
        updated = await rt.get_relationship(a, b)
        assert updated and updated.tags == ["enemy"] and updated.id == rel.id
        assert await rt.get_relationships(b, ["friend"]) == []

    async def test_two_agents_on_one_log_never_see_each_others_rows(
        self, backend: ReadModelBackend
    ) -> None:
        ada, bea = backend.runtime("Ada"), backend.runtime("Bea")
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

    async def test_an_agents_writes_never_change_another_agents_rows(
        self, backend: ReadModelBackend
    ) -> None:
        ada, bea = backend.runtime("Ada"), backend.runtime("Bea")
        room, bob, world = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await ada.ensure_connection(bob, room, world_id=world, name="Bob", source="x",
                                    server_id="s")  # fmt: skip
        ada_room, ada_world = await ada.get_room(room), await ada.get_world(world)
        assert ada_room is not None and ada_world is not None
        # Bea names Ada's ids in every write keyed by id
        await bea.set_participant_user_state(room, ada.agent_id, ParticipantState.MUTED)
        await bea.remove_participant(bob, room)
        await bea.record(removal_by(room, bob, bea.agent_id))
        await bea.update_room(ada_room.model_copy(update={"name": "taken"}))
        await bea.update_world(ada_world.model_copy(update={"name": "taken", "metadata": {
            "roles": {str(bob): "OWNER"}}}))  # fmt: skip
        await bea.update_entity(Entity(id=bob, agent_id=bea.agent_id, names=["Mallory"]))
        assert await ada.get_participant_user_state(room, ada.agent_id) is None
        assert set(await ada.get_participants_for_room(room)) == {bob, ada.agent_id}
        after_room, after_world = await ada.get_room(room), await ada.get_world(world)
        assert after_room is not None and after_room.name == ada_room.name
        assert after_world is not None and after_world.metadata == ada_world.metadata
        entity = await ada.get_entity_by_id(bob)
        assert entity is not None and "Mallory" not in entity.names

    async def test_writes_in_a_run_are_read_back_once_the_run_commits(
        self, backend: ReadModelBackend
    ) -> None:
        rt = backend.runtime("Ada")
        bob, room = uuid.uuid4(), uuid.uuid4()
        recorder = RunRecorder(uuid.uuid4(), rt.agent_id, correlation_id=uuid.uuid4())
        with in_recorder(recorder):
            await rt.ensure_connection(bob, room, name="Bob", source="x")
            await rt.ensure_connection(bob, room, name="Bob", source="x")  # not committed yet
            assert await rt.get_entity_by_id(bob) is None
        await rt.store.append(recorder.events)
        assert set(await rt.get_participants_for_room(room)) == {bob, rt.agent_id}
        events = await rt.store.read_all(0, 100_000)
        assert len([e for e in events if e.type == "entity.created"]) == 1

    async def test_every_read_after_every_write(self, backend: ReadModelBackend) -> None:
        rt, s = await backend.started("Ada"), Scenario()
        await write_everything(rt, s)
        r = await all_reads(rt.db, s)
        assert [m["content"]["text"] for m in r["memories"]] == [
            "two dims", "unrelated", "coffee in the morning", "green tea and biscuits"]  # fmt: skip
        assert [m["content"]["text"] for m in r["window"]] == [
            "coffee in the morning", "green tea and biscuits"]  # fmt: skip
        assert [m["content"]["text"] for m in r["search"]] == [
            "tea is lovely", "green tea and biscuits", "coffee in the morning"]  # fmt: skip
        assert r["bob"]["names"] == ["Bob", "bob", "Robert"]
        assert set(r["bob"]["metadata"]) == {"discord", "slack"}
        assert {e["id"] for e in r["in_room"]} == {s.bob, s.carol, rt.agent_id}
        bob = next(e for e in r["in_room"] if e["id"] == s.bob)
        assert [c["data"] for c in bob["components"]] == [{"n": 2}]
        assert r["card"]["data"] == {"n": 2} and r["components"] == []
        assert r["world"]["name"] == "Guild" and r["world"]["metadata"] == {"settings": {"x": 1}}
        assert r["room"]["name"] == "general" and r["gone"] is None
        assert [room["id"] for room in r["rooms"]] == [s.room]
        assert r["bob_rooms"] == [s.room] and r["gone_participants"] == []
        assert set(r["participants"]) == {s.bob, s.carol, rt.agent_id}
        assert r["carol_state"] is None  # removed and re-added: a fresh participant
        assert r["bob_state"] is None
        assert r["relationship"]["tags"] == ["friend", "colleague"]
        assert len(r["friends_of_carol"]) == 2 and [x["tags"] for x in r["fans"]] == [
            ["friend", "fan"]
        ]
        hit = (await rt.search_memories(embedding=[1.0, 0.0, 0.0], table_name="facts"))[0]
        assert hit.similarity == pytest.approx(1.0)  # type: ignore[attr-defined]
        assert hit.embedding is None  # searches leave embeddings out; by id includes it
        stored = await rt.get_memory_by_id(hit.id)
        assert stored is not None and stored.embedding == [1.0, 0.0, 0.0]
        await rt.set_participant_user_state(s.room, s.carol, ParticipantState.MUTED)
        assert await rt.get_participant_user_state(s.room, s.carol) is ParticipantState.MUTED

    async def test_search_reranks_by_bm25_with_a_query(self, backend: ReadModelBackend) -> None:
        rt, s = await backend.started("Ada"), Scenario()
        await write_everything(rt, s)
        hits = await rt.search_memories(embedding=[1.0, 0.0, 0.0], table_name="facts",
                                        query="morning coffee", match_threshold=0.6)  # fmt: skip
        assert hits[0].text == "coffee in the morning" and len(hits) == 3
        assert await rt.search_memories(embedding=[0.0, 1.0], table_name="facts",
                                        match_threshold=0.5) == []  # fmt: skip

    async def test_two_agents_on_one_database_are_isolated(self, backend: ReadModelBackend) -> None:
        ada, bea, s = await backend.started("Ada"), await backend.started("Bea"), Scenario()
        await write_everything(ada, s)
        seen = await all_reads(bea.db, s)
        assert [w["id"] for w in seen.pop("worlds")] == [bea.agent_id]  # only its own
        assert all(v in (None, [], 0, {}) for v in seen.values()), seen
        assert await bea.get_memories(table_name="facts") == []
        await bea.clear_all_agent_memories()  # clears Bea's, never Ada's
        await bea.delete_many_memories([m.id for m in await ada.get_memories(table_name="facts")])
        await bea.delete_all_memories(s.room, "facts")
        assert await ada.count_memories(s.room, unique=False, table_name="facts") == 5
        await bea.ensure_connection(uuid.uuid4(), uuid.uuid4(), name="Zed", source="x")
        assert len(await bea.get_all_worlds()) == 2  # its own and the new one
        assert {w.id for w in await ada.get_all_worlds()} == {ada.agent_id, s.world}

    async def test_connection_state_says_which_parts_of_a_connection_exist(
        self, backend: ReadModelBackend
    ) -> None:
        rt = backend.runtime("Ada")
        db = backend.read_model(rt.agent_id)
        assert db.agent_id == rt.agent_id
        bob, room, world = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        assert await db.connection_state(bob, room, world) == ConnectionState.nothing_known()
        await rt.ensure_connection(bob, room, world_id=world, name="Bob", user_name="bob",
                                   source="discord", user_id="42")  # fmt: skip
        known = await db.connection_state(bob, room, world)
        assert known.entity_names == ["Bob", "bob"]
        assert known.entity_metadata == {"discord": {"id": "42", "name": "Bob", "userName": "bob"}}
        assert known.room_exists and known.world_exists and known.room_source == "discord"
        assert known.participants == frozenset({bob, rt.agent_id})
        assert await rt.remove_participant(bob, room)
        left = await db.connection_state(bob, room, uuid.uuid4())
        assert left.participants == frozenset({rt.agent_id}) and not left.world_exists
        assert left.entity_names == ["Bob", "bob"] and left.room_exists
        bea = backend.runtime("Bea")
        assert (
            await backend.read_model(bea.agent_id).connection_state(bob, room, world)
            == ConnectionState.nothing_known()
        )  # another agent's read model knows none of it

    async def test_memories_stored_without_an_embedding_are_repaired(
        self, backend: ReadModelBackend
    ) -> None:
        character = Character(name="Ada")
        down = ModelError("worker down: start one")
        model = ScriptedModel({ModelType.TEXT_EMBEDDING: [down, down]})  # the probe, one memory
        rt = AgentRuntime(character, backend.store, db=backend.read_model(character.agent_id),
                          plugins=[model.as_plugin()])  # fmt: skip
        await rt.initialize()
        room = uuid.uuid4()
        lost = await rt.create_memory(memory(rt, room, "said while no model answered", 1))
        kept = await rt.create_memory(memory(rt, room, "embedded", 2))
        with pytest.raises(EmptyMemoryError, match="no content"):  # nothing to store or embed
            await rt.create_memory(memory(rt, room, "", 3))
        await rt.create_memory(memory(rt, room, "a result", 4), embed=False)  # none on purpose
        db = backend.read_model(rt.agent_id)
        assert [m.id for m in await db.get_memories_without_embedding(10)] == [lost]
        assert await repair_embeddings(rt, db) == 1
        repaired, other_memory = await rt.get_memory_by_id(lost), await rt.get_memory_by_id(kept)
        expected = await rt.use_model("TEXT_EMBEDDING", {"text": "said while no model answered"})
        assert repaired and repaired.embedding is not None
        assert list(repaired.embedding) == pytest.approx(expected, abs=1e-6)  # vector is float4
        assert other_memory and other_memory.embedding is not None
        assert list(other_memory.embedding) != pytest.approx(expected, abs=1e-6)
        assert await db.get_memories_without_embedding(10) == []
        assert await repair_embeddings(rt, db) == 0  # nothing left: nothing recorded
        other = backend.read_model(Character(name="Bea").agent_id)
        assert await other.get_memories_without_embedding(10) == []  # agent-scoped
