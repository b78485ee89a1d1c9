"""Bootstrap providers: who the agent is (CHARACTER) and what was said (RECENT_MESSAGES)."""

from __future__ import annotations

from services.orchestrator.state import ProviderContext, ProviderResult, State


class CharacterProvider:
    """The agent's name, bio, topics, adjectives and style, for every prompt."""

    name = "CHARACTER"
    position = -100
    private = False
    dynamic = False

    async def get(self, ctx: ProviderContext, state: State) -> ProviderResult:
        """Describe the character in prompt text and values."""
        c = ctx.character
        lines = [f"# About {c.name}"]
        lines += c.bio
        if c.topics:
            lines.append(f"{c.name} is interested in: {', '.join(c.topics)}.")
        if c.adjectives:
            lines.append(f"{c.name} is {', '.join(c.adjectives)}.")
        style = c.style.all + c.style.chat
        if style:
            lines.append(f"\n# Style of {c.name}'s messages")
            lines += [f"- {s}" for s in style]
        return ProviderResult(
            text="\n".join(lines),
            values={"agentName": c.name, "bio": " ".join(c.bio)},
        )


class RecentMessagesProvider:
    """The room's recent conversation, oldest first, ending with the message being handled."""

    name = "RECENT_MESSAGES"
    position = 100
    private = False
    dynamic = False

    async def get(self, ctx: ProviderContext, state: State) -> ProviderResult:
        """Read the room's last messages and format them as a transcript."""
        history = await ctx.read_model.recent_messages(
            ctx.agent_id, ctx.room_id, max(ctx.recent_count - 1, 0)
        )
        history = [m for m in history if m.id != ctx.message.id] + [ctx.message]
        transcript = "\n".join(f"{m.author}: {m.text}" for m in history)
        text = f"# Conversation so far\n{transcript}\n\n# Latest message\n"
        text += f"{ctx.message.author}: {ctx.message.text}"
        return ProviderResult(
            text=text,
            values={"recentMessages": transcript, "senderName": ctx.message.author},
            data={"recentMessages": [str(m.id) for m in history]},
        )


DEFAULT_PROVIDERS = [CharacterProvider(), RecentMessagesProvider()]
