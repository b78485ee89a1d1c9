"""WORLD: the server the conversation is in, its rooms, and who is in this room."""

from __future__ import annotations

from plugins.bootstrap.providers.format import add_header, room_and_world, room_names
from plugins.bootstrap.providers.settings import world_data
from shared.plugin import Memory, Provider, ProviderResult, Runtime, State


async def get_world(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """The world's name, the current room (name, type), the world's rooms and the participants."""
    room, world = await room_and_world(runtime, message)
    if room is None and world is None:
        return ProviderResult(values={"worldInfo": ""}, data={"world": None})
    names = await room_names(runtime, message.room_id)
    participants = await runtime.get_participants_for_room(message.room_id)
    people = [f"{names.get(p, 'Unknown')} ({p})" for p in participants]
    rooms = await runtime.get_rooms(world.id) if world is not None else []
    world_name = (world.name if world else None) or "unknown world"
    room_name = (room.name if room else None) or "this room"
    lines = [f"World: {world_name}", f"Current room: {room_name} ({room.type if room else '?'})"]
    others = [f"{r.name or r.id} ({r.type})" for r in rooms if r.id != message.room_id]
    if others:
        lines.append(f"Other rooms: {', '.join(others)}")
    if people:
        lines.append(f"In this room: {', '.join(people)}")
    body = "\n".join(lines)
    return ProviderResult(
        text=add_header("# Where this conversation happens", body),
        values={"worldName": world_name, "roomName": room_name, "worldInfo": body},
        data={
            "world": world_data(world),
            "room": room.model_dump(mode="json") if room else None,
            "rooms": [r.model_dump(mode="json") for r in rooms],
            "participants": [str(p) for p in participants],
        },
    )


WORLD = Provider(
    name="WORLD",
    description="The server and room of this conversation, its other rooms and participants.",
    dynamic=True,
    get=get_world,
)
