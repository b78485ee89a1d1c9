"""`make bench-all`: elizabus next to ElizaOS, same workload, one after the other in one run.

Each round runs the ElizaOS harness once (`node bench.mjs`, messages phase, in
ELIZAOS_BENCH_DIR: a copy of the elizaos-bench harness with `npm install` done; it is not part of
this repo), then tests/benchmarks/pipeline.py once for each ORCHESTRATORS count, with the same
messages, rooms, users, rooms in flight and model latency (MODEL_DELAY_MS there, LATENCY_MS
here). Rounds alternate the stacks so that a change in the machine's load falls on both. It
prints each run, then a table of medians over the rounds with the floor the model's latency sets
(text-model calls per message x LATENCY_MS) and each stack's ratios to it and to ElizaOS.

Knobs (environment): ELIZAOS_BENCH_DIR (required), RUNS=1 (rounds), LATENCY_MS=300,
CONCURRENCY=20, ROOMS=20, ENTITIES=20, MESSAGES=100, WARMUP=10, CHANNEL=GROUP,
ORCHESTRATORS=1,2,3.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shared.records import ChannelType
from tests.benchmarks.pipeline import BenchConfig, one_run


@dataclass(frozen=True)
class Figures:
    """One run of either stack, in the terms both harnesses report."""

    throughput: float
    p50: float
    p95: float
    text_calls_per_msg: float
    cpu_ms_per_msg: float | None = None
    ideal_throughput: float | None = None
    """elizabus: the throughput with no overhead on this run's workload (IdealFigures)."""
    stages: str = ""
    """elizabus: where the latency went (Stages.describe)."""


def eliza_dir() -> Path:
    """The ElizaOS harness to run, from ELIZAOS_BENCH_DIR, checked."""
    value = os.environ.get("ELIZAOS_BENCH_DIR")
    if not value:
        raise SystemExit(
            "set ELIZAOS_BENCH_DIR to a copy of the elizaos-bench harness (bench.mjs) where "
            "`npm install` has run; the harness is not part of this repo"
        )
    path = Path(value)
    if not (path / "bench.mjs").is_file() or not (path / "node_modules").is_dir():
        raise SystemExit(f"{path} has no bench.mjs or no node_modules: copy the harness there "
                         "and run `npm install` in it")  # fmt: skip
    return path


def run_eliza(path: Path, config: BenchConfig) -> Figures:
    """One run of the ElizaOS harness's messages phase with this workload."""
    with tempfile.TemporaryDirectory(prefix="elizaos-bench-out-") as tmp:
        out = Path(tmp) / "results.json"
        env = os.environ | {
            "MODEL_DELAY_MS": f"{config.latency_ms:g}",
            "CONCURRENCY": str(config.concurrency),
            "ROOMS": str(config.rooms),
            "ENTITIES": str(config.entities),
            "MESSAGES": str(config.messages),
            "WARMUP": str(config.warmup),
            "CHANNEL": config.channel.value,
            "RUNS": "1",
            "BENCH_PHASES": "messages",
            "OUT": str(out),
        }
        done = subprocess.run(
            ["node", "bench.mjs"], cwd=path, env=env, stdout=subprocess.PIPE, text=True
        )
        if done.returncode != 0:
            sys.stdout.write(done.stdout[-4000:])
            raise SystemExit(f"the ElizaOS harness exited with {done.returncode}")
        run = json.loads(out.read_text())["runs"]["messages"][0]
    return Figures(
        throughput=run["msgPerSec"],
        p50=run["latencyMs"]["p50"],
        p95=run["latencyMs"]["p95"],
        text_calls_per_msg=run["textModelCallsPerMessageAggregate"],
    )


def run_elizabus(config: BenchConfig) -> Figures:
    """One run of tests/benchmarks/pipeline.py with this workload."""
    f = asyncio.run(one_run(config))
    ideal = f.ideal.throughput if f.ideal else None
    cpu = sum(f.cpu_ms_per_msg.values())
    stages = f.stages.describe() if f.stages else ""
    return Figures(f.throughput, f.p50, f.p95, f.text_calls_per_msg, cpu, ideal, stages)


def _describe(name: str, f: Figures, config: BenchConfig) -> str:
    floor = f.text_calls_per_msg * config.latency_ms
    line = (
        f"{name}: {f.throughput:.2f} msg/s  p50 {f.p50:.0f} ms  p95 {f.p95:.0f} ms  text-model "
        f"calls/msg {f.text_calls_per_msg:.2f}"
    )
    if floor > 0:
        line += (
            f"  floor {floor:.0f} ms  p50/floor {f.p50 / floor:.2f}  throughput/(rooms/floor) "
            f"{f.throughput / (config.in_flight / (floor / 1000)):.2f}"
        )
    if f.ideal_throughput:
        line += (
            f"  (with no overhead, computed: {f.ideal_throughput:.2f} msg/s, share "
            f"{f.ideal_throughput / (config.in_flight / (floor / 1000)):.2f})"
        )
    return line


