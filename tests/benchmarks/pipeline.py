"""`make bench`: what elizabus costs per message, in the shape of the ElizaOS harness.

The whole stack as `elizabus up` runs it: embedded nats-server (JetStream on disk) and Postgres
(durable defaults: fsync on), ORCHESTRATORS orchestrator processes and one model worker, each in
its own process, the scripted model double. A client publishes WARMUP untimed messages one after
another, then MESSAGES timed messages over ROOMS rooms and ENTITIES users (every third mentions
the agent). Latency: from publishing `message.received` to the client receiving `message.sent`.

Sequential (CONCURRENCY=1, the default): each timed message waits for its reply before the next.
Concurrent (CONCURRENCY=n): n lanes, lane k sends only to room k, one message in flight per
lane, each lane taking the next message number when its reply came; as the ElizaOS harness's
CONCURRENCY (`bench.mjs`), so at most one message per room is in flight.

LATENCY_MS sets the model worker's ELIZABUS_SCRIPTED_LATENCY_MS: every text-generation call
answers after that long (embeddings stay instant), as a real LLM would. The run then also prints
the floor that latency sets, text-model calls per message x LATENCY_MS, and how close the run
came to it: p50 / floor, and throughput / (rooms in flight / floor).

In those modes it also prints where the latency went (STAGES) and, with APPEND_TIMES=1, the
append transactions of the timed window from Postgres's commit times: their rate, duration and
hold of the event store's append lock.

Knobs (environment): MESSAGES=200 WARMUP=10 ROOMS=4 ENTITIES=8 RUNS=1 CONCURRENCY=1
ORCHESTRATORS=1 LATENCY_MS=0 CHANNEL=GROUP (or DM) APPEND_TIMES=0, IDLE_SECONDS=0 (> 0: before
the timed messages, print each process's CPU over that long idle), PROFILE=<file> (py-spy raw
stacks of the orchestrator; of orchestrator n in <file>.<n> when there are several).
"""

from __future__ import annotations

import asyncio
import heapq
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext
from pydantic_core import from_json

from services.cli.client import BusClient
from shared import subjects
from shared.embedded import EmbeddedNats, EmbeddedPostgres
from shared.eventstore.migrations import migrate
from shared.eventstore.postgres import init_connection
from shared.ids import create_unique_uuid
from shared.partitions import DEFAULT_PARTITIONS, partition_of
from shared.records import ChannelType
from shared.settings import Settings

REPLY_TIMEOUT_SECONDS = 120.0
"""How long a timed message may wait for its reply before the run fails."""

STOP_TIMEOUT_SECONDS = 10.0
"""How long a service process may take to stop once terminated before it is killed."""


