"""State composed from providers, as ElizaOS's composeState: values, data and text merged."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.orchestrator.readmodel import MessageView, ReadModel
from shared.character import Character

log = logging.getLogger(__name__)


@dataclass
class ProviderResult:
    """What one provider contributes: prompt text, template values, structured data."""

    text: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class State:
    """The composed state a prompt is rendered from."""

    values: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    text: str = ""


@dataclass(frozen=True)
class ProviderContext:
    """What a provider may look at: the agent, the message being handled, the read models."""

    agent_id: uuid.UUID
    character: Character
    message: MessageView
    room_id: uuid.UUID
    read_model: ReadModel
    recent_count: int = 32


class Provider(Protocol):
    """A source of context for prompts (ElizaOS's Provider)."""

    name: str
    position: int
    private: bool
    dynamic: bool

    async def get(self, ctx: ProviderContext, state: State) -> ProviderResult: ...


async def compose_state(
    ctx: ProviderContext, providers: list[Provider], timeout: float = 10.0
) -> State:
    """Run the public, non-dynamic providers concurrently and merge them in `position` order.

    A provider that fails or times out contributes nothing; the others still count.
    """
    chosen = sorted(
        (p for p in providers if not p.private and not p.dynamic), key=lambda p: p.position
    )
    empty = State()

    async def run(p: Provider) -> ProviderResult:
        try:
            return await asyncio.wait_for(p.get(ctx, empty), timeout)
        except Exception:
            log.exception("provider %s failed; its part of the state is left empty", p.name)
            return ProviderResult()

    results = await asyncio.gather(*(run(p) for p in chosen))
    state = State(data={"providers": {}})
    texts: list[str] = []
    for provider, result in zip(chosen, results, strict=True):
        state.values.update(result.values)
        state.data["providers"][provider.name] = {
            "text": result.text,
            "values": result.values,
            "data": result.data,
        }
        if result.text:
            texts.append(result.text)
    state.text = "\n\n".join(texts)
    state.values["providers"] = state.text
    return state
