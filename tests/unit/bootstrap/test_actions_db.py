"""Bootstrap actions that read and write the agent's database, on the in-memory read model."""

from __future__ import annotations

import uuid
from typing import Any

from plugins.bootstrap.actions import (
    CHOOSE_OPTION,
    FOLLOW_ROOM,
    MUTE_ROOM,
    SEND_MESSAGE,
    UNFOLLOW_ROOM,
    UNMUTE_ROOM,
    UPDATE_CONTACT,
    UPDATE_ROLE,
    UPDATE_SETTINGS,
)
from plugins.bootstrap.actions.roles import can_modify_role
from shared.model_types import ModelType
from shared.plugin import Memory, TaskWorker
from shared.records import ParticipantState, Room
from shared.testing import ScriptedModel
from tests.unit.bootstrap.support import Sent, scene


async def make_role(s: Any, name: str, role: str) -> None:
    """Give `name` a role in the scene's world."""
    world = await s.runtime.get_world(s.world_id)
    roles = {**world.metadata.get("roles", {}), str(s.people[name]): role}
    await s.runtime.update_world(
        world.model_copy(update={"metadata": {**world.metadata, "roles": roles}})
    )


def response(msg: Memory, actions: list[str]) -> Memory:
    return Memory(
        entity_id=msg.agent_id, agent_id=msg.agent_id, room_id=msg.room_id,
        content={"actions": actions},
    )  # fmt: skip


async def test_follow_mute_unmute_unfollow_change_the_agents_room_state() -> None:
    s = await scene(actions=[FOLLOW_ROOM, UNFOLLOW_ROOM, MUTE_ROOM, UNMUTE_ROOM])
    rt, agent = s.runtime, s.runtime.agent_id

    async def run(name: str) -> bool:
        msg = await s.store("Ann", f"please {name.lower()}")
        [result] = await rt.process_actions(msg, [response(msg, [name])])
        return result.success

    assert not await run("UNFOLLOW_ROOM")  # not followed: validate declines
    assert await run("FOLLOW_ROOM")
    assert await rt.get_participant_user_state(s.room_id, agent) == ParticipantState.FOLLOWED
    assert not await run("FOLLOW_ROOM")  # already followed
    assert await run("MUTE_ROOM")
    assert await rt.get_participant_user_state(s.room_id, agent) == ParticipantState.MUTED
    assert not await run("MUTE_ROOM")
    assert await run("UNMUTE_ROOM")
    assert await rt.get_participant_user_state(s.room_id, agent) is None
    thoughts = [m.content.get("thought") for m in await rt.get_memories(room_id=s.room_id)
                if m.entity_id == agent]  # fmt: skip
    assert "I followed this room." in thoughts and "I muted this room." in thoughts


async def test_update_contact_creates_then_merges_then_removes_fields() -> None:
    model = ScriptedModel({ModelType.TEXT_SMALL: [
        '```json\n{"entity": "sender", "operation": "merge", "fields": {"email": "a@x.org"}}\n```',
        '<response><entity>Bob</entity><operation>merge</operation>'
        '<fields>{"phone": "555"}</fields></response>',
        '{"entity": "sender", "fields": {"twitter": "@ann"}}',
        '{"entity": "sender", "operation": "remove", "fields": {"email": null}}',
        "I have no idea",
        '{"entity": "Zed", "fields": {"email": "z@x"}}',
    ]}, strict=True)  # fmt: skip
    s = await scene(model, actions=[UPDATE_CONTACT])
    rt, sent = s.runtime, Sent()
    await make_role(s, "Ann", "OWNER")  # Bob's card is not hers: only an OWNER/ADMIN may

    async def run() -> Any:
        msg = await s.store("Ann", "save my details")
        [result] = await rt.process_actions(msg, [response(msg, ["UPDATE_CONTACT"])], None, sent)
        return result

    async def card(name: str) -> dict[str, Any] | None:
        found = await rt.get_component(s.people[name], "contact_info", source_entity_id=rt.agent_id)
        return found.data if found else None

    assert (await run()).success and await card("Ann") == {"email": "a@x.org"}
    assert (await run()).success and await card("Bob") == {"phone": "555"}
    assert (await run()).success and await card("Ann") == {"email": "a@x.org", "twitter": "@ann"}
    assert (await run()).success and await card("Ann") == {"twitter": "@ann"}
    assert sent.contents[0]["text"] == "I've saved email for Ann."
    assert sent.contents[3]["text"] == "I've removed email for Ann."
    garbled = await run()
    assert not garbled.success and sent.contents[-1]["actions"] == ["UPDATE_CONTACT_FAILED"]
    unknown = await run()
    assert not unknown.success and "Zed" in sent.contents[-1]["text"]
    assert "a@x.org" in model.prompts("TEXT_SMALL")[3]  # the current card is shown


