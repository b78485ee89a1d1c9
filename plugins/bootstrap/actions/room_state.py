"""FOLLOW_ROOM / UNFOLLOW_ROOM / MUTE_ROOM / UNMUTE_ROOM: how the agent listens to a room.

The state is the agent's participant state in the room (runtime.set_participant_user_state):
FOLLOWED rooms are answered without a should-respond check, MUTED rooms are ignored unless the
agent is named. Each change is also stored as the agent's thought in the room. They say nothing
themselves: list REPLY with them to answer too.
"""

from __future__ import annotations

from typing import Any

from plugins.bootstrap.actions.common import agent_memory
from shared.plugin import (
    Action,
    ActionHandler,
    ActionResult,
    HandlerCallback,
    Memory,
    ParticipantState,
    Runtime,
    State,
    Validator,
)


def _when(allowed: set[ParticipantState | None]) -> Validator:
    async def validate(runtime: Runtime, message: Memory, state: State | None) -> bool:
        current = await runtime.get_participant_user_state(message.room_id, runtime.agent_id)
        return current in allowed

    return validate


def _setter(name: str, new: ParticipantState | None, done: str) -> ActionHandler:
    async def handler(
        runtime: Runtime,
        message: Memory,
        state: State | None,
        options: dict[str, Any],
        callback: HandlerCallback | None,
        responses: list[Memory],
    ) -> ActionResult:
        await runtime.set_participant_user_state(message.room_id, runtime.agent_id, new)
        thought = f"I {done} this room."
        await runtime.create_memory(
            agent_memory(runtime, message, {"thought": thought, "actions": [f"{name}_START"]})
        )
        return ActionResult(
            text=thought,
            values={"roomState": new.value if new else "NONE"},
            data={"actionName": name, "roomId": str(message.room_id)},
        )

    return handler


FOLLOWED, MUTED = ParticipantState.FOLLOWED, ParticipantState.MUTED

FOLLOW_ROOM = Action(
    name="FOLLOW_ROOM",
    similes=["FOLLOW_CHAT", "FOLLOW_CHANNEL", "FOLLOW_CONVERSATION", "FOLLOW_THREAD"],
    description="Start following this room: answer every message in it without being named. "
    "Only when someone asks the agent to join in or keep participating.",
    validate=_when({None}),
    handler=_setter("FOLLOW_ROOM", FOLLOWED, "followed"),
    examples=[[{"name": "{{user1}}", "content": {"text": "hey, keep an eye on this channel"}},
               {"name": "{{agentName}}", "content": {"text": "Sure, I'll follow along.",
                                                      "actions": ["FOLLOW_ROOM"]}}]],
)  # fmt: skip
UNFOLLOW_ROOM = Action(
    name="UNFOLLOW_ROOM",
    similes=["UNFOLLOW_CHAT", "UNFOLLOW_CONVERSATION", "UNFOLLOW_CHANNEL", "STOP_FOLLOWING"],
    description="Stop following this room: answer only when named again.",
    validate=_when({FOLLOWED}),
    handler=_setter("UNFOLLOW_ROOM", None, "stopped following"),
    examples=[[{"name": "{{user1}}", "content": {"text": "you can stop following this one"}},
               {"name": "{{agentName}}", "content": {"text": "Okay.",
                                                      "actions": ["UNFOLLOW_ROOM"]}}]],
)  # fmt: skip
MUTE_ROOM = Action(
    name="MUTE_ROOM",
    similes=["MUTE_CHAT", "MUTE_CONVERSATION", "MUTE_CHANNEL", "SHUT_UP"],
    description="Mute this room: ignore every message in it unless the agent is named. Only "
    "when someone asks the agent to be quiet here.",
    validate=_when({None, FOLLOWED}),
    handler=_setter("MUTE_ROOM", MUTED, "muted"),
    examples=[[{"name": "{{user1}}", "content": {"text": "please be quiet in here"}},
               {"name": "{{agentName}}", "content": {"text": "", "actions": ["MUTE_ROOM"]}}]],
)  # fmt: skip
UNMUTE_ROOM = Action(
    name="UNMUTE_ROOM",
    similes=["UNMUTE_CHAT", "UNMUTE_CONVERSATION", "UNMUTE_CHANNEL"],
    description="Unmute this room: consider its messages again.",
    validate=_when({MUTED}),
    handler=_setter("UNMUTE_ROOM", None, "unmuted"),
    examples=[[{"name": "{{user1}}", "content": {"text": "you can talk here again"}},
               {"name": "{{agentName}}", "content": {"text": "Thanks!",
                                                      "actions": ["UNMUTE_ROOM"]}}]],
)  # fmt: skip
