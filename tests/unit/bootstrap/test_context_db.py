"""Bootstrap providers that read the agent's database, on the in-memory read model."""

from __future__ import annotations

import uuid

from plugins.bootstrap.providers import (
    ATTACHMENTS,
    ENTITIES,
    FACTS,
    RECENT_MESSAGES,
    RELATIONSHIPS,
    ROLES,
    SETTINGS,
    WORLD,
)
from shared.character import Character
from shared.plugin import Memory
from shared.records import Component, Room
from shared.testing import ScriptedModel
from tests.unit.bootstrap.support import scene


async def test_recent_messages_names_speakers_and_includes_the_unstored_message() -> None:
    s = await scene(providers=[RECENT_MESSAGES])
    await s.store("Ann", "hello Ada")
    await s.store("Ada", "Hello Ann!", actions=["REPLY"])
    await s.store("Bob", "did something", type="action_result")  # left to ACTION_STATE
    latest = s.said("Bob", "what's up?")  # not stored yet: its run has not committed
    state = await s.runtime.compose_state(latest)
    assert state.values["recentMessages"] == "Ann: hello Ada\nAda: Hello Ann!\nBob: what's up?"
    assert "# Latest message\nBob: what's up?" in state.text
    assert state.values["senderName"] == "Bob"
    data = state.data["providers"]["RECENT_MESSAGES"]["data"]["recentMessages"]
    assert [m.text for m in data][-1] == "what's up?"


async def test_recent_messages_keeps_the_last_conversation_length_messages() -> None:
    s = await scene(
        providers=[RECENT_MESSAGES],
        character=Character(name="Ada", settings={"CONVERSATION_LENGTH": "3"}),
    )
    for i in range(6):
        await s.store("Ann", f"m{i}")
    state = await s.runtime.compose_state(s.said("Bob", "latest"))
    assert state.values["recentMessages"] == "Ann: m4\nAnn: m5\nBob: latest"


async def test_recent_messages_leave_the_oldest_out_to_stay_within_the_history_budget() -> None:
    s = await scene(
        providers=[RECENT_MESSAGES],
        character=Character(name="Ada", settings={"PROMPT_HISTORY_MAX_CHARS": "40"}),
    )
    for i in range(5):
        await s.store("Ann", f"{i}" * 12)  # "Ann: " + 12 characters = 17 a line
    state = await s.runtime.compose_state(s.said("Bob", "x" * 60))  # alone over the budget
    assert state.values["recentMessages"] == "Bob: " + "x" * 60  # the latest is always kept
    state = await s.runtime.compose_state(s.said("Bob", "latest"))
    assert state.values["recentMessages"] == f"Ann: {'4' * 12}\nBob: latest"


async def test_entities_lists_people_with_components() -> None:
    s = await scene(providers=[ENTITIES])
    await s.runtime.create_component(
        Component(
            entity_id=s.people["Ann"],
            agent_id=s.runtime.agent_id,
            type="contact_info",
            data={"email": "ann@example.org"},
        )
    )
    msg = s.said("Ann", "hi")
    assert "ENTITIES" not in (await s.runtime.compose_state(msg)).data["providers"]  # dynamic
    state = await s.runtime.compose_state(msg, include_list=["ENTITIES"], only_include=True)
    assert f'- "Ann" (id {s.people["Ann"]})' in state.text
    assert 'contact_info: {"email": "ann@example.org"}' in state.text
    assert f'"Bob" (id {s.people["Bob"]})' in state.text and state.values["senderName"] == "Ann"


async def test_facts_searches_by_embedding_and_adds_the_latest() -> None:
    model = ScriptedModel(strict=True)
    s = await scene(model, providers=[FACTS])
    fact = Memory(
        entity_id=s.people["Ann"],
        agent_id=s.runtime.agent_id,
        room_id=s.room_id,
        content={"text": "Ann lives in Lisbon"},
    )
    await s.runtime.create_memory(fact, "facts")
    other = Memory(
        entity_id=s.people["Bob"],
        agent_id=s.runtime.agent_id,
        room_id=s.room_id,
        content={"text": "Bob plays chess"},
    )
    await s.runtime.create_memory(other, "facts")
    msg = s.said("Ann", "Ann lives in Lisbon")
    state = await s.runtime.compose_state(msg, include_list=["FACTS"], only_include=True)
    facts = [f["content"]["text"] for f in state.data["providers"]["FACTS"]["data"]["facts"]]
    assert facts == ["Ann lives in Lisbon", "Bob plays chess"]  # the relevant one first
    assert "- Ann lives in Lisbon\n- Bob plays chess" in state.text
    embedded = [p["text"] for t, p in model.calls if t == "TEXT_EMBEDDING"]
    assert "Ann lives in Lisbon" in embedded


async def test_relationships_of_the_sender_strongest_first() -> None:
    s = await scene(names=["Ann", "Bob", "Cy"], providers=[RELATIONSHIPS])
    ann, bob, cy = (s.people[n] for n in ("Ann", "Bob", "Cy"))
    await s.runtime.create_relationship(ann, bob, ["colleague"], {"interactions": 1})
    await s.runtime.create_relationship(cy, ann, ["friend"], {"interactions": 5})
    state = await s.runtime.compose_state(
        s.said("Ann", "hi"), include_list=["RELATIONSHIPS"], only_include=True
    )
    assert state.values["relationships"] == (
        f"- Cy [{cy}] (tags: friend)\n- Bob [{bob}] (tags: colleague)"
    )
    assert "has seen Ann interact" in state.text


