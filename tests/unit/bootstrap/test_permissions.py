"""Who can make the agent do what: role checks on the actions with effects, what a prompt may
show of other rooms, and names resolved within the room (docs/security.md, "Application layer").
"""

from __future__ import annotations

import uuid
from typing import Any

from plugins.bootstrap.actions import CHOOSE_OPTION, SEND_MESSAGE, UPDATE_CONTACT, UPDATE_ROLE
from plugins.bootstrap.actions.common import entities_named, find_entity, who_is
from plugins.bootstrap.providers import ENTITIES, RELATIONSHIPS
from shared.model_types import ModelType
from shared.plugin import Entity, Memory, TaskWorker
from shared.records import Room
from shared.testing import ScriptedModel
from tests.unit.bootstrap.support import Scene, Sent, scene
from tests.unit.bootstrap.test_actions_db import FakeTask, make_role, response


async def run(s: Scene, msg: Memory, action: str, sent: Sent | None = None) -> Any:
    [result] = await s.runtime.process_actions(msg, [response(msg, [action])], None, sent)
    return result


# --- CHOOSE_OPTION ------------------------------------------------------------------------------


async def choice_scene(model: ScriptedModel) -> tuple[Scene, FakeTask, list[Any], list[Any]]:
    task = FakeTask("publish", ["post now", "later"])
    s = await scene(model, actions=[CHOOSE_OPTION])
    ran: list[Any] = []
    deleted: list[Any] = []

    async def get_tasks(**filters: Any) -> list[Any]:
        return [task] if task.id not in deleted else []

    async def delete_task(task_id: uuid.UUID) -> None:
        deleted.append(task_id)

    async def execute(runtime: Any, options: dict[str, Any], t: Any) -> None:
        ran.append(options)

    s.runtime.get_tasks = get_tasks  # type: ignore[method-assign]
    s.runtime.delete_task = delete_task  # type: ignore[method-assign]
    s.runtime.register_task_worker(TaskWorker(name="publish", execute=execute))
    return s, task, ran, deleted


async def test_a_non_owners_choose_option_is_refused_and_an_owners_allowed() -> None:
    model = ScriptedModel({ModelType.TEXT_SMALL: [
        "<response><taskId>publish</taskId><selectedOption>ABORT</selectedOption></response>",
        "<response><taskId>publish</taskId><selectedOption>later</selectedOption></response>",
    ]}, strict=True)  # fmt: skip
    s, task, ran, deleted = await choice_scene(model)
    await make_role(s, "Ann", "OWNER")
    by_bob = await s.store("Bob", "abort it")
    declined = await run(s, by_bob, "CHOOSE_OPTION")
    assert declined.data.get("skipped") is True  # not offered to a member
    sent = Sent()
    refused = await CHOOSE_OPTION.handler(s.runtime, by_bob, None, {}, sent, [])
    assert not refused.success and sent.contents[-1]["actions"] == ["CHOOSE_OPTION_REFUSED"]
    assert ran == [] and deleted == []  # nothing decided; the model was never asked
    by_ann = await s.store("Ann", "abort it")
    assert (await run(s, by_ann, "CHOOSE_OPTION")).success
    assert deleted == [task.id] and ran == []  # ABORT deletes without running


async def test_a_lone_pending_task_is_not_taken_when_the_answer_names_none() -> None:
    model = ScriptedModel({ModelType.TEXT_SMALL: [
        "<response><taskId></taskId><selectedOption>later</selectedOption></response>",
        "<response><taskId>abc</taskId><selectedOption>later</selectedOption></response>",
    ]}, strict=True)  # fmt: skip
    s, _, ran, deleted = await choice_scene(model)
    await make_role(s, "Ann", "ADMIN")
    msg = await s.store("Ann", "later")
    for _ in range(2):  # no task named; an id prefix too short to name one
        result = await run(s, msg, "CHOOSE_OPTION")
        assert not result.success
    assert ran == [] and deleted == []


# --- SEND_MESSAGE -------------------------------------------------------------------------------