@dataclass(frozen=True)
class BenchConfig:
    """One benchmark's workload and stack, from the environment (see the module docstring)."""

    messages: int = 200
    warmup: int = 10
    rooms: int = 4
    entities: int = 8
    runs: int = 1
    concurrency: int = 1
    orchestrators: int = 1
    latency_ms: float = 0.0
    channel: ChannelType = ChannelType.GROUP
    append_times: bool = False
    idle_seconds: float = 0.0

    @classmethod
    def from_env(cls) -> BenchConfig:
        """The knobs as set in the environment, defaults otherwise."""
        env = os.environ
        config = cls(
            messages=int(env.get("MESSAGES", "200")),
            warmup=int(env.get("WARMUP", "10")),
            rooms=int(env.get("ROOMS", "4")),
            entities=int(env.get("ENTITIES", "8")),
            runs=int(env.get("RUNS", "1")),
            concurrency=int(env.get("CONCURRENCY", "1")),
            orchestrators=int(env.get("ORCHESTRATORS", "1")),
            latency_ms=float(env.get("LATENCY_MS", "0")),
            channel=ChannelType(env.get("CHANNEL", "GROUP").upper()),
            append_times=env.get("APPEND_TIMES", "0") == "1",
            idle_seconds=float(env.get("IDLE_SECONDS", "0")),
        )
        if config.concurrency < 1 or not 1 <= config.orchestrators <= 8:
            raise SystemExit("CONCURRENCY must be at least 1 and ORCHESTRATORS within 1..8")
        return config

    @property
    def in_flight(self) -> int:
        """Messages in flight at once: one per lane, at most one per room."""
        return min(self.concurrency, self.rooms)

    def describe(self) -> str:
        """The header line of the report."""
        mode = "sequential" if self.in_flight == 1 else f"{self.in_flight} rooms in flight"
        orchestrators = "" if self.orchestrators == 1 else f", {self.orchestrators} orchestrators"
        latency = (
            f", scripted model {self.latency_ms:g} ms per text-model call"
            if self.latency_ms
            else ", scripted model"
        )
        return (
            f"elizabus pipeline bench: {self.messages} messages (+{self.warmup} warm-up), "
            f"{self.rooms} {self.channel.value} rooms, {self.entities} users, {mode}"
            f"{orchestrators}{latency}, Postgres fsync on"
        )


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
    text_calls_per_msg: float
    orchestrator_rss_mb: list[float]
    worker_rss_mb: float
    cpu_ms_per_msg: dict[str, float]
    stages: Stages | None = None
    lanes_busy: float = 1.0
    """Sum of latencies / (lanes x wall time): the share of the time a lane had a message out."""
    appends: AppendFigures | None = None
    ideal: IdealFigures | None = None


@dataclass(frozen=True)
class FloorFigures:
    """How close a run came to the floor the model's latency sets."""

    floor_ms: float
    p50_over_floor: float
    throughput_share: float
    """throughput / (rooms in flight / floor): 1.0 is every lane always waiting on the model."""

    @classmethod
    def of(cls, f: RunFigures, config: BenchConfig) -> FloorFigures | None:
        """The floor figures, or None without a model latency (no floor)."""
        floor_ms = f.text_calls_per_msg * config.latency_ms
        if floor_ms <= 0:
            return None
        ceiling = config.in_flight / (floor_ms / 1000)
        return cls(floor_ms, f.p50 / floor_ms, f.throughput / ceiling)


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


async def _counts(db: asyncpg.Connection) -> tuple[int, int, int]:
    """Events in the log (its head), model calls and text-model calls (embeddings left out)."""
    events = await db.fetchval("SELECT coalesce(max(position), 0) FROM events")
    row = await db.fetchrow(
        "SELECT count(*) AS models, count(*) FILTER (WHERE type <> 'useModel:TEXT_EMBEDDING') "
        "AS texts FROM logs WHERE type LIKE 'useModel:%'"
    )
    assert row is not None
    return int(events), int(row["models"]), int(row["texts"])


@dataclass(frozen=True)
class SentMessage:
    """One timed message: its id, and when it was published and its reply came (epoch ms)."""

    message_id: uuid.UUID
    number: int
    room: int
    published_ms: float
    replied_ms: float


STAGES = (
    ("publish->routed", "the router's copy to the message's partition, seen on the bus"),
    ("routed->run.started", "the partition's delivery to an orchestrator, a run slot"),
    ("run", "run.started -> run.ended: the handler"),
    ("text-model calls", "of the run: its text-model calls' recorded durations"),
    ("run.ended->append", "to the append's transaction start (`recorded_at`)"),
    ("append->reply", "lock, statements, commit, the reply's publish and delivery"),
)
"""Where a message's latency goes, from the client's clock and the run's recorded times."""


@dataclass
class Stages:
    """Per-message durations (ms) of each of STAGES."""

    values: dict[str, list[float]] = field(default_factory=lambda: {n: [] for n, _ in STAGES})
    text_calls: dict[int, int] = field(default_factory=dict)
    """Text-model calls of each timed message, by message number."""

    def describe(self) -> str:
        """Median, p95 and mean of each stage (that has values)."""
        parts = []
        for name, values in self.values.items():
            if values:
                p50, p95, mean = _pct(values, 0.5), _pct(values, 0.95), statistics.fmean(values)
                parts.append(f"{name} {p50:.0f}/{p95:.0f}/{mean:.0f}")
        return "  ".join(parts)


