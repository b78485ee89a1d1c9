"""RECENT_MESSAGES: the room's conversation, oldest first, ending with the message being handled.

The message being handled is included even when it is not stored yet (its run has not committed).
Speakers are named from the room's entities; action-result memories are left to ACTION_STATE.
The transcript keeps within the history budget (PROMPT_HISTORY_MAX_CHARS): the oldest messages
are left out first, so a prompt built from long messages still fits on the bus.
"""

from __future__ import annotations

from plugins.bootstrap.providers.format import (
    add_header,
    conversation_length,
    format_message,
    history_budget,
    room_names,
)
from shared.plugin import Memory, Provider, ProviderResult, Runtime, State


def _is_dialogue(memory: Memory) -> bool:
    return memory.content.get("type") != "action_result"


async def recent_dialogue(runtime: Runtime, message: Memory) -> list[Memory]:
    """The room's last messages (conversation length), oldest first, ending with `message`."""
    count = conversation_length(runtime)
    stored = await runtime.get_memories(room_id=message.room_id, count=count)
    history = sorted(
        (m for m in stored if m.id != message.id and _is_dialogue(m)),
        key=lambda m: m.created_at,
    )
    return [*history[-(count - 1) :], message] if count > 1 else [message]


async def get_recent_messages(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """Format the room's recent messages as a "Name: text" transcript."""
    history = await recent_dialogue(runtime, message)
    names = await room_names(runtime, message.room_id)
    lines = [format_message(m, names) for m in history]
    budget, used, keep = history_budget(runtime), 0, 0
    for line in reversed(lines):  # newest first; the latest message is always kept
        used += len(line) + 1
        if keep and used > budget:
            break
        keep += 1
    history, lines = history[len(history) - keep :], lines[len(lines) - keep :]
    transcript = "\n".join(lines)
    sender = names.get(message.entity_id) or str(message.content.get("name") or "User")
    latest = format_message(message, names)
    text = "\n\n".join(
        p
        for p in (
            add_header("# Conversation so far", transcript),
            add_header("# Latest message", latest),
        )
        if p
    )
    return ProviderResult(
        text=text,
        values={
            "recentMessages": transcript,
            "conversationLog": transcript,
            "senderName": sender,
            "receivedMessageHeader": latest,
        },
        data={"recentMessages": history},  # the Memory objects, as ElizaOS keeps them
    )


RECENT_MESSAGES = Provider(
    name="RECENT_MESSAGES",
    description="The recent conversation in this room, ending with the latest message.",
    position=100,
    get=get_recent_messages,
)
