"""The agent's database surface on real Postgres: writes projected by PostgresProjector, read
back through PostgresAgentReadModel; pgvector search; two agents isolated; the in-memory double
answering alike from the same log; a rebuild giving identical rows in every projection table."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from shared.character import Character
from shared.eventstore.postgres import PostgresEventStore, create_pool
from shared.plugin import Memory
from shared.projections import PROJECTION_TABLES, PostgresProjector, rebuild_projections
from shared.readmodel.postgres import PostgresAgentReadModel
from shared.records import Component, ParticipantState, Relationship, Room, World
from shared.runtime.agent_runtime import AgentRuntime
from shared.testing import InMemoryAgentReadModel, InMemoryEventStore
from tests.integration.support import fresh_database

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(await fresh_database(database_url))
    yield pool
    await pool.close()


async def runtime(pool: asyncpg.Pool, name: str) -> AgentRuntime:
    character = Character(name=name)
    store = PostgresEventStore(pool, PostgresProjector())
    rt = AgentRuntime(character, store, db=PostgresAgentReadModel(pool, character.agent_id))
    await rt.initialize()  # the agent's own entity, world and room
    return rt


def note(rt: AgentRuntime, room: uuid.UUID, text: str, at: int, vector: list[float]) -> Memory:
    return Memory(entity_id=rt.agent_id, agent_id=rt.agent_id, room_id=room,
                  content={"text": text}, created_at=at, embedding=vector)  # fmt: skip


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
        "relationship": await db.get_relationship(s.bob, s.carol),
        "friends_of_carol": await db.get_relationships(s.carol, ["friend"]),
        "fans": await db.get_relationships(s.carol, ["fan", "friend"]),
    }
    return {k: dump(v) for k, v in reads.items()}


async def test_every_read_after_every_write(pool: asyncpg.Pool) -> None:
    rt, s = await runtime(pool, "Ada"), Scenario()
    await write_everything(rt, s)
    r = await all_reads(rt.db, s)
    assert [m["content"]["text"] for m in r["memories"]] == [
        "two dims", "unrelated", "coffee in the morning", "green tea and biscuits"]  # fmt: skip
    assert [m["content"]["text"] for m in r["window"]] == ["coffee in the morning",
                                                           "green tea and biscuits"]  # fmt: skip
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
    assert len(r["friends_of_carol"]) == 2 and [x["tags"] for x in r["fans"]] == [["friend", "fan"]]
    hit = (await rt.search_memories(embedding=[1.0, 0.0, 0.0], table_name="facts"))[0]
    assert hit.similarity == pytest.approx(1.0)  # type: ignore[attr-defined]
    assert hit.embedding is None  # searches leave embeddings out; by id includes it
    stored = await rt.get_memory_by_id(hit.id)
    assert stored is not None and stored.embedding == [1.0, 0.0, 0.0]
    await rt.set_participant_user_state(s.room, s.carol, ParticipantState.MUTED)
    assert await rt.get_participant_user_state(s.room, s.carol) is ParticipantState.MUTED

    # the in-memory double, folding the same log, answers every read alike
    double_store = InMemoryEventStore()
    double_store.events = await rt.store.read_all(0, 100_000)
    double = await all_reads(InMemoryAgentReadModel(double_store, rt.agent_id), s)
    live = await all_reads(rt.db, s)
    assert double == live


async def test_search_reranks_by_bm25_with_a_query(pool: asyncpg.Pool) -> None:
    rt, s = await runtime(pool, "Ada"), Scenario()
    await write_everything(rt, s)
    hits = await rt.search_memories(embedding=[1.0, 0.0, 0.0], table_name="facts",
                                    query="morning coffee", match_threshold=0.6)  # fmt: skip
    assert hits[0].text == "coffee in the morning" and len(hits) == 3
    assert await rt.search_memories(embedding=[0.0, 1.0], table_name="facts",
                                    match_threshold=0.5) == []  # fmt: skip


async def test_two_agents_on_one_database_are_isolated(pool: asyncpg.Pool) -> None:
    ada, bea, s = await runtime(pool, "Ada"), await runtime(pool, "Bea"), Scenario()
    await write_everything(ada, s)
    seen = await all_reads(bea.db, s)
    assert [w["id"] for w in seen.pop("worlds")] == [bea.agent_id]  # only its own
    assert all(v in (None, []) for v in seen.values()), seen
    assert await bea.get_memories(table_name="facts") == []
    await bea.ensure_connection(uuid.uuid4(), uuid.uuid4(), name="Zed", source="x")
    assert len(await bea.get_all_worlds()) == 2  # its own and the new one
    assert {w.id for w in await ada.get_all_worlds()} == {ada.agent_id, s.world}


async def snapshot(pool: asyncpg.Pool) -> dict[str, list[str]]:
    tables: dict[str, list[str]] = {}
    async with pool.acquire() as conn:
        for table in PROJECTION_TABLES:
            rows = await conn.fetch(f"SELECT * FROM {table}")
            tables[table] = sorted(repr(sorted(dict(r).items())) for r in rows)
    return tables


async def test_a_rebuild_gives_identical_rows_in_every_table(pool: asyncpg.Pool) -> None:
    ada, bea, s = await runtime(pool, "Ada"), await runtime(pool, "Bea"), Scenario()
    await write_everything(ada, s)
    await write_everything(bea, Scenario())
    before = await snapshot(pool)
    assert {"components", "relationships"} <= set(before)
    for table in ("entities", "worlds", "rooms", "participants", "memories", "components",
                  "relationships"):  # fmt: skip
        assert before[table], f"{table} is empty: the scenario should have written to it"
    assert await rebuild_projections(pool) > 0
    assert await snapshot(pool) == before