async def _stages(
    db: asyncpg.Connection, after: int, sent: list[SentMessage], routed: dict[str, float]
) -> Stages | None:
    """The stages of the timed messages, from the runs recorded after position `after` and the
    times their partition copies were seen (`routed`, by message id)."""
    rows = await db.fetch(
        "SELECT type, data, recorded_at FROM events WHERE position > $1 AND type = any($2::text[])",
        after,
        ["run.started", "run.ended", "model.used"],
    )
    started: dict[str, dict[str, Any]] = {}
    ended: dict[str, tuple[dict[str, Any], float]] = {}
    model_ms: dict[str, float] = {}
    model_calls: Counter[str] = Counter()
    for row in rows:
        data = row["data"]
        if row["type"] == "run.started":
            started[data["message_id"]] = data
        elif row["type"] == "run.ended":
            ended[data["run_id"]] = (data, row["recorded_at"].timestamp() * 1000)
        elif data["model_type"] != "TEXT_EMBEDDING" and data.get("run_id"):
            model_ms[data["run_id"]] = model_ms.get(data["run_id"], 0.0) + data["duration_ms"]
            model_calls[data["run_id"]] += 1
    if not started:
        return None
    agent_id = uuid.UUID(next(iter(started.values()))["agent_id"])
    stages = Stages()
    for m in sent:
        run = started.get(str(create_unique_uuid(agent_id, str(m.message_id))))
        end, appended = ended.get(run["run_id"], (None, 0.0)) if run else (None, 0.0)
        routed_ms = routed.get(str(m.message_id))
        if run is None or end is None or routed_ms is None:
            continue
        for name, value in (
            ("publish->routed", routed_ms - m.published_ms),
            ("routed->run.started", run["started_at"] - routed_ms),
            ("run", end["ended_at"] - run["started_at"]),
            ("text-model calls", model_ms.get(run["run_id"], 0.0)),
            ("run.ended->append", appended - end["ended_at"]),
            ("append->reply", m.replied_ms - appended),
        ):
            stages.values[name].append(value)
        stages.text_calls[m.number] = model_calls[run["run_id"]]
    return stages if stages.values["run"] else None


@dataclass(frozen=True)
class IdealFigures:
    """What a stack with no overhead at all would measure on this run's workload: every message
    takes exactly its text-model calls x the latency, lanes take message numbers as the driver
    does, and a message waits while another room of its partition has one running (the
    orchestrators' partition map, ELIZABUS_PARTITIONS). Computed, not measured: it shows what
    the workload itself allows (few messages per lane leave lanes idle at the end; rooms that
    share a partition run one at a time)."""

    throughput: float
    p50: float
    shared_rooms: int

    @classmethod
    def of(cls, config: BenchConfig, text_calls: dict[int, int]) -> IdealFigures | None:
        """Replay the run's message numbers and call counts on lanes and partitions."""
        numbers = range(config.warmup, config.warmup + config.messages)
        if config.latency_ms <= 0 or any(n not in text_calls for n in numbers):
            return None
        partitions = Settings().partitions or DEFAULT_PARTITIONS
        part = [partition_of(f"|room-{k}", partitions) for k in range(config.in_flight)]
        shared = sum(1 for p in part if part.count(p) > 1)
        free_part: dict[int, float] = {}
        lanes = [(0.0, k) for k in range(config.in_flight)]  # (free at, lane) as a heap
        latencies, end = [], 0.0
        for n in numbers:
            at, lane = heapq.heappop(lanes)
            start = max(at, free_part.get(part[lane], 0.0))
            done = start + text_calls[n] * config.latency_ms
            free_part[part[lane]] = done
            latencies.append(done - at)
            end = max(end, done)
            heapq.heappush(lanes, (done, lane))
        return cls(config.messages / (end / 1000), _pct(latencies, 0.5), shared)