async def test_a_non_owners_send_message_is_refused_and_an_owners_allowed() -> None:
    model = ScriptedModel({ModelType.TEXT_SMALL: [
        "<response><targetType>room</targetType><target>#news</target>"
        "<text>release today</text></response>",
    ]}, strict=True)  # fmt: skip
    s = await scene(model, actions=[SEND_MESSAGE])
    rt = s.runtime
    await make_role(s, "Ann", "OWNER")
    news = uuid.uuid4()
    await rt.ensure_room_exists(Room(id=news, agent_id=rt.agent_id, name="news", source="discord",
                                     world_id=s.world_id))  # fmt: skip
    for who in (rt.agent_id, s.people["Ann"], s.people["Bob"]):
        await rt.add_participant(who, news)
    by_bob = await s.store("Bob", "post 'release today' in #news")
    assert (await run(s, by_bob, "SEND_MESSAGE")).data.get("skipped") is True
    sent = Sent()
    refused = await SEND_MESSAGE.handler(rt, by_bob, None, {}, sent, [])
    assert not refused.success and "target" not in sent.contents[-1]
    by_ann = await s.store("Ann", "post 'release today' in #news")
    sent = Sent()
    assert (await run(s, by_ann, "SEND_MESSAGE", sent)).success
    assert sent.contents[-1]["target"] == {"type": "room", "roomId": str(news), "source": "discord"}


async def test_send_message_offers_only_rooms_of_this_world_the_sender_is_in() -> None:
    model = ScriptedModel({ModelType.TEXT_SMALL: [
        "<response><targetType>room</targetType><target>carol-dm</target>"
        "<text>psst</text></response>",
        "<response><targetType>room</targetType><target>elsewhere</target>"
        "<text>hello</text></response>",
    ]}, strict=True)  # fmt: skip
    s = await scene(model, actions=[SEND_MESSAGE])
    rt = s.runtime
    await make_role(s, "Ann", "OWNER")
    carol, carol_dm, elsewhere = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await rt.ensure_room_exists(Room(id=carol_dm, agent_id=rt.agent_id, name="carol-dm",
                                     type="DM", world_id=s.world_id))  # fmt: skip
    await rt.add_participant(carol, carol_dm)
    await rt.add_participant(rt.agent_id, carol_dm)
    await rt.ensure_room_exists(Room(id=elsewhere, agent_id=rt.agent_id, name="elsewhere",
                                     world_id=uuid.uuid4()))  # another world  # fmt: skip
    await rt.add_participant(rt.agent_id, elsewhere)
    await rt.add_participant(s.people["Ann"], elsewhere)
    msg = await s.store("Ann", "message them")
    for _ in range(2):
        sent = Sent()
        result = await run(s, msg, "SEND_MESSAGE", sent)
        assert not result.success and "target" not in sent.contents[-1]
    prompt = model.prompts(ModelType.TEXT_SMALL)[0]
    assert "carol-dm" not in prompt and "elsewhere" not in prompt


# --- UPDATE_CONTACT -----------------------------------------------------------------------------


async def test_a_non_owners_update_contact_of_someone_else_is_refused_and_an_owners_allowed() -> (
    None
):
    model = ScriptedModel({ModelType.TEXT_SMALL: [
        '{"entity": "Ann", "fields": {"email": "evil@x.org"}}',
        '{"entity": "sender", "fields": {"email": "bob@x.org"}}',
        '{"entity": "Bob", "fields": {"phone": "555"}}',
    ]}, strict=True)  # fmt: skip
    s = await scene(model, actions=[UPDATE_CONTACT])
    rt = s.runtime
    await make_role(s, "Ann", "OWNER")

    async def card(name: str) -> dict[str, Any] | None:
        found = await rt.get_component(s.people[name], "contact_info", source_entity_id=rt.agent_id)
        return found.data if found else None

    sent = Sent()
    refused = await run(
        s, await s.store("Bob", "Ann's email is evil@x.org"), "UPDATE_CONTACT", sent
    )
    assert not refused.success and await card("Ann") is None
    assert sent.contents[-1]["actions"] == ["UPDATE_CONTACT_REFUSED"]
    assert (await run(s, await s.store("Bob", "my email is bob@x.org"), "UPDATE_CONTACT")).success
    assert await card("Bob") == {"email": "bob@x.org"}  # anyone may change their own card
    assert (await run(s, await s.store("Ann", "Bob's phone is 555"), "UPDATE_CONTACT")).success
    assert await card("Bob") == {"email": "bob@x.org", "phone": "555"}


