"""SETTINGS: the world's settings (world.metadata["settings"]), never showing secret values.

Each setting is `KEY: {"name", "description", "value", "required", "secret"}` (a bare value is
read as a setting with that value). Secret values are never shown: only whether they are set.
In a DM, the settings of the worlds the sender owns are shown (onboarding happens in DMs).
"""

from __future__ import annotations

from typing import Any

from plugins.bootstrap.providers.format import add_header, channel_type, room_and_world
from plugins.bootstrap.providers.roles import OWNER, role_of
from shared.plugin import REDACTED, Memory, Provider, ProviderResult, Runtime, State, World


def world_settings(world: World | None) -> dict[str, dict[str, Any]]:
    """The world's settings by key, each as a dict with at least `value`."""
    raw = world.metadata.get("settings") if world is not None else None
    if not isinstance(raw, dict):
        return {}
    return {str(k): dict(v) if isinstance(v, dict) else {"value": v} for k, v in raw.items()}


def is_set(setting: dict[str, Any]) -> bool:
    """Whether a setting has a value."""
    value = setting.get("value")
    return value is not None and value != ""


def public_view(key: str, setting: dict[str, Any]) -> dict[str, Any]:
    """What may be shown of a setting: everything but a secret's value."""
    secret = bool(setting.get("secret"))
    return {
        "key": key,
        "name": str(setting.get("name") or key),
        "description": str(setting.get("description") or ""),
        "required": bool(setting.get("required")),
        "secret": secret,
        "set": is_set(setting),
        "value": None if secret else setting.get("value"),
    }


def world_data(world: World | None) -> dict[str, Any] | None:
    """A world as JSON data for a provider's `data` (it travels in the state, to remote
    providers and actions too), with its secret settings' values hidden."""
    if world is None:
        return None
    data: dict[str, Any] = world.model_dump(mode="json")
    settings = world_settings(world)
    if settings:
        data["metadata"]["settings"] = {
            k: {**v, "value": REDACTED} if v.get("secret") and is_set(v) else v
            for k, v in settings.items()
        }
    return data


def format_setting(view: dict[str, Any]) -> str:
    """One setting line: key, name, status (the value unless secret), required, description."""
    if not view["set"]:
        status = "not set"
    elif view["secret"]:
        status = "set (secret, value hidden)"
    else:
        status = f"set to {view['value']!r}"
    line = f"- {view['key']} ({view['name']}): {status}"
    if view["required"]:
        line += " [required]"
    if view["description"]:
        line += f"\n  {view['description']}"
    return line


async def settings_world(runtime: Runtime, message: Memory) -> World | None:
    """The world whose settings apply: the room's; in a DM the first world the sender owns."""
    room, world = await room_and_world(runtime, message)
    if channel_type(message, room) not in ("DM", "VOICE_DM"):
        return world
    for candidate in await runtime.get_all_worlds():
        if role_of(candidate, message.entity_id) == OWNER and world_settings(candidate):
            return candidate
    return world


async def get_settings(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """The applicable world's settings, secrets hidden, with which required ones are missing."""
    world = await settings_world(runtime, message)
    views = [public_view(k, s) for k, s in sorted(world_settings(world).items())]
    body = "\n".join(format_setting(v) for v in views)
    missing = [v["key"] for v in views if v["required"] and not v["set"]]
    if missing:
        body += f"\nStill needed: {', '.join(missing)}"
    world_name = world.name if world is not None and world.name else "this server"
    text = add_header(f"# Settings of {world_name}", body)
    return ProviderResult(
        text=text,
        values={"settings": body, "missingSettings": ", ".join(missing)},
        data={"worldId": str(world.id) if world else None, "settings": views},
    )


SETTINGS = Provider(
    name="SETTINGS",
    description="The current settings of this server (secret values are never shown).",
    get=get_settings,
)
