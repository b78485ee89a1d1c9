"""`make bench`: what elizabus costs per message, in the shape of the ElizaOS harness.

The whole stack as `elizabus up` runs it: embedded nats-server (JetStream on disk) and Postgres
(durable defaults: fsync on), the orchestrator and one model worker each in its own process, the
scripted model double. A client publishes WARMUP untimed then MESSAGES timed messages, one after
another, over ROOMS GROUP rooms and ENTITIES users (every third mentions the agent),
waiting for each reply. Latency: from publishing `message.received` to the client receiving
`message.sent`.
Knobs (environment): MESSAGES=200 WARMUP=10 ROOMS=4 ENTITIES=8 RUNS=1, PROFILE=<file>.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from services.cli.client import BusClient
from shared.embedded import EmbeddedNats, EmbeddedPostgres
from shared.eventstore.migrations import migrate


@dataclass
class RunFigures:
    """One run's figures."""

    throughput: float
    p50: float
    p95: float
    p99: float
    mean: float
    events_per_msg: float
    model_calls_per_msg: float
    orchestrator_rss_mb: float
    worker_rss_mb: float
    cpu_ms_per_msg: dict[str, float]


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU time (user+system) of each named process; for Postgres, with its backends."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    out = {}
    for name, pid in pids.items():
        family = {pid} | {p for p, (ppid, _) in stats.items() if ppid == pid and name == "postgres"}
        out[name] = sum(stats[p][1] for p in family if p in stats)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _counts(db: asyncpg.Connection) -> tuple[int, int]:
    events = await db.fetchval("SELECT count(*) FROM events")
    logs = await db.fetchval("SELECT count(*) FROM logs WHERE type LIKE 'useModel:%'")
    return int(events), int(logs)


async def one_run(messages: int, warmup: int, rooms: int, entities: int) -> RunFigures:
    """Start a fresh stack in a temp dir, drive it, stop it, return its figures."""
    with tempfile.TemporaryDirectory(prefix="elizabus-bench-") as tmp:
        data = Path(tmp)
        async with EmbeddedNats(data) as nats_server, EmbeddedPostgres(data) as pg:
            await migrate(pg.url)
            env = os.environ | {
                "ELIZABUS_NATS_URL": nats_server.url,
                "ELIZABUS_DATABASE_URL": pg.url,
                "ELIZABUS_LOG_LEVEL": "WARNING",
                "ELIZABUS_MODEL_PROVIDER": "scripted",
            }
            cmd = [sys.executable, "-m", "services.cli.main"]
            worker = await asyncio.create_subprocess_exec(*cmd, "worker", "model", env=env)
            orch = await asyncio.create_subprocess_exec(*cmd, "orchestrator", env=env)
            client = await BusClient.connect(nats_server.url, source="bench")
            db = await asyncpg.connect(pg.url)
            pids = {
                "orchestrator": orch.pid,
                "model worker": worker.pid,
                "postgres": pg.pid or 0,
                "nats-server": nats_server.pid or 0,
                "bench client": os.getpid(),
            }
            try:
                await _wait_until_serving(client)
                latencies: list[float] = []
                before = None
                t0 = 0.0
                for i in range(warmup + messages):
                    if i == warmup:
                        spy = await _start_profiler(orch.pid)
                        before = await _counts(db)
                        cpu_before = _cpu_seconds(pids)
                        t0 = time.perf_counter()
                    text = f"message {i}: how is the weather in room {i % rooms}?"
                    if i % 3 == 0:
                        text = f"@Eliza {text}"
                    start = time.perf_counter()
                    await client.send(
                        text,
                        user=f"user-{i % entities}",
                        user_name=f"User {i % entities}",
                        room=f"room-{i % rooms}",
                        room_type="GROUP",  # type: ignore[arg-type]
                        server_id="bench-server",
                    )
                    if i >= warmup:
                        latencies.append((time.perf_counter() - start) * 1000)
                wall = time.perf_counter() - t0
                cpu_after = _cpu_seconds(pids)
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    await spy.wait()
                after = await _counts(db)
                assert before is not None
                figures = RunFigures(
                    throughput=messages / wall,
                    p50=_pct(latencies, 0.50),
                    p95=_pct(latencies, 0.95),
                    p99=_pct(latencies, 0.99),
                    mean=statistics.fmean(latencies),
                    events_per_msg=(after[0] - before[0]) / messages,
                    model_calls_per_msg=(after[1] - before[1]) / messages,
                    orchestrator_rss_mb=_peak_rss_mb(orch.pid),
                    worker_rss_mb=_peak_rss_mb(worker.pid),
                    cpu_ms_per_msg={
                        k: (cpu_after[k] - cpu_before[k]) * 1000 / messages for k in pids
                    },
                )
            finally:
                await db.close()
                await client.close()
                for proc in (orch, worker):
                    if proc.returncode is None:
                        proc.terminate()
                        await proc.wait()
    return figures


async def _start_profiler(pid: int) -> asyncio.subprocess.Process | None:
    """PROFILE=<file>: sample the orchestrator with py-spy (pip install py-spy) as raw stacks."""
    out = os.environ.get("PROFILE")
    if not out:
        return None
    return await asyncio.create_subprocess_exec(
        "py-spy", "record", "-r", "500", "--gil", "-f", "raw", "-o", out, "--pid", str(pid)
    )


async def _wait_until_serving(client: BusClient, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await client.send("ready?", user="bench-probe", room="bench-probe", timeout=5.0)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise


def main() -> None:
    """Run RUNS times and print each run and the medians."""
    messages = int(os.environ.get("MESSAGES", "200"))
    warmup = int(os.environ.get("WARMUP", "10"))
    rooms = int(os.environ.get("ROOMS", "4"))
    entities = int(os.environ.get("ENTITIES", "8"))
    runs = int(os.environ.get("RUNS", "1"))
    print(
        f"elizabus pipeline bench: {messages} messages (+{warmup} warm-up), {rooms} GROUP "
        f"rooms, {entities} users, sequential, scripted model, Postgres fsync on"
    )
    results = []
    for r in range(runs):
        f = asyncio.run(one_run(messages, warmup, rooms, entities))
        results.append(f)
        print(
            f"run {r + 1}: {f.throughput:.1f} msg/s  p50 {f.p50:.2f} ms  p95 {f.p95:.2f} ms  "
            f"p99 {f.p99:.2f} ms  mean {f.mean:.2f} ms  events/msg {f.events_per_msg:.1f}  "
            f"model calls/msg {f.model_calls_per_msg:.2f}  "
            f"peak RSS orchestrator {f.orchestrator_rss_mb:.0f} MB, "
            f"worker {f.worker_rss_mb:.0f} MB"
        )
        cpu = "  ".join(f"{k} {v:.2f}" for k, v in f.cpu_ms_per_msg.items())
        print(f"       CPU ms per message: {cpu}  (total {sum(f.cpu_ms_per_msg.values()):.2f})")
    if runs > 1:
        med = {
            k: statistics.median(getattr(r, k) for r in results)
            for k in ("throughput", "p50", "p95", "p99")
        }
        print(
            f"median of {runs}: {med['throughput']:.1f} msg/s  p50 {med['p50']:.2f} ms  "
            f"p95 {med['p95']:.2f} ms  p99 {med['p99']:.2f} ms"
        )


if __name__ == "__main__":
    main()