def table(columns: dict[str, list[Figures]], config: BenchConfig) -> str:
    """Medians per stack as a Markdown table, with ratios to the floor and to ElizaOS."""
    keys = ("throughput", "p50", "p95", "text_calls_per_msg")
    med = {
        name: Figures(*(statistics.median(getattr(r, k) for r in runs) for k in keys))
        for name, runs in columns.items()
    }
    eliza = med["ElizaOS"]
    rows: list[tuple[str, list[str]]] = [
        ("throughput, msg/s", [f"{m.throughput:.2f}" for m in med.values()]),
        ("latency p50, ms", [f"{m.p50:.0f}" for m in med.values()]),
        ("latency p95, ms", [f"{m.p95:.0f}" for m in med.values()]),
        ("text-model calls per message", [f"{m.text_calls_per_msg:.2f}" for m in med.values()]),
    ]
    if config.latency_ms > 0:
        floors = {n: m.text_calls_per_msg * config.latency_ms for n, m in med.items()}
        rows += [
            ("floor (calls/msg x latency), ms", [f"{floors[n]:.0f}" for n in med]),
            ("p50 / floor", [f"{m.p50 / floors[n]:.2f}" for n, m in med.items()]),
            (
                "throughput / (rooms / floor)",
                [
                    f"{m.throughput * floors[n] / 1000 / config.in_flight:.2f}"
                    for n, m in med.items()
                ],
            ),
        ]
    ideal = [[r.ideal_throughput for r in runs if r.ideal_throughput] for runs in columns.values()]
    if any(ideal):
        rows.append(
            (
                "throughput with no overhead (computed), msg/s",
                [f"{statistics.median(v):.2f}" if v else "n/a" for v in ideal],
            )
        )
    rows += [
        (
            "throughput / ElizaOS's",
            [f"{m.throughput / eliza.throughput:.2f}" for m in med.values()],
        ),
        ("p50 / ElizaOS's", [f"{m.p50 / eliza.p50:.2f}" for m in med.values()]),
    ]
    runs = len(columns["ElizaOS"])
    what = f"median of {runs}" if runs > 1 else "1 run"
    head = "| | " + " | ".join(f"{n} ({what})" for n in med) + " |"
    lines = [head, "| --- |" + " --- |" * len(med)]
    lines += [f"| {label} | " + " | ".join(values) + " |" for label, values in rows]
    return "\n".join(lines)


def main() -> None:
    """Run the rounds and print each run, then the table."""
    env = os.environ
    path = eliza_dir()
    config = BenchConfig(
        messages=int(env.get("MESSAGES", "100")),
        warmup=int(env.get("WARMUP", "10")),
        rooms=int(env.get("ROOMS", "20")),
        entities=int(env.get("ENTITIES", "20")),
        concurrency=int(env.get("CONCURRENCY", "20")),
        latency_ms=float(env.get("LATENCY_MS", "300")),
        channel=ChannelType(env.get("CHANNEL", "GROUP").upper()),
    )
    counts = [int(n) for n in env.get("ORCHESTRATORS", "1,2,3").split(",")]
    rounds = int(env.get("RUNS", "1"))
    print(
        f"side by side: {config.messages} messages (+{config.warmup} warm-up), {config.rooms} "
        f"{config.channel.value} rooms, {config.entities} users, {config.in_flight} in flight, "
        f"{config.latency_ms:g} ms per text-model call; {rounds} round(s); ElizaOS from {path}",
        flush=True,
    )
    columns: dict[str, list[Figures]] = {"ElizaOS": []}
    for n in counts:
        columns[f"elizabus, {n} orchestrator{'s' if n > 1 else ''}"] = []
    for r in range(rounds):
        with open("/proc/loadavg") as load:
            print(f"round {r + 1}, load average {load.read().split()[0]}", flush=True)
        eliza = run_eliza(path, config)
        columns["ElizaOS"].append(eliza)
        print(_describe("  ElizaOS", eliza, config), flush=True)
        for n in counts:
            ours = run_elizabus(BenchConfig(**{**config.__dict__, "orchestrators": n}))
            name = f"elizabus, {n} orchestrator{'s' if n > 1 else ''}"
            columns[name].append(ours)
            cpu = f"  CPU {ours.cpu_ms_per_msg:.1f} ms/msg" if ours.cpu_ms_per_msg else ""
            print(_describe(f"  {name}", ours, config) + cpu, flush=True)
            print(f"    stages ms p50/p95/mean: {ours.stages}", flush=True)
    print()
    print(table(columns, config))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
