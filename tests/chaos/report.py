"""The chaos table: one row per scenario (markdown, so docs/chaos.md can hold it as printed),
then each scenario's failures and notes."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from tests.chaos.scenarios import SCENARIOS, Result

COLUMNS = [
    "scenario", "sent", "answered", "silent", "duplicated", "lost", "in DLQ", "DLQ max s",
    "recovery s", "longest stall s", "max latency s", "rebuild = live", "result",
]  # fmt: skip


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def row(result: Result) -> list[str]:
    """The table cells of one result."""
    f, p = result.figures, result.projections
    verdict = "ok" if not result.failures else "FAIL"
    if f is None:
        return [result.name, *["-"] * (len(COLUMNS) - 2), verdict]
    sent = f"{f.sent}" + (f" + {f.refused_sent} bad" if f.refused_sent else "")
    dlq = f"{f.dead_letters}" + (f" ({f.valid_dead} valid)" if f.valid_dead else "")
    rebuilt = "-" if p is None else ("yes" if p.equal else "NO")
    return [
        result.name, sent, str(f.answered), str(f.silent), str(f.duplicated), str(f.lost), dlq,
        _s(f.dlq_max_s), _s(f.recovery_s), _s(f.longest_stall_s), _s(f.max_latency_s), rebuilt,
        verdict,
    ]  # fmt: skip


def table(results: list[Result]) -> str:
    """The markdown table of `results`."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row(r)) + " |" for r in results]
    return "\n".join(lines)


def details(results: list[Result]) -> str:
    """What each scenario did, its notes and its failures."""
    out = []
    for r in results:
        scenario = SCENARIOS[r.name]
        out.append(f"- **{r.name}** ({r.seconds:.0f} s): {scenario.doc}.")
        if (p := r.projections) is not None:
            same = "equal" if p.equal else "DIFFERENT"
            out.append(f"  - projections: {p.rows} rows from {p.events} events, rebuilt {same}")
        out += [f"  - {note}" for note in r.notes]
        out += [f"  - FAILED: {failure}" for failure in r.failures]
        if r.data_dir is not None:
            out.append(f"  - logs and data kept in {r.data_dir}")
    return "\n".join(out)


def machine() -> str:
    """The machine the run was on, and its load (the timings depend on both)."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    cpu = next((x.split(":", 1)[1].strip() for x in lines if x.startswith("model name")), "")
    system = f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    return f"{os.cpu_count()} CPU(s) {cpu}, load average {load} (1/5/15 min) at the end, {system}"
