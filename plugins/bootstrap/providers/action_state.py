"""ACTION_STATE: what the actions earlier in this run did (state.data["actionResults"]).

The message handler (or a multi-step loop) puts the ActionResults of the actions it already ran
in `state.data["actionResults"]`, and optionally a plan in `state.data["actionPlan"]`; this
provider shows them so later steps can build on them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from plugins.bootstrap.providers.format import add_header, compact_json
from shared.plugin import ActionResult, Memory, Provider, ProviderResult, Runtime, State


def _as_dict(result: Any) -> dict[str, Any] | None:
    if isinstance(result, ActionResult):
        return dataclasses.asdict(result)
    if isinstance(result, dict):
        return dict(result)
    return None


def format_result(index: int, result: dict[str, Any]) -> str:
    """One action result as a prompt line: number, action, status, text, values, error."""
    data = result.get("data") if isinstance(result.get("data"), dict) else {}
    name = str((data or {}).get("actionName") or result.get("actionName") or "action")
    status = "succeeded" if result.get("success", True) else "failed"
    line = f"{index}. {name} {status}"
    if result.get("text"):
        line += f": {result['text']}"
    if result.get("error"):
        line += f" (error: {result['error']})"
    if result.get("values"):
        line += f"\n   values: {compact_json(result['values'])}"
    return line


async def get_action_state(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """The results of the actions already run for this message, and the plan if there is one."""
    raw = state.data.get("actionResults") or []
    results = [d for r in (raw if isinstance(raw, list) else []) if (d := _as_dict(r))]
    lines = "\n".join(format_result(i, r) for i, r in enumerate(results, start=1))
    plan = state.data.get("actionPlan")
    plan_text = compact_json(plan) if plan else ""
    text = "\n\n".join(
        p
        for p in (
            add_header("# Actions already taken in this run", lines),
            add_header("# Action plan", plan_text),
        )
        if p
    )
    return ProviderResult(
        text=text,
        values={
            "actionResults": lines,
            "hasActionResults": bool(results),
            "completedActions": sum(1 for r in results if r.get("success", True)),
            "failedActions": sum(1 for r in results if not r.get("success", True)),
        },
        data={"actionResults": results, "actionPlan": plan},
    )


ACTION_STATE = Provider(
    name="ACTION_STATE",
    description="Results of the actions already run for this message, and the action plan.",
    position=150,
    get=get_action_state,
)