@dataclass(frozen=True)
class AppendFigures:
    """The timed window's append transactions, from Postgres's own clock (APPEND_TIMES=1)."""

    transactions: int
    duration_ms: list[float]
    """Each transaction's start (`recorded_at`, BEGIN) to its commit."""
    hold_ms: list[float]
    """Each one's hold of the append lock, estimated as its commit minus the later of its start
    and the previous commit (appends hold the lock to commit, so one waiting for it gets it when
    the previous commits); the estimate includes the BEGIN-to-lock round trip."""
    wall_s: float

    def describe(self) -> str:
        """Transactions per second, their duration and lock hold, and the lock's share."""
        held = sum(self.hold_ms) / 1000
        mean_hold = statistics.fmean(self.hold_ms)
        return (
            f"{self.transactions / self.wall_s:.1f} appends/s, transaction ms p50/p95/mean "
            f"{_pct(self.duration_ms, 0.5):.1f}/{_pct(self.duration_ms, 0.95):.1f}/"
            f"{statistics.fmean(self.duration_ms):.1f}, lock held ms p50/p95/mean "
            f"{_pct(self.hold_ms, 0.5):.1f}/{_pct(self.hold_ms, 0.95):.1f}/{mean_hold:.1f}: "
            f"{held / self.wall_s:.0%} of the time (ceiling 1/mean hold = "
            f"{1000 / mean_hold:.0f} appends/s)"
        )


async def _append_figures(db: asyncpg.Connection, after: int, wall: float) -> AppendFigures:
    """The append transactions recorded after position `after` (needs track_commit_timestamp)."""
    rows = await db.fetch(
        "SELECT min(recorded_at) AS began, pg_xact_commit_timestamp(xmin) AS committed "
        "FROM events WHERE position > $1 GROUP BY xmin ORDER BY committed",
        after,
    )
    durations, holds = [], []
    previous = None
    for row in rows:
        began, committed = row["began"], row["committed"]
        durations.append((committed - began).total_seconds() * 1000)
        start = began if previous is None else max(began, previous)
        holds.append((committed - start).total_seconds() * 1000)
        previous = committed
    return AppendFigures(len(rows), durations, holds, wall)


async def _track_commit_timestamps(pg: EmbeddedPostgres) -> None:
    """Restart Postgres with track_commit_timestamp on (APPEND_TIMES=1)."""
    conn = await asyncpg.connect(pg.url)
    try:
        await conn.execute("ALTER SYSTEM SET track_commit_timestamp = on")
    finally:
        await conn.close()
    await pg.stop()
    await pg.start()


async def _watch_routing(client: BusClient, routed: dict[str, float]) -> None:
    """Note when each message's partition copy is published (a core subscription sees it)."""

    async def seen(msg: Msg) -> None:
        message_id = from_json(msg.data).get("id")
        routed.setdefault(str(message_id), time.time() * 1000)

    await client.nc.subscribe(f"{subjects.PARTITION_PREFIX}.*", cb=seen)


class Driver:
    """Sends the bench's messages through one client and times each up to its reply."""

    def __init__(self, client: BusClient, config: BenchConfig) -> None:
        self.client = client
        self.config = config
        self.latencies: list[float] = []
        self.sent: list[SentMessage] = []

    async def send(self, i: int, room: int, user: int, timed: bool) -> None:
        """Message number `i` from user `user` to room `room`, waiting for the reply."""
        text = f"message {i}: how is the weather in room {room}?"
        if i % 3 == 0:
            text = f"@Eliza {text}"
        message_id = uuid.uuid4()
        published_ms = time.time() * 1000
        start = time.perf_counter()
        await self.client.send(
            text,
            user=f"user-{user}",
            user_name=f"User {user}",
            room=f"room-{room}",
            room_type=self.config.channel,
            server_id="bench-server",
            message_id=message_id,
            timeout=REPLY_TIMEOUT_SECONDS,
        )
        if timed:
            self.latencies.append((time.perf_counter() - start) * 1000)
            replied_ms = time.time() * 1000
            self.sent.append(SentMessage(message_id, i, room, published_ms, replied_ms))

    async def timed_messages(self) -> None:
        """The timed messages: one after another, or one lane per room in flight."""
        config, first = self.config, self.config.warmup
        if config.in_flight == 1:
            for i in range(first, first + config.messages):
                await self.send(i, i % config.rooms, i % config.entities, timed=True)
            return
        numbers = iter(range(first, first + config.messages))

        async def lane(room: int) -> None:
            for i in numbers:  # a shared iterator: each lane takes the next free number
                await self.send(i, room, (i * 3 + room) % config.entities, timed=True)

        await asyncio.gather(*(lane(k) for k in range(config.in_flight)))


