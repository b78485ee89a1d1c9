"""CHARACTER: who the agent is (name, bio, system, topics, adjectives, style, examples)."""

from __future__ import annotations

from typing import Any

from plugins.bootstrap.providers.format import add_header
from shared.plugin import Character, Memory, Provider, ProviderResult, Runtime, State

MAX_MESSAGE_EXAMPLES = 5
MAX_POST_EXAMPLES = 5


def _example_line(turn: Any, agent: str) -> str | None:
    if not isinstance(turn, dict):
        return None
    speaker = str(turn.get("name") or turn.get("user") or "User")
    speaker = speaker.replace("{{agentName}}", agent).replace("{{user1}}", "User")
    content = turn.get("content") if isinstance(turn.get("content"), dict) else {}
    text = str((content or {}).get("text") or "").strip()
    return f"{speaker}: {text}" if text else None


def format_message_examples(character: Character) -> str:
    """The character's example conversations as transcripts (at most five)."""
    blocks = []
    for conversation in character.message_examples[:MAX_MESSAGE_EXAMPLES]:
        turns = conversation if isinstance(conversation, list) else []
        lines = [ln for t in turns if (ln := _example_line(t, character.name))]
        if lines:
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


async def get_character(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """Describe the character in prompt text and values (agentName, bio, system, ...)."""
    c = runtime.character
    bio = " ".join(c.bio)
    topics = f"{c.name} is interested in {', '.join(c.topics)}." if c.topics else ""
    adjectives = f"{c.name} is {', '.join(c.adjectives)}." if c.adjectives else ""
    chat_style = "\n".join(f"- {s}" for s in c.style.all + c.style.chat)
    post_style = "\n".join(f"- {s}" for s in c.style.all + c.style.post)
    examples = format_message_examples(c)
    posts = "\n".join(f"- {p}" for p in c.post_examples[:MAX_POST_EXAMPLES])
    parts = [
        add_header(f"# About {c.name}", "\n".join(c.bio)),
        add_header(f"# {c.name}'s instructions", c.system or ""),
        topics,
        adjectives,
        add_header(f"# How {c.name} writes messages", chat_style),
        add_header(f"# Example conversations of {c.name}", examples),
    ]
    return ProviderResult(
        text="\n\n".join(p for p in parts if p),
        values={
            "agentName": c.name,
            "bio": bio,
            "system": c.system or "",
            "topics": topics,
            "adjectives": adjectives,
            "messageDirections": chat_style,
            "postDirections": post_style,
            "characterMessageExamples": examples,
            "characterPostExamples": posts,
        },
        data={"name": c.name, "username": c.username},
    )


CHARACTER = Provider(
    name="CHARACTER",
    description="The agent's character: name, biography, interests, style and examples.",
    get=get_character,
)
