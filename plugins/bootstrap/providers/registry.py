"""What the agent has registered: ACTIONS (that apply to this message), PROVIDERS (dynamic ones
the model may ask for), EVALUATORS (private) and CAPABILITIES (running services)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from plugins.bootstrap.providers.format import add_header
from shared.plugin import Action, Memory, Provider, ProviderResult, Runtime, State

log = logging.getLogger(__name__)

MAX_EXAMPLES_PER_ITEM = 2


async def _applies(runtime: Runtime, action: Action, message: Memory, state: State) -> bool:
    try:
        return bool(await action.validate(runtime, message, state))
    except Exception:
        log.exception("validate of action %s raised: left out of ACTIONS", action.name)
        return False


def format_examples(name: str, examples: list[Any]) -> str:
    """An action's or evaluator's examples as short transcripts (at most two)."""
    blocks = []
    for example in examples[:MAX_EXAMPLES_PER_ITEM]:
        turns = example if isinstance(example, list) else [example]
        lines = []
        for turn in turns:
            if not isinstance(turn, dict):
                continue
            speaker = str(turn.get("name") or turn.get("user") or "User")
            content = turn.get("content") if isinstance(turn.get("content"), dict) else {}
            text = str((content or {}).get("text") or "")
            acts = (content or {}).get("actions")
            suffix = f" ({', '.join(map(str, acts))})" if isinstance(acts, list) and acts else ""
            if text or suffix:
                lines.append(f"{speaker}: {text}{suffix}")
        if lines:
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


async def get_actions(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """The registered actions whose `validate` accepts this message, with descriptions."""
    actions = list(runtime.actions)
    verdicts = await asyncio.gather(*(_applies(runtime, a, message, state) for a in actions))
    valid = [a for a, ok in zip(actions, verdicts, strict=True) if ok]
    names = ", ".join(a.name for a in valid)
    described = "\n".join(f"- {a.name}: {a.description}" for a in valid)
    examples = "\n\n".join(e for a in valid if (e := format_examples(a.name, a.examples)))
    text = "\n\n".join(
        p
        for p in (
            add_header("# Available actions", described),
            add_header("# Action examples", examples),
        )
        if p
    )
    return ProviderResult(
        text=text,
        values={
            "actionNames": f"Possible response actions: {names}" if names else "",
            "actionsWithDescriptions": described,
            "actionExamples": examples,
        },
        data={"actionsData": [{"name": a.name, "description": a.description} for a in valid]},
    )


async def get_providers(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """The dynamic providers the model may name in <providers> to get more context."""
    dynamic = [p for p in runtime.providers if p.dynamic and not p.private]
    described = "\n".join(f"- {p.name}: {p.description}" for p in dynamic)
    text = add_header(
        "# Extra context on request\nName any of these in <providers> when they would help:",
        described,
    )
    return ProviderResult(
        text=text,
        values={"providersWithDescriptions": described},
        data={
            "dynamicProviders": [{"name": p.name, "description": p.description} for p in dynamic]
        },
    )


async def get_evaluators(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """The registered evaluators: names, descriptions and examples."""
    evaluators = list(runtime.evaluators)
    names = ", ".join(e.name for e in evaluators)
    described = "\n".join(f"- {e.name}: {e.description}" for e in evaluators)
    examples = "\n\n".join(x for e in evaluators if (x := format_examples(e.name, e.examples)))
    text = "\n\n".join(
        p
        for p in (
            add_header("# Evaluators", described),
            add_header("# Evaluator examples", examples),
        )
        if p
    )
    return ProviderResult(
        text=text,
        values={"evaluatorNames": names, "evaluators": described, "evaluatorExamples": examples},
        data={
            "evaluatorsData": [{"name": e.name, "description": e.description} for e in evaluators]
        },
    )


async def get_capabilities(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """What the agent's running services can do (their capability descriptions)."""
    services = runtime.get_all_services()
    lines = [
        f"- {kind}: {desc}"
        for kind, service in sorted(services.items())
        if (desc := type(service).capability_description or "")
    ]
    text = add_header(f"# {runtime.character.name}'s capabilities", "\n".join(lines))
    return ProviderResult(
        text=text,
        values={"capabilities": text},
        data={"services": {k: type(s).capability_description for k, s in services.items()}},
    )


ACTIONS = Provider(
    name="ACTIONS",
    description="The actions the agent can take in answer to this message.",
    position=-1,
    get=get_actions,
)
PROVIDERS = Provider(
    name="PROVIDERS",
    description="The extra context providers the agent can ask for.",
    get=get_providers,
)
EVALUATORS = Provider(
    name="EVALUATORS",
    description="The evaluators that learn from conversations after a response.",
    private=True,
    get=get_evaluators,
)
CAPABILITIES = Provider(
    name="CAPABILITIES",
    description="What the agent's running services can do.",
    get=get_capabilities,
)

__all__ = ["ACTIONS", "CAPABILITIES", "EVALUATORS", "PROVIDERS"]