async def one_run(config: BenchConfig) -> RunFigures:
    """Start a fresh stack in a temp dir, drive it, stop it, return its figures."""
    with tempfile.TemporaryDirectory(prefix="elizabus-bench-") as tmp:
        data = Path(tmp)
        async with EmbeddedNats(data) as nats_server, EmbeddedPostgres(data) as pg:
            if config.append_times:
                await _track_commit_timestamps(pg)
            await migrate(pg.url)
            # the pipeline's own cost is measured: hashed embeddings unless asked otherwise
            embedder = {"ELIZABUS_EMBEDDING_PROVIDER": "model"}
            env = (
                embedder
                | dict(os.environ)
                | {
                    "ELIZABUS_NATS_URL": nats_server.url,
                    "ELIZABUS_DATABASE_URL": pg.url,
                    "ELIZABUS_LOG_LEVEL": "WARNING",
                    "ELIZABUS_MODEL_PROVIDER": "scripted",
                    "ELIZABUS_SCRIPTED_LATENCY_MS": f"{config.latency_ms:g}",
                }
            )
            cmd = [sys.executable, "-m", "services.cli.main"]
            worker = await asyncio.create_subprocess_exec(*cmd, "worker", "model", env=env)
            orchs = [await asyncio.create_subprocess_exec(*cmd, "orchestrator", env=env)]
            client = await BusClient.connect(nats_server.url, source="bench")
            db = await asyncpg.connect(pg.url)
            await init_connection(db)  # jsonb as Python objects
            driver = Driver(client, config)
            routed: dict[str, float] = {}
            if config.in_flight > 1 or config.latency_ms > 0:
                await _watch_routing(client, routed)
            try:
                await _wait_until_serving(client)
                # the others start once the first serves: orchestrators started together on a
                # fresh bus race to create the partition consumers, and one that lists them
                # half-created refuses to start ("the bus has 5 partitions but ...")
                for _ in range(config.orchestrators - 1):
                    orchs.append(
                        await asyncio.create_subprocess_exec(*cmd, "orchestrator", env=env)
                    )
                await _wait_until_all_pull(client.js, config.orchestrators)
                pids = _orchestrator_pids(orchs) | {
                    "model worker": worker.pid,
                    "postgres": pg.pid or 0,
                    "nats-server": nats_server.pid or 0,
                    "bench client": os.getpid(),
                }
                for i in range(config.warmup):
                    await driver.send(i, i % config.rooms, i % config.entities, timed=False)
                if config.idle_seconds > 0:
                    await _print_idle_cpu(pids, config.idle_seconds)
                spies = await _start_profilers(orchs)
                before = await _counts(db)
                cpu_before = _cpu_seconds(pids)
                t0 = time.perf_counter()
                await driver.timed_messages()
                wall = time.perf_counter() - t0
                cpu_after = _cpu_seconds(pids)
                for spy in spies:
                    spy.send_signal(signal.SIGINT)
                    await spy.wait()
                after = await _counts(db)
                messages, latencies = config.messages, driver.latencies
                figures = RunFigures(
                    throughput=messages / wall,
                    p50=_pct(latencies, 0.50),
                    p95=_pct(latencies, 0.95),
                    p99=_pct(latencies, 0.99),
                    mean=statistics.fmean(latencies),
                    events_per_msg=(after[0] - before[0]) / messages,
                    model_calls_per_msg=(after[1] - before[1]) / messages,
                    text_calls_per_msg=(after[2] - before[2]) / messages,
                    orchestrator_rss_mb=[_peak_rss_mb(o.pid) for o in orchs],
                    worker_rss_mb=_peak_rss_mb(worker.pid),
                    cpu_ms_per_msg={
                        k: (cpu_after[k] - cpu_before[k]) * 1000 / messages for k in pids
                    },
                    stages=await _stages(db, before[0], driver.sent, routed),
                    lanes_busy=sum(latencies) / 1000 / (config.in_flight * wall),
                    appends=await _append_figures(db, before[0], wall)
                    if config.append_times
                    else None,
                )
                if figures.stages is not None and config.in_flight > 1:
                    figures.ideal = IdealFigures.of(config, figures.stages.text_calls)
            finally:
                await db.close()
                await client.close()
                await _stop(orchs, worker)
    return figures