class FakeTask:
    def __init__(self, name: str, options: list[Any]) -> None:
        self.id, self.name, self.description = uuid.uuid4(), name, ""
        self.metadata = {"options": options}


async def test_choose_option_runs_the_task_worker_with_the_chosen_option() -> None:
    task = FakeTask("publish", ["post now", {"name": "later", "description": "tomorrow"}])
    model = ScriptedModel({ModelType.TEXT_SMALL: [
        f"<response><taskId>{str(task.id)[:8]}</taskId><selectedOption>Later</selectedOption>",
        "<response><taskId>nope</taskId><selectedOption>sideways</selectedOption></response>",
    ]}, strict=True)  # fmt: skip
    s = await scene(model, actions=[CHOOSE_OPTION])
    await make_role(s, "Ann", "ADMIN")
    rt, ran, deleted, sent = s.runtime, [], [], Sent()
    tasks = [task]

    async def get_tasks(**filters: Any) -> list[Any]:
        return list(tasks)

    async def delete_task(task_id: uuid.UUID) -> None:
        deleted.append(task_id)

    async def execute(runtime: Any, options: dict[str, Any], t: Any) -> None:
        ran.append((options, t.id))

    rt.get_tasks = get_tasks  # type: ignore[method-assign]
    rt.delete_task = delete_task  # type: ignore[method-assign]
    rt.register_task_worker(TaskWorker(name="publish", execute=execute))
    msg = await s.store("Ann", "later please")
    [result] = await rt.process_actions(msg, [response(msg, ["SELECT"])], None, sent)
    assert result.success and ran == [({"option": "later"}, task.id)] and deleted == [task.id]
    assert sent.contents[-1]["text"] == "Chose later for publish."
    [result] = await rt.process_actions(msg, [response(msg, ["CHOOSE_OPTION"])], None, sent)
    assert not result.success and "post now" in sent.contents[-1]["text"]
    tasks.clear()
    [declined] = await rt.process_actions(msg, [response(msg, ["CHOOSE_OPTION"])], None, sent)
    assert declined.data.get("skipped") is True  # nothing awaits a choice: validate declines


async def test_send_message_to_a_user_or_a_room_names_the_target() -> None:
    model = ScriptedModel({ModelType.TEXT_SMALL: [
        "<response><targetType>user</targetType><target>bob</target>"
        "<text>Ann is running late</text></response>",
        "<response><targetType>room</targetType><target>#announcements</target>"
        "<source>discord</source><text>Meeting at 5</text></response>",
        "<response><targetType>user</targetType><target>Zed</target><text>hi</text></response>",
    ]}, strict=True)  # fmt: skip
    s = await scene(model, actions=[SEND_MESSAGE])
    await make_role(s, "Ann", "OWNER")
    rt, sent = s.runtime, Sent()
    other = uuid.uuid4()
    await rt.ensure_room_exists(Room(id=other, agent_id=rt.agent_id, name="announcements",
                                     source="discord", world_id=s.world_id))  # fmt: skip
    await rt.add_participant(rt.agent_id, other)
    await rt.add_participant(s.people["Ann"], other)
    msg = await s.store("Ann", "tell Bob I'm late")
    for _ in range(3):
        await rt.process_actions(msg, [response(msg, ["SEND_MESSAGE"])], None, sent)
    first, second, third = sent.contents
    assert first["target"] == {"type": "user", "entityId": str(s.people["Bob"])}
    assert first["text"] == "Ann is running late"
    assert second["target"] == {"type": "room", "roomId": str(other), "source": "discord"}
    assert "target" not in third and third["actions"] == ["SEND_MESSAGE_FAILED"]


SETTINGS = {"settings": {
    "WELCOME_CHANNEL": {"name": "Welcome channel", "value": None, "required": True},
    "API_TOKEN": {"name": "API token", "value": None, "secret": True, "required": True},
}}  # fmt: skip


