"""ANXIETY: guidance that keeps the agent from over-talking, by channel type (DM, group, voice).

Three lines are chosen per message, deterministically from the message id, so a replayed message
gets the same prompt.
"""

from __future__ import annotations

import hashlib

from plugins.bootstrap.providers.format import channel_type
from shared.plugin import Memory, Provider, ProviderResult, Runtime, State

GROUP_GUIDANCE = [
    "In a group, most messages are not for you. When in doubt, choose IGNORE.",
    "Say less than you want to. One short message beats a long one nobody asked for.",
    "Do not answer a plain 'ok', 'thanks' or 'yes': the exchange is over; choose IGNORE.",
    "If you and another bot are trading short acknowledgements, stop now and choose IGNORE.",
    "Do not repeat what you or someone else already said.",
    "Only join in when you are named, asked, or have something that truly helps.",
    "Skip caveats and long explanations; if you cannot be brief and sure, stay quiet.",
]
DM_GUIDANCE = [
    "This is a direct conversation: answer, but keep it focused on what was asked.",
    "Be warm and natural, without over-explaining.",
    "Stay on topic; no tangents unless the person goes there first.",
    "Short, clear answers work best in private chats.",
    "Ask a question back only when you need it to help.",
]
VOICE_GUIDANCE = [
    "This is spoken aloud: use short sentences.",
    "Keep voice answers to a sentence or two.",
    "No lists, links or formatting: they do not work in speech.",
    "Get to the point immediately.",
]
DIRECT_GUIDANCE = [
    "Keep answers relevant and concise.",
    "Be helpful without padding the answer.",
    "Do not repeat yourself.",
    "Prefer one clear answer to several hedged ones.",
]
PICK = 3


def guidance_for(channel: str) -> list[str]:
    """The guidance lines for a channel type."""
    if channel in ("VOICE_DM", "VOICE_GROUP"):
        return VOICE_GUIDANCE
    if channel == "GROUP":
        return GROUP_GUIDANCE
    if channel == "DM":
        return DM_GUIDANCE
    return DIRECT_GUIDANCE


def _pick(lines: list[str], seed: str) -> list[str]:
    ranked = sorted(lines, key=lambda ln: hashlib.blake2b(f"{seed}:{ln}".encode()).digest())
    return ranked[:PICK]


async def get_anxiety(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """Three lines of restraint guidance suited to the message's channel type."""
    channel = channel_type(message)
    chosen = _pick(guidance_for(channel), str(message.id))
    text = "# Restraint: you tend to say too much\n" + "\n".join(f"- {c}" for c in chosen)
    return ProviderResult(text=text, values={"anxiety": text}, data={"anxiety": chosen})


ANXIETY = Provider(
    name="ANXIETY",
    description="Guidance on when to stay quiet and how long to talk, by channel type.",
    get=get_anxiety,
)