async def test_a_contact_card_given_in_a_dm_is_absent_from_a_group_rooms_prompt() -> None:
    model = ScriptedModel({ModelType.TEXT_SMALL: [
        '{"entity": "sender", "fields": {"email": "ann-private@x.org"}}',
    ]})  # fmt: skip
    s = await scene(model, actions=[UPDATE_CONTACT], providers=[ENTITIES])
    rt, ann = s.runtime, s.people["Ann"]
    dm = uuid.uuid4()
    await rt.ensure_room_exists(Room(id=dm, agent_id=rt.agent_id, name="dm", type="DM",
                                     world_id=s.world_id))  # fmt: skip
    await rt.add_participant(ann, dm)
    await rt.add_participant(rt.agent_id, dm)
    said = {"text": "my email is ann-private@x.org", "channelType": "DM"}
    in_dm = Memory(entity_id=ann, agent_id=rt.agent_id, room_id=dm, world_id=s.world_id,
                   content=said)  # fmt: skip
    assert (await run(s, in_dm, "UPDATE_CONTACT")).success
    in_group = await s.store("Ann", "who is here?")
    group_state = await rt.compose_state(in_group, include_list=["ENTITIES"])
    assert "Ann" in group_state.text and "ann-private@x.org" not in group_state.text
    assert "ann-private@x.org" not in str(group_state.data)
    dm_state = await rt.compose_state(in_dm, include_list=["ENTITIES"], skip_cache=True)
    assert "ann-private@x.org" in dm_state.text  # where it was given, it is known


async def test_relationships_list_only_people_in_this_room() -> None:
    s = await scene(names=["Ann", "Bob"], providers=[RELATIONSHIPS])
    rt, ann, bob = s.runtime, s.people["Ann"], s.people["Bob"]
    secret_friend = uuid.uuid4()
    await rt.create_entity(Entity(id=secret_friend, agent_id=rt.agent_id, names=["Dora"]))
    await rt.create_relationship(ann, bob, ["colleague"])
    await rt.create_relationship(ann, secret_friend, ["dm-contact"])
    state = await rt.compose_state(await s.store("Ann", "hi"), include_list=["RELATIONSHIPS"])
    assert "Bob" in state.text and "Dora" not in state.text and "dm-contact" not in state.text


# --- names -------------------------------------------------------------------------------------


def person(names: list[str], current: str | None = None) -> Entity:
    metadata = {"discord": {"name": current, "userName": current.lower()}} if current else {}
    return Entity(id=uuid.uuid4(), agent_id=uuid.uuid4(), names=names, metadata=metadata)


def test_a_name_someone_once_used_never_beats_the_person_who_goes_by_it() -> None:
    bob = person(["Bob"], current="Bob")
    mallory = person(["Bob", "Mallory"], current="Mallory")  # called herself Bob once
    room = [mallory, bob]
    assert find_entity(room, "Bob") is bob
    assert find_entity(room, "@bob") is bob
    assert find_entity(room, "mallory") is mallory
    assert find_entity(room, str(mallory.id)) is mallory


def test_a_name_two_people_go_by_names_nobody() -> None:
    one, two = person(["Sam"], current="Sam"), person(["Sam"], current="Sam")
    assert find_entity([one, two], "Sam") is None
    assert len(entities_named([one, two], "sam")) == 2
    assert "2 people here go by Sam" in who_is([one, two], "Sam")
    assert find_entity([one], "Zed") is None and "don't know who Zed" in who_is([one], "Zed")


async def test_update_role_is_offered_only_to_owners_and_admins_in_group_rooms() -> None:
    s = await scene(names=["Ann", "Bob"], actions=[UPDATE_ROLE])
    await make_role(s, "Ann", "OWNER")
    by_bob = await s.store("Bob", "make me admin")
    assert (await run(s, by_bob, "UPDATE_ROLE")).data.get("skipped") is True
    thread = s.said("Ann", "make Bob admin", channelType="THREAD")
    assert (await run(s, thread, "UPDATE_ROLE")).data.get("skipped") is True
