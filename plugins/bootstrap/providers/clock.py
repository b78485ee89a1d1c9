"""TIME: the current date and time (UTC), so the model can reason about dates."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.plugin import Memory, Provider, ProviderResult, Runtime, State


async def get_time(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """Today's date and the time now, in UTC, human readable and as ISO 8601."""
    now = datetime.now(UTC)
    readable = now.strftime("%A, %B %-d, %Y at %H:%M:%S UTC")
    return ProviderResult(
        text=f"# Current time\nIt is now {readable}. Use this for anything that depends on dates "
        "or times.",
        values={"time": readable},
        data={"time": now.isoformat(), "timestamp": int(now.timestamp() * 1000)},
    )


TIME = Provider(
    name="TIME",
    description="The current date and time in UTC.",
    get=get_time,
)