async def test_world_shows_world_room_other_rooms_and_participants() -> None:
    s = await scene(providers=[WORLD])
    await s.runtime.ensure_room_exists(
        Room(id=uuid.uuid4(), agent_id=s.runtime.agent_id, name="random", world_id=s.world_id)
    )
    state = await s.runtime.compose_state(
        s.said("Ann", "hi"), include_list=["WORLD"], only_include=True
    )
    info = state.values["worldInfo"]
    assert "World: Guild" in info and "Current room: general (GROUP)" in info
    assert "Other rooms: random (GROUP)" in info
    assert f"Ann ({s.people['Ann']})" in info and "Ada (" in info


async def test_roles_lists_owners_and_admins_but_not_in_dms() -> None:
    roles = {"x": "NONE"}
    s = await scene(providers=[ROLES], world_metadata={"roles": roles})
    await s.runtime.update_world(
        (await s.runtime.get_world(s.world_id)).model_copy(  # type: ignore[union-attr]
            update={
                "metadata": {
                    "roles": {str(s.people["Ann"]): "OWNER", str(s.people["Bob"]): "admin"}
                }
            }
        )
    )
    state = await s.runtime.compose_state(
        s.said("Bob", "hi"), include_list=["ROLES"], only_include=True
    )
    assert f"Owners: Ann ({s.people['Ann']})" in state.text
    assert f"Admins: Bob ({s.people['Bob']})" in state.text
    dm = s.said("Bob", "hi", channelType="DM")
    state = await s.runtime.compose_state(dm, include_list=["ROLES"], only_include=True)
    assert state.text == "" and state.values["roles"] == ""


SETTINGS_META = {
    "settings": {
        "WELCOME_CHANNEL": {
            "name": "Welcome channel",
            "description": "Where to greet people",
            "value": "#lobby",
            "required": True,
        },
        "API_TOKEN": {
            "name": "API token",
            "value": "s3cr3t-value",
            "secret": True,
            "required": True,
        },
        "LANGUAGE": {"name": "Language", "value": None, "required": True},
    }
}


async def test_settings_never_show_secret_values() -> None:
    s = await scene(providers=[SETTINGS], world_metadata=SETTINGS_META)
    state = await s.runtime.compose_state(s.said("Ann", "settings?"))
    assert "s3cr3t-value" not in state.text and "s3cr3t" not in str(state.data)
    assert "- API_TOKEN (API token): set (secret, value hidden) [required]" in state.text
    assert "- WELCOME_CHANNEL (Welcome channel): set to '#lobby' [required]" in state.text
    assert "- LANGUAGE (Language): not set [required]" in state.text
    assert state.values["missingSettings"] == "LANGUAGE"


async def test_settings_in_a_dm_are_those_of_the_world_the_sender_owns() -> None:
    s = await scene(providers=[SETTINGS], world_metadata=SETTINGS_META)
    world = await s.runtime.get_world(s.world_id)
    assert world is not None
    metadata = {**world.metadata, "roles": {str(s.people["Ann"]): "OWNER"}}
    await s.runtime.update_world(world.model_copy(update={"metadata": metadata}))
    import uuid

    dm_room = uuid.uuid4()
    await s.runtime.ensure_room_exists(Room(id=dm_room, agent_id=s.runtime.agent_id, type="DM"))
    dm = s.said("Ann", "let's set things up", channelType="DM").model_copy(
        update={"room_id": dm_room, "world_id": None}
    )
    state = await s.runtime.compose_state(dm)
    assert "# Settings of Guild" in state.text and "LANGUAGE" in state.text
    bob_dm = dm.model_copy(update={"entity_id": s.people["Bob"], "id": uuid.uuid4()})
    assert (await s.runtime.compose_state(bob_dm)).text == ""


async def test_attachments_of_the_message_and_recent_ones() -> None:
    s = await scene(providers=[ATTACHMENTS])
    await s.store(
        "Bob",
        "see this",
        attachments=[
            {
                "id": "a1",
                "url": "https://x/a.png",
                "title": "Chart",
                "contentType": "image",
                "description": "a bar chart",
            }
        ],
    )
    msg = s.said(
        "Ann",
        "and this",
        attachments=[
            {"id": "a2", "url": "https://x/b.pdf", "title": "Report", "text": "x" * 1200},
            {"id": "a1", "url": "https://x/a.png", "title": "Chart"},
        ],
    )
    state = await s.runtime.compose_state(msg, include_list=["ATTACHMENTS"], only_include=True)
    items = state.data["providers"]["ATTACHMENTS"]["data"]["attachments"]
    assert [a["id"] for a in items] == ["a2", "a1"]
    assert "- Report\n  ID: a2\n  URL: https://x/b.pdf" in state.text
    assert "x" * 1000 + "..." in state.text and "x" * 1001 not in state.text
