"""The bootstrap plugin's MESSAGE_RECEIVED handler: ElizaOS's default behaviour for a message.

Save the message, decide whether to answer (DMs always; a mention of the agent's name always;
muted rooms never unless mentioned; followed rooms always; otherwise the model decides), compose
the state, ask the model what to do with the message-handler template, parse its answer, run the
chosen actions (REPLY speaks through the callback) and the evaluators.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, cast

from plugins.bootstrap.evaluators.reflection import REFLECTIONS_TABLE
from plugins.bootstrap.parsing import parse_response, parse_should_respond
from plugins.bootstrap.providers.format import conversation_length
from plugins.bootstrap.templates import render, template_for
from shared.plugin import HandlerCallback, Memory, ParticipantState, Runtime

log = logging.getLogger(__name__)

ALWAYS_ANSWERED_ROOMS = frozenset({"DM", "VOICE_DM", "SELF", "API"})
"""Room types where every message is for the agent (ElizaOS answers them without asking)."""

SHOULD_RESPOND_PROVIDERS = ["CHARACTER", "RECENT_MESSAGES", "ANXIETY", "ENTITIES"]


@dataclass(frozen=True)
class ResponseDecision:
    """Whether the agent answers a message, and why (logged; shown when debugging a run)."""

    respond: bool
    reason: str


def mentions_agent(runtime: Runtime, text: str) -> bool:
    """Whether `text` names the agent (its name or username, as a whole word, any case)."""
    names = [n for n in (runtime.character.name, runtime.character.username) if n]
    return any(
        re.search(rf"(?<![\w@]){re.escape(n)}(?!\w)|@{re.escape(n)}\b", text, re.IGNORECASE)
        for n in names
    )


async def should_respond(
    runtime: Runtime, message: Memory, room_state: ParticipantState | None
) -> ResponseDecision:
    """ElizaOS's should-respond decision, cheapest checks first; the model only decides the
    group messages no rule settles."""
    mentioned = mentions_agent(runtime, message.text)
    if room_state is ParticipantState.MUTED:  # first, as ElizaOS: a muted DM stays quiet too
        if mentioned:
            return ResponseDecision(True, "the room is muted, but the agent was named")
        return ResponseDecision(False, "the room is muted")
    room_type = str(message.content.get("channelType") or "GROUP").upper()
    if room_type in ALWAYS_ANSWERED_ROOMS:
        return ResponseDecision(True, f"{room_type} rooms are always answered")
    if mentioned:
        return ResponseDecision(True, "the agent was named")
    if room_state is ParticipantState.FOLLOWED:
        return ResponseDecision(True, "the agent follows this room")
    state = await runtime.compose_state(message, SHOULD_RESPOND_PROVIDERS, only_include=True)
    template = template_for(runtime.character.templates, "SHOULD_RESPOND_TEMPLATE")
    raw = await runtime.use_model(
        "TEXT_SMALL", {"prompt": render(template, _values(runtime, state.values))}
    )
    answer = parse_should_respond(str(raw))
    why = answer.reason or answer.fallback or "no reason given"
    return ResponseDecision(answer.respond, f"the model chose {answer.decision}: {why}")


def warm_reads(runtime: Runtime, message: Memory) -> list[Awaitable[object]]:
    """The reads the providers and evaluators make of every message, started at once: a run
    answers repeated reads from the first, so the providers then find them done instead of
    querying one after the other."""
    reads: list[Awaitable[object]] = [
        runtime.get_memories(room_id=message.room_id, count=conversation_length(runtime)),
        runtime.get_memories(room_id=message.room_id, table_name=REFLECTIONS_TABLE, count=5),
        runtime.get_entities_for_room(message.room_id),
        runtime.get_room(message.room_id),
    ]
    if message.world_id is not None:
        reads.append(runtime.get_world(message.world_id))
    return reads


async def handle_message(runtime: Runtime, message: Memory, callback: HandlerCallback) -> None:
    """Answer one message as an ElizaOS agent does (see the module docstring)."""
    _, state_read, *_ = await asyncio.gather(
        runtime.create_memory(message),
        runtime.get_participant_user_state(message.room_id, runtime.agent_id),
        *warm_reads(runtime, message),
    )  # the other reads warm the run's read cache; only the room state is used here
    room_state = cast("ParticipantState | None", state_read)
    decision = await should_respond(runtime, message, room_state)
    log.debug("message %s: respond=%s (%s)", message.id, decision.respond, decision.reason)
    if not decision.respond:
        await runtime.evaluate(message, None, False, callback, [])
        return
    state = await runtime.compose_state(message, ["ACTIONS"])
    template = template_for(runtime.character.templates, "MESSAGE_HANDLER_TEMPLATE")
    params: dict[str, Any] = {"prompt": render(template, _values(runtime, state.values))}
    if runtime.character.system:
        params["system"] = runtime.character.system
    parsed = parse_response(str(await runtime.use_model("TEXT_LARGE", params)))
    if parsed.fallback:
        log.warning("message %s: %s", message.id, parsed.fallback)
    if parsed.providers:  # the model asked for more context (dynamic providers) for its actions
        state = await runtime.compose_state(message, parsed.providers)
    response = Memory(
        id=uuid.uuid4(),
        entity_id=runtime.agent_id,
        agent_id=runtime.agent_id,
        room_id=message.room_id,
        world_id=message.world_id,
        content={
            "thought": parsed.thought,
            "actions": parsed.actions,
            "providers": parsed.providers,
            "text": parsed.text,
            "source": message.content.get("source"),
            "inReplyTo": str(message.id),
        },
    )
    await runtime.process_actions(message, [response], state, callback)
    await runtime.evaluate(message, state, True, callback, [response])


async def on_message_received(params: dict[str, Any]) -> None:
    """The MESSAGE_RECEIVED event handler: params carry runtime, message and callback."""
    await handle_message(params["runtime"], params["message"], params["callback"])


def _values(runtime: Runtime, values: dict[str, Any]) -> dict[str, Any]:
    return {"agentName": runtime.character.name, **values}