async def test_update_settings_only_by_the_owner_and_never_echoing_secrets() -> None:
    model = ScriptedModel({ModelType.TEXT_SMALL: [
        '[{"key": "welcome_channel", "value": "#lobby"}, {"key": "API_TOKEN", "value": "tok-9"},'
        ' {"key": "UNKNOWN", "value": 1}]',
    ]}, strict=True)  # fmt: skip
    s = await scene(model, actions=[UPDATE_SETTINGS], world_metadata=SETTINGS, room_type="DM")
    rt, sent = s.runtime, Sent()
    world = await rt.get_world(s.world_id)
    assert world is not None
    roles = {"roles": {str(s.people["Ann"]): "OWNER", str(s.people["Bob"]): "ADMIN"}}
    await rt.update_world(world.model_copy(update={"metadata": {**world.metadata, **roles}}))
    by_bob = await s.store("Bob", "set the token to tok-9")
    [declined] = await rt.process_actions(by_bob, [response(by_bob, ["UPDATE_SETTINGS"])])
    assert declined.data.get("skipped") is True
    msg = await s.store("Ann", "welcome channel is #lobby, token tok-9")
    [result] = await rt.process_actions(msg, [response(msg, ["UPDATE_SETTINGS"])], None, sent)
    assert result.success and result.data["updated"] == ["API_TOKEN", "WELCOME_CHANNEL"]
    settings = (await rt.get_world(s.world_id)).metadata["settings"]  # type: ignore[union-attr]
    assert settings["WELCOME_CHANNEL"]["value"] == "#lobby"
    assert settings["API_TOKEN"]["value"] == "tok-9" and "UNKNOWN" not in settings
    assert "tok-9" not in sent.contents[-1]["text"] and "'#lobby'" in sent.contents[-1]["text"]
    assert "value hidden" in sent.contents[-1]["text"]
    in_a_group = s.said("Ann", "set the token to tok-10", channelType="GROUP")
    [declined] = await rt.process_actions(in_a_group, [response(in_a_group, ["UPDATE_SETTINGS"])])
    assert declined.data.get("skipped") is True  # never in front of others, as ElizaOS


def test_role_rules() -> None:
    assert can_modify_role("OWNER", "NONE", "ADMIN")
    assert can_modify_role("OWNER", "ADMIN", "NONE")
    assert not can_modify_role("OWNER", "OWNER", "NONE")  # a peer
    assert can_modify_role("ADMIN", "NONE", "ADMIN")
    assert not can_modify_role("ADMIN", "NONE", "OWNER")
    assert not can_modify_role("ADMIN", "OWNER", "NONE")
    assert not can_modify_role("NONE", "NONE", "ADMIN")
    assert not can_modify_role("OWNER", "NONE", "ADMIN", self_change=True)


async def test_update_role_applies_what_the_sender_may_and_refuses_the_rest() -> None:
    model = ScriptedModel({ModelType.TEXT_SMALL: [
        'Here: [{"entity": "Bob", "role": "admin"}, {"entity": "Cy", "role": "OWNER"},'
        ' {"entity": "Zed", "role": "ADMIN"}, {"entity": "Ann", "role": "NONE"}]',
        "nothing useful",
    ]}, strict=True)  # fmt: skip
    s = await scene(model, names=["Ann", "Bob", "Cy"], actions=[UPDATE_ROLE])
    rt, sent = s.runtime, Sent()
    world = await rt.get_world(s.world_id)
    assert world is not None
    await rt.update_world(world.model_copy(update={"metadata": {"roles": {
        str(s.people["Ann"]): "ADMIN", str(s.people["Cy"]): "NONE"}}}))  # fmt: skip
    msg = await s.store("Ann", "make Bob an admin and Cy the owner")
    [result] = await rt.process_actions(msg, [response(msg, ["UPDATE_ROLE"])], None, sent)
    roles = (await rt.get_world(s.world_id)).metadata["roles"]  # type: ignore[union-attr]
    assert roles[str(s.people["Bob"])] == "ADMIN" and roles[str(s.people["Cy"])] == "NONE"
    assert roles[str(s.people["Ann"])] == "ADMIN"  # no change of one's own role
    assert result.success and result.data["applied"] == ["Bob is now ADMIN"]
    assert result.data["refused"] == ["Cy (not allowed)", "Zed (not found)", "Ann (not allowed)"]
    [nothing] = await rt.process_actions(msg, [response(msg, ["UPDATE_ROLE"])], None, sent)
    assert not nothing.success and sent.contents[-1]["text"].startswith("I couldn't find")
    dm = s.said("Ann", "make Bob admin", channelType="DM")
    [declined] = await rt.process_actions(dm, [response(dm, ["UPDATE_ROLE"])])
    assert declined.data.get("skipped") is True