async def _stop(
    orchs: list[asyncio.subprocess.Process], worker: asyncio.subprocess.Process
) -> None:
    """Terminate the services at once and wait for them (killed after STOP_TIMEOUT_SECONDS);
    says on stderr which took over 2 s to stop, as that adds to the bench's wall time."""
    named = {f"orchestrator {n + 1}": o for n, o in enumerate(orchs)} | {"model worker": worker}
    for proc in named.values():
        if proc.returncode is None:
            proc.terminate()
    t0 = time.perf_counter()

    async def stopped(name: str, proc: asyncio.subprocess.Process) -> None:
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        took = time.perf_counter() - t0
        if took > 2:
            print(f"({name} took {took:.1f} s to stop)", file=sys.stderr)

    await asyncio.gather(*(stopped(name, proc) for name, proc in named.items()))


async def _print_idle_cpu(pids: dict[str, int], seconds: float) -> None:
    """IDLE_SECONDS: what the stack costs with nothing to do (pull requests renewed, heartbeats),
    as CPU ms per second of each process over `seconds` with no message sent."""
    before = _cpu_seconds(pids)
    await asyncio.sleep(seconds)
    after = _cpu_seconds(pids)
    cpu = "  ".join(f"{k} {(after[k] - before[k]) * 1000 / seconds:.1f}" for k in pids)
    print(f"idle {seconds:g} s, CPU ms per second: {cpu}")


def _orchestrator_pids(orchs: list[asyncio.subprocess.Process]) -> dict[str, int]:
    if len(orchs) == 1:
        return {"orchestrator": orchs[0].pid}
    return {f"orchestrator {n + 1}": o.pid for n, o in enumerate(orchs)}


async def _start_profilers(
    orchs: list[asyncio.subprocess.Process],
) -> list[asyncio.subprocess.Process]:
    """PROFILE=<file>: sample each orchestrator with py-spy (pip install py-spy) as raw stacks,
    to <file> with one orchestrator, to <file>.<n> for orchestrator n with several."""
    out = os.environ.get("PROFILE")
    if not out:
        return []
    spies = []
    for n, orch in enumerate(orchs):
        target = out if len(orchs) == 1 else f"{out}.{n + 1}"
        args = ["record", "-r", "500", "--gil", "-f", "raw", "-o", target, "--pid", str(orch.pid)]
        spies.append(await asyncio.create_subprocess_exec("py-spy", *args))
    return spies


