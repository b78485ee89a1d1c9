"""The dice plugin: an action, a provider, an evaluator, a service, an event handler and settings.

Say "roll 2d6" and the agent rolls two six-sided dice. Rolls are seeded by the message id, so a
replayed message rolls the same numbers.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from shared.plugin import (
    Action,
    ActionResult,
    ConfigurationError,
    Evaluator,
    HandlerCallback,
    Memory,
    Plugin,
    Provider,
    ProviderResult,
    Runtime,
    Service,
    State,
)

DICE = re.compile(r"\b(\d{0,2})d(\d{1,3})\b", re.IGNORECASE)
DEFAULT_MAX_SIDES = 100


class DiceStats(Service):
    """Counts the rolls this agent made since it started (a plugin-owned service)."""

    service_type = "dice_stats"
    capability_description = "counts dice rolls"

    def __init__(self, runtime: Runtime | None = None) -> None:
        super().__init__(runtime)
        self.rolls = 0
        self.completed_actions = 0


def _stats(runtime: Runtime) -> DiceStats:
    service = runtime.get_service(DiceStats.service_type)
    if not isinstance(service, DiceStats):
        raise ConfigurationError("the dice plugin's service is not running: initialize the agent")
    return service


def roll(notation: str, seed: str, max_sides: int) -> tuple[list[int], int]:
    """Roll dice written as `NdS` (N defaults to 1); deterministic for a seed."""
    match = DICE.search(notation)
    if match is None:
        raise ValueError(f"no dice in {notation!r}: write them like 2d6")
    count, sides = int(match.group(1) or 1), int(match.group(2))
    if not 1 <= count <= 20 or not 2 <= sides <= max_sides:
        raise ValueError(f"{count}d{sides} is out of range (1-20 dice of 2-{max_sides} sides)")
    rng = random.Random(seed)
    faces = [rng.randint(1, sides) for _ in range(count)]
    return faces, sum(faces)


async def _mentions_dice(runtime: Runtime, message: Memory, state: State | None) -> bool:
    return DICE.search(message.text) is not None


async def _roll_handler(
    runtime: Runtime,
    message: Memory,
    state: State | None,
    options: dict[str, Any],
    callback: HandlerCallback | None,
    responses: list[Memory],
) -> ActionResult:
    max_sides = int(runtime.get_setting("DICE_MAX_SIDES") or DEFAULT_MAX_SIDES)
    faces, total = roll(message.text, str(message.id), max_sides)
    _stats(runtime).rolls += 1
    text = f"You rolled {' + '.join(map(str, faces))} = {total}."
    if callback is not None:
        await callback(
            {"text": text, "actions": ["ROLL_DICE"], "source": message.content.get("source")}
        )
    return ActionResult(text=text, values={"lastRoll": total}, data={"faces": faces})


async def _rules(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    max_sides = int(runtime.get_setting("DICE_MAX_SIDES") or DEFAULT_MAX_SIDES)
    return ProviderResult(
        text=f"# Dice\n{runtime.character.name} can roll dice written like 2d6 (ROLL_DICE), "
        f"up to 20 dice of up to {max_sides} sides.",
        values={"diceMaxSides": max_sides},
    )


async def _count_rolls(
    runtime: Runtime,
    message: Memory,
    state: State | None,
    options: dict[str, Any],
    callback: HandlerCallback | None,
    responses: list[Memory],
) -> ActionResult:
    return ActionResult(data={"rollsSoFar": _stats(runtime).rolls})


def _check_max_sides(value: Any) -> None:
    if value is not None and (not str(value).isdigit() or int(value) < 2):
        raise ConfigurationError(
            f"DICE_MAX_SIDES must be a whole number of at least 2, not {value!r}"
        )


def dice_plugin() -> Plugin:
    """A fresh dice plugin (load it as `plugins.dice:dice_plugin` in a character's `plugins`)."""
    bound: dict[str, Runtime] = {}

    async def init(config: Mapping[str, Any], runtime: Runtime) -> None:
        _check_max_sides(config.get("DICE_MAX_SIDES") or runtime.get_setting("DICE_MAX_SIDES"))
        bound["runtime"] = runtime

    async def on_action_completed(params: dict[str, Any]) -> None:
        content = params.get("content") or {}
        if content.get("actions") == ["ROLL_DICE"] and content.get("actionStatus") == "completed":
            _stats(bound["runtime"]).completed_actions += 1

    return Plugin(
        name="dice",
        description="Rolls dice written like 2d6.",
        init=init,
        actions=[
            Action(
                name="ROLL_DICE",
                description="Roll dice written like 2d6 and say the result.",
                similes=["THROW_DICE", "ROLL"],
                handler=_roll_handler,
                validate=_mentions_dice,
                examples=[[{"name": "{{user1}}", "content": {"text": "roll 2d6"}}]],
            )
        ],
        providers=[
            Provider(
                name="DICE_RULES", get=_rules, position=50, description="How the agent rolls dice."
            )
        ],
        evaluators=[
            Evaluator(
                name="DICE_STATS",
                handler=_count_rolls,
                validate=_mentions_dice,
                description="Reports how many rolls were made.",
            )
        ],
        services=[DiceStats],
        events={"ACTION_COMPLETED": [on_action_completed]},
    )
