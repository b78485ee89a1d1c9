"""UPDATE_SETTINGS: change the world's settings (world.metadata["settings"]); world OWNER only.

As in ElizaOS, only in a DM (settings, secrets among them, are not said in front of others), and
the world is the first one the sender owns that has settings (onboarding happens in DMs).
TEXT_SMALL reads `[{"key", "value"}]` from the message; only keys the world defines change.
Secret values are never repeated back.
"""

from __future__ import annotations

from typing import Any

from plugins.bootstrap.actions.common import ask, say, sender_name, transcript
from plugins.bootstrap.parsing import parse_json_block
from plugins.bootstrap.providers.format import channel_type, room_and_world
from plugins.bootstrap.providers.roles import OWNER, role_of
from plugins.bootstrap.providers.settings import (
    format_setting,
    public_view,
    settings_world,
    world_settings,
)
from shared.plugin import Action, ActionResult, HandlerCallback, Memory, Runtime, State


async def owns_settings(runtime: Runtime, message: Memory, state: State | None) -> bool:
    """Valid in a DM when the sender is OWNER of a world that has settings."""
    room, _ = await room_and_world(runtime, message)
    if channel_type(message, room) != "DM" or message.entity_id == runtime.agent_id:
        return False
    world = await settings_world(runtime, message)
    return bool(world_settings(world)) and role_of(world, message.entity_id) == OWNER


def _changes(raw: str, known: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """{key: value} for known keys from `[{"key","value"}]` or `{"KEY": value}` answers."""
    data = parse_json_block(raw)
    pairs: list[tuple[Any, Any]] = []
    if isinstance(data, list):
        pairs = [(d.get("key"), d.get("value")) for d in data if isinstance(d, dict)]
    elif isinstance(data, dict):
        pairs = list(data.items())
    by_upper = {k.upper(): k for k in known}
    return {by_upper[str(k).upper()]: v for k, v in pairs
            if str(k).upper() in by_upper and v is not None}  # fmt: skip


async def update_settings_handler(
    runtime: Runtime,
    message: Memory,
    state: State | None,
    options: dict[str, Any],
    callback: HandlerCallback | None,
    responses: list[Memory],
) -> ActionResult:
    """Read the new values with TEXT_SMALL and store them in the world's metadata."""
    world = await settings_world(runtime, message)
    if not await owns_settings(runtime, message, state) or world is None:
        refusal = "Only the owner of a server can change its settings, in a direct message."
        await say(callback, message, {"text": refusal, "actions": ["SETTING_UPDATE_REFUSED"]})
        return ActionResult(success=False, error="the sender does not own the world",
                            data={"actionName": "UPDATE_SETTINGS"})  # fmt: skip
    settings = world_settings(world)
    listing = "\n".join(format_setting(public_view(k, s)) for k, s in sorted(settings.items()))
    raw = await ask(runtime, "TEXT_SMALL", "UPDATE_SETTINGS_TEMPLATE", {
        "settings": listing,
        "recentMessages": await transcript(runtime, message, state),
        "senderName": await sender_name(runtime, message, state),
    })  # fmt: skip
    changes = _changes(raw, settings)
    if not changes:
        await say(callback, message, {"text": "I couldn't find a setting to change in that.",
                                      "actions": ["SETTING_UPDATE_FAILED"]})  # fmt: skip
        return ActionResult(success=False, error="no known setting in the model's answer",
                            data={"actionName": "UPDATE_SETTINGS", "answer": raw})  # fmt: skip
    for key, value in changes.items():
        settings[key] = {**settings[key], "value": value}
    metadata = {**world.metadata, "settings": settings}
    await runtime.update_world(world.model_copy(update={"metadata": metadata}))
    shown = [format_setting(public_view(k, settings[k])).split("\n")[0][2:] for k in changes]
    missing = [k for k, s in settings.items() if s.get("required") and s.get("value") in (None, "")]
    text = "Updated: " + "; ".join(shown) + "."
    if missing:
        text += f" Still needed: {', '.join(sorted(missing))}."
    await say(callback, message, {"text": text, "actions": ["SETTING_UPDATED"]})
    return ActionResult(
        text=text,
        values={"updatedSettings": sorted(changes)},
        data={
            "actionName": "UPDATE_SETTINGS",
            "worldId": str(world.id),
            "updated": sorted(changes),
        },
    )


UPDATE_SETTINGS = Action(
    name="UPDATE_SETTINGS",
    similes=["UPDATE_SETTING", "SAVE_SETTING", "SET_CONFIGURATION", "CONFIGURE"],
    description="Change this server's settings from what the owner says (owners only).",
    validate=owns_settings,
    handler=update_settings_handler,
    examples=[[{"name": "{{user1}}", "content": {"text": "set the welcome channel to #lobby"}},
               {"name": "{{agentName}}", "content": {"text": "Updated.",
                                                      "actions": ["UPDATE_SETTINGS"]}}]],
)  # fmt: skip