async def _wait_until_serving(client: BusClient, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await client.send("ready?", user="bench-probe", room="bench-probe", timeout=5.0)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise


async def _wait_until_all_pull(js: JetStreamContext, processes: int, timeout: float = 60.0) -> None:
    """Wait until `processes` orchestrators pull every partition: each idle orchestrator keeps
    one pull request waiting on each partition consumer, so the consumer's waiting pulls count
    the processes that have started."""
    deadline = time.monotonic() + timeout
    durables = [subjects.partition_durable(0), subjects.partition_durable(1)]
    while True:
        waiting = [
            (await js.consumer_info(subjects.PARTITIONS_STREAM, d)).num_waiting or 0
            for d in durables
        ]
        if min(waiting) >= processes:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {min(waiting)} of {processes} orchestrators pull")
        await asyncio.sleep(0.2)


def _print_run(label: str, f: RunFigures, config: BenchConfig) -> None:
    rss = "/".join(f"{v:.0f}" for v in f.orchestrator_rss_mb)
    orchestrators = "orchestrator" if len(f.orchestrator_rss_mb) == 1 else "orchestrators"
    print(
        f"{label}: {f.throughput:.1f} msg/s  p50 {f.p50:.2f} ms  p95 {f.p95:.2f} ms  "
        f"p99 {f.p99:.2f} ms  mean {f.mean:.2f} ms  events/msg {f.events_per_msg:.1f}  "
        f"model calls/msg {f.model_calls_per_msg:.2f}  "
        f"peak RSS {orchestrators} {rss} MB, "
        f"worker {f.worker_rss_mb:.0f} MB"
    )
    cpu = "  ".join(f"{k} {v:.2f}" for k, v in f.cpu_ms_per_msg.items())
    print(f"       CPU ms per message: {cpu}  (total {sum(f.cpu_ms_per_msg.values()):.2f})")
    if f.stages is not None and (config.in_flight > 1 or config.latency_ms > 0):
        print(
            f"       stages ms p50/p95/mean: {f.stages.describe()}  lanes busy {f.lanes_busy:.0%}"
        )
    if f.appends is not None:
        print(f"       appends: {f.appends.describe()}")
    floor = FloorFigures.of(f, config)
    if floor is not None:
        print(
            f"       text-model calls/msg {f.text_calls_per_msg:.2f}  floor "
            f"{floor.floor_ms:.0f} ms (= calls x {config.latency_ms:g} ms)  p50/floor "
            f"{floor.p50_over_floor:.2f}  throughput/(rooms/floor) "
            f"{floor.throughput_share:.2f} (ceiling "
            f"{config.in_flight / (floor.floor_ms / 1000):.1f} msg/s)"
        )
    ideal = f.ideal
    if floor is not None and ideal is not None:
        print(
            f"       with no overhead (computed; {ideal.shared_rooms} of the rooms share a "
            f"partition): {ideal.throughput:.1f} msg/s, p50 {ideal.p50:.0f} ms, p50/floor "
            f"{ideal.p50 / floor.floor_ms:.2f}, throughput/(rooms/floor) "
            f"{ideal.throughput * floor.floor_ms / 1000 / config.in_flight:.2f}; this run made "
            f"{f.throughput / ideal.throughput:.0%} of that throughput"
        )


def main() -> None:
    """Run RUNS times and print each run and the medians."""
    config = BenchConfig.from_env()
    print(config.describe())
    results = []
    for r in range(config.runs):
        f = asyncio.run(one_run(config))
        results.append(f)
        _print_run(f"run {r + 1}", f, config)
    if config.runs > 1:
        med = {
            k: statistics.median(getattr(r, k) for r in results)
            for k in ("throughput", "p50", "p95", "p99")
        }
        line = (
            f"median of {config.runs}: {med['throughput']:.1f} msg/s  p50 {med['p50']:.2f} ms  "
            f"p95 {med['p95']:.2f} ms  p99 {med['p99']:.2f} ms"
        )
        floors = [fl for fl in (FloorFigures.of(r, config) for r in results) if fl is not None]
        if floors:
            line += (
                f"  p50/floor {statistics.median(fl.p50_over_floor for fl in floors):.2f}  "
                "throughput/(rooms/floor) "
                f"{statistics.median(fl.throughput_share for fl in floors):.2f}"
            )
        print(line)


if __name__ == "__main__":
    main()
