"""The bootstrap plugin's event handlers besides MESSAGE_RECEIVED, as ElizaOS 1.x's bootstrap has
them: voice messages are handled as messages, reactions stored, a world joined synced, an entity
joining connected and one leaving marked inactive, a sent message logged."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from plugins.bootstrap.message_handler import on_message_received
from shared.plugin import (
    EntitySpec,
    EventHandler,
    EventType,
    RoomSpec,
    WorldSpec,
    create_unique_uuid,
    now_ms,
)

log = logging.getLogger(__name__)

__all__ = ["BOOTSTRAP_EVENTS"]


async def on_reaction_received(params: dict[str, Any]) -> None:
    """REACTION_RECEIVED: store the reaction as a memory of the room (a repeat is a no-op)."""
    try:
        await params["runtime"].create_memory(params["message"], "messages")
    except Exception:
        log.exception("bootstrap: storing a reaction failed")


async def on_message_sent(params: dict[str, Any]) -> None:
    """MESSAGE_SENT: logged, as ElizaOS's bootstrap does."""
    message = params.get("message")
    text = getattr(message, "content", {}).get("text") if message is not None else None
    log.debug("bootstrap: message sent: %s", text)


def _spec(kind: type[Any], value: Any) -> Any:
    """A bulk-connection spec from a spec or an ElizaOS-shaped mapping (camelCase keys too)."""
    if isinstance(value, kind) or not isinstance(value, Mapping):
        return value
    aliases = {"channelId": "channel_id", "serverId": "server_id", "messageServerId": "server_id"}
    fields = set(kind.__dataclass_fields__)
    named = {str(aliases.get(str(k), str(k))): v for k, v in value.items()}
    return kind(**{k: v for k, v in named.items() if k in fields})


async def on_world_joined(params: dict[str, Any]) -> None:
    """WORLD_JOINED / WORLD_CONNECTED: connect the world's entities and rooms in bulk
    (ElizaOS's `handleServerSync`: `ensureConnections`), then call `onComplete`."""
    runtime = params["runtime"]
    try:
        await runtime.ensure_connections(
            [_spec(EntitySpec, e) for e in params.get("entities") or []],
            [_spec(RoomSpec, r) for r in params.get("rooms") or []],
            params.get("source") or "unknown",
            _spec(WorldSpec, params["world"]),
        )
    except Exception:
        log.exception("bootstrap: syncing the world failed")
        return
    done = params.get("onComplete")
    if callable(done):
        done()


async def on_entity_joined(params: dict[str, Any]) -> None:
    """ENTITY_JOINED: connect the entity to the room of `roomId` (a platform channel id) in the
    world of `worldId` (a platform server id), as ElizaOS's `syncSingleUser`; needs both ids and
    `metadata.type` (the room type)."""
    runtime = params["runtime"]
    metadata = params.get("metadata") or {}
    channel, server, kind = params.get("roomId"), params.get("worldId"), metadata.get("type")
    if not channel or not server or not kind:
        log.error("bootstrap: ENTITY_JOINED needs worldId, roomId and metadata.type: ignored")
        return
    try:
        entity_id = params["entityId"]
        entity = await runtime.get_entity_by_id(entity_id)
        known = entity.metadata if entity is not None else {}
        await runtime.ensure_connection(
            entity_id=entity_id,
            room_id=create_unique_uuid(runtime.agent_id, str(channel)),
            world_id=create_unique_uuid(runtime.agent_id, str(server)),
            name=known.get("name") or known.get("username") or f"User{entity_id}",
            source=params.get("source"),
            type=str(kind),
            channel_id=str(channel),
            server_id=str(server),
        )
    except Exception:
        log.exception("bootstrap: connecting a joining entity failed")


async def on_entity_left(params: dict[str, Any]) -> None:
    """ENTITY_LEFT: mark the entity inactive (`metadata.status = "INACTIVE"`, `leftAt`)."""
    runtime = params["runtime"]
    try:
        entity = await runtime.get_entity_by_id(params["entityId"])
        if entity is None:
            return
        entity.metadata = {**entity.metadata, "status": "INACTIVE", "leftAt": now_ms()}
        await runtime.update_entity(entity)
    except Exception:
        log.exception("bootstrap: marking a leaving entity inactive failed")


BOOTSTRAP_EVENTS: dict[str, list[EventHandler]] = {
    EventType.MESSAGE_RECEIVED: [on_message_received],
    EventType.VOICE_MESSAGE_RECEIVED: [on_message_received],
    EventType.REACTION_RECEIVED: [on_reaction_received],
    EventType.MESSAGE_SENT: [on_message_sent],
    EventType.WORLD_JOINED: [on_world_joined],
    EventType.WORLD_CONNECTED: [on_world_joined],
    EventType.ENTITY_JOINED: [on_entity_joined],
    EventType.ENTITY_LEFT: [on_entity_left],
}
"""The bootstrap plugin's `events`, as ElizaOS 1.x's bootstrap registers them."""
