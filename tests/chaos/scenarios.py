"""The chaos scenarios: one function each, run by `run_scenario` under the same load and checks.

Every scenario: a fresh data dir, `elizabus up` started as a user does (embedded NATS and
Postgres on fixed ports, the scripted model answering text after ELIZABUS_SCRIPTED_LATENCY_MS,
ELIZABUS_ACK_WAIT_SECONDS=3), extra processes where the scenario needs them, a probe message until
the stack answers, then the load (150 messages over 10 DM rooms at a steady rate) while the
scenario injects its fault. Then: wait until every body has its outcome (reply, silent run or dead
letter) and the inbound queues are empty, check that the stack still answers a new message,
count, rebuild the projections and compare them with the live ones.

Expectations checked for every scenario (a failed one makes the run exit non-zero): nothing lost,
nothing answered twice, no valid message dead-lettered, every body built to be refused
dead-lettered, recovery within 10 s of the fault clearing (a fault that does not clear: no stall
over 10 s), the rebuilt projections equal to the live ones; plus each scenario's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from shared import subjects
from shared.embedded.ports import accepts_connections
from shared.messages import MessageSent
from tests.chaos import hostile
from tests.chaos.load import Publisher, Sent, connect, dm_message, load_messages
from tests.chaos.metrics import Fault, Figures, figures
from tests.chaos.observe import Observed, wait_settled
from tests.chaos.projections import ProjectionCheck, check_projections
from tests.chaos.stack import CLI, UpStack, until

RECOVERY_LIMIT = 10.0
DLQ_LIMIT = 1.0
SETTLE_TIMEOUT = 150.0
"""How long after the load the outcomes may take (a message retried in place with back-off
takes up to about 90 s to be dead-lettered)."""
SERVING_TIMEOUT = 90.0
PROBE_ROOM = 1000


@dataclass(frozen=True)
class Options:
    """The load of every scenario."""

    messages: int = 150
    rooms: int = 10
    rate: float = 10.0
    """Bodies published per second."""
    seed: int = 0
    keep: bool = False
    """Keep the data dirs (logs, servers' data) of passing scenarios too."""


@dataclass
class Context:
    """What a scenario's fault script works with."""

    stack: UpStack
    options: Options
    publisher: Publisher
    plan: list[Sent]
    faults: list[Fault] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    replied: dict[uuid.UUID, float] = field(default_factory=dict)
    """When a reply to each message was seen live (best effort: a core NATS subscription misses
    what is published while it reconnects; the counts come from the stream)."""

    def waiting(self, published_before: float, unanswered_at: float) -> list[Sent]:
        """Valid messages published before `published_before` and not answered by
        `unanswered_at` (as seen live)."""
        return [
            s
            for s in self.publisher.published
            if s.expect == "reply"
            and s.published_at < published_before
            and self.replied.get(s.message_id, float("inf")) > unanswered_at
        ]

    async def published(self, fraction: float) -> None:
        """Wait until `fraction` of the plan has been published."""
        await self.publisher.wait_published(int(len(self.plan) * fraction))

    def fault(self, label: str, started: float, cleared: float | None = None) -> None:
        """Record a fault (a kill: cleared when it happened)."""
        self.faults.append(Fault(label, started, started if cleared is None else cleared))


@dataclass
class Result:
    """One scenario's row and verdict."""

    name: str
    figures: Figures | None = None
    projections: ProjectionCheck | None = None
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    data_dir: Path | None = None


Prepare = Callable[[UpStack], Awaitable[None]]
Inject = Callable[[Context], Awaitable[None]]
Check = Callable[[Context, Observed, asyncpg.Pool], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    """A fault (and what to start before the load, and what else to check after it)."""

    name: str
    doc: str
    inject: Inject
    quick: bool = False
    overrides: dict[str, str] = field(default_factory=dict)
    prepare: Prepare | None = None
    check: Check | None = None
    plan: Callable[[Options], list[Sent]] | None = None
    continuous: bool = False
    """The fault lasts the whole run (no moment it clears): judged by the longest stall."""


# --- helpers -------------------------------------------------------------------------------


async def wait_log(stack: UpStack, name: str, text: str, timeout: float = 90.0) -> None:
    """Wait until process `name`'s log contains `text` (a readiness line)."""
    path = stack.data_dir / f"{name}.log"
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):
            if text in path.read_text(errors="replace"):
                return
        proc = stack.extras.get(name)
        if proc is not None and proc.returncode is not None:
            raise RuntimeError(f"{name} exited ({proc.returncode}): {stack.tail(name)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} not ready within {timeout} s: {stack.tail(name)}")
        await asyncio.sleep(0.1)


async def ask(nc: NatsClient, publisher: Publisher, text: str, timeout: float) -> float:
    """Publish one message to the probe room and wait for its reply; seconds it took."""
    msg = dm_message(text, PROBE_ROOM)
    got: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def on_reply(raw: Msg) -> None:
        reply = MessageSent.model_validate_json(raw.data)
        if reply.in_reply_to == msg.id and not got.done():
            got.set_result(None)

    sub = await nc.subscribe(subjects.message_sent(msg.source), cb=on_reply)
    try:
        started = time.monotonic()
        probe = Sent(str(msg.id), msg.model_dump_json(exclude_none=True).encode(), "reply")
        await publisher.publish(probe)
        publisher.published.remove(probe)  # not part of the load
        await asyncio.wait_for(got, timeout)
        return time.monotonic() - started
    finally:
        await sub.unsubscribe()


async def wait_serving(nc: NatsClient, publisher: Publisher, timeout: float) -> None:
    """Send probe messages until one is answered (the stack is serving)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await ask(nc, publisher, "are you there?", 10.0)
            return
        except TimeoutError:
            if time.monotonic() > deadline:
                raise RuntimeError("the stack did not answer a probe message") from None


def faulty_requests(stack: UpStack, mode: str) -> list[tuple[float, str, str, str]]:
    """The requests the faulty worker of `mode` received: (time, model type, run, answer)."""
    path = stack.data_dir / f"faulty-{mode}.requests"
    rows = []
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            at, model_type, run, answer = line.split(" ", 3)
            rows.append((float(at), model_type, run, answer))
    return rows


async def start_faulty_worker(stack: UpStack, mode: str) -> None:
    """Start the faulty model worker of `mode` and wait until it serves."""
    log = stack.data_dir / f"faulty-{mode}.requests"
    argv = [CLI[0], "-m", "tests.chaos.faulty_worker", mode, "--log", str(log)]
    await stack.start_extra(f"faulty-{mode}", argv, ELIZABUS_LOG_LEVEL="INFO")
    await wait_log(stack, f"faulty-{mode}", "serving")


# --- the scenarios -------------------------------------------------------------------------


async def prepare_second_orchestrator(stack: UpStack) -> None:
    """A second orchestrator beside the one `up` runs."""
    await stack.start_extra("orchestrator-2", [*CLI, "orchestrator"], ELIZABUS_LOG_LEVEL="INFO")
    await wait_log(stack, "orchestrator-2", "orchestrator ready")


KILL_ATTEMPTS = 4


async def orchestrator_ready(stack: UpStack, times: int) -> None:
    """Wait until `up`'s orchestrator has logged that it is ready `times` times (it was
    restarted `times - 1` times); its log level is INFO in this scenario."""
    log = stack.data_dir / "up.log"

    async def ready() -> bool:
        return log.read_text(errors="replace").count("orchestrator ready") >= times

    await until(ready, 90, f"up's orchestrator ready ({times})")


async def kill_orchestrator(ctx: Context) -> None:
    """kill -9 of the orchestrator `up` runs, while a second one serves too. A kill that finds
    it idle tests nothing, so it is killed again once `up` has restarted it (up to
    KILL_ATTEMPTS times) until a kill caught messages in its hands: ones published before it
    and still waiting 2 s later (a run takes about half a second here)."""
    await ctx.published(0.2)
    for attempt in range(1, KILL_ATTEMPTS + 1):
        await orchestrator_ready(ctx.stack, attempt)
        await asyncio.sleep(1.0)  # it pulls its share
        pid = await ctx.stack.child("orchestrator")
        os.kill(pid, signal.SIGKILL)
        killed = time.time()
        ctx.fault(f"kill -9 orchestrator (#{attempt})", killed)
        await asyncio.sleep(2.5)
        caught = ctx.waiting(published_before=killed, unanswered_at=killed + 2.0)
        pending = ctx.waiting(published_before=killed, unanswered_at=killed)
        ctx.notes.append(f"kill #{attempt}: {len(pending)} message(s) unanswered when it was "
                         f"killed, {len(caught)} still 2 s later")  # fmt: skip
        if caught:
            return
    ctx.failures.append(
        f"none of {KILL_ATTEMPTS} kills caught the orchestrator with a message in hand: the "
        "takeover was not tested"
    )


async def kill_model_worker(ctx: Context) -> None:
    """kill -9 of the only model worker (`up` restarts it)."""
    await ctx.published(0.4)
    pid = await ctx.stack.child("model worker")
    os.kill(pid, signal.SIGKILL)
    ctx.fault("kill -9 model worker", time.time())


async def kill_up(ctx: Context) -> None:
    """kill -9 of `elizabus up` itself; a new `up` is started at once, as a service manager
    would (the fault clears when it is launched)."""
    await ctx.published(0.4)
    started = time.time()
    await ctx.stack.kill_up()
    cleared = time.time()
    await ctx.stack.start()
    ctx.notes.append(f"the new `up` wrote runtime.json {time.time() - cleared:.1f} s after launch")
    ctx.fault("kill -9 elizabus up", started, cleared)


async def restart_nats(ctx: Context) -> None:
    """kill -9 of nats-server; `up` restarts it on the same port (clears when it listens)."""
    await ctx.published(0.4)
    pid = await ctx.stack.child("nats-server")
    os.kill(pid, signal.SIGKILL)
    started = time.time()
    port = int(ctx.stack.env["ELIZABUS_NATS_PORT"])

    async def listening() -> bool:
        return await accepts_connections("127.0.0.1", port, 0.2)

    async def closed() -> bool:  # (its process may look gone while its last threads still
        return not await listening()  # hold the listening socket for some milliseconds)

    await until(closed, 30, "the killed nats-server's port closed")
    await until(listening, 60, "a new nats-server listens on the same port")
    ctx.fault("kill -9 nats-server", started, time.time())


PG_PAUSE_SECONDS = 10.0


async def pause_postgres(ctx: Context) -> None:
    """Postgres stopped for 10 s: SIGSTOP to the postmaster and every backend, SIGCONT after
    (clients' connections hang meanwhile, as with a server that does not answer; nothing is
    lost or restarted)."""
    await ctx.published(0.4)
    pids = await ctx.stack.postgres_pids()
    started = time.time()
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        await asyncio.sleep(PG_PAUSE_SECONDS)
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    ctx.fault(f"Postgres stopped {PG_PAUSE_SECONDS:g} s", started, time.time())


async def no_fault(ctx: Context) -> None:
    """The fault is a process started before the load, or in the bodies themselves."""


def requests_per_run_check(mode: str, limit: int) -> Check:
    """A check that the faulty worker was asked, and at most `limit` times per run (more means
    the run was retried over and over: a retry storm)."""

    async def check(ctx: Context, observed: Observed, pool: asyncpg.Pool) -> None:
        rows = faulty_requests(ctx.stack, mode)
        if not rows:
            ctx.failures.append(f"the {mode} worker was never asked: the scenario tested nothing")
            return
        per_run = Counter((run, model_type) for _, model_type, run, _ in rows)
        (worst_run, worst_type), most = per_run.most_common(1)[0]
        answers = Counter(answer for *_, answer in rows)
        listed = ", ".join(f"{k} {v}" for k, v in sorted(answers.items()))
        ctx.notes.append(
            f"{mode} worker: {len(rows)} requests ({listed}); at most {most} for one run"
        )
        if most > limit:
            ctx.failures.append(
                f"run {worst_run} asked the {mode} worker {most} times for {worst_type} "
                f"(limit {limit}): a retry storm"
            )

    return check


async def check_hang(ctx: Context, observed: Observed, pool: asyncpg.Pool) -> None:
    """The hung requests were cut by the attempt timeout and failed over to the normal worker
    (the hung worker stays alive and keeps them alive: only the timeout can cut them; the circuit
    breaker then sends later calls to the normal worker first)."""
    await requests_per_run_check("hang", 2)(ctx, observed, pool)
    row = await pool.fetchrow(
        "SELECT count(*) AS n, max((data->>'duration_ms')::float) AS longest FROM events "
        "WHERE type = 'model.failed' AND data->>'provider' = 'chaos-hang'"
    )
    used = await pool.fetchval(
        "SELECT count(*) FROM events WHERE type = 'model.used' "
        "AND data->>'model_type' = 'TEXT_LARGE' AND data->>'provider' = 'scripted'"
    )
    if not row["n"]:
        ctx.failures.append("no model call to the hung worker failed: nothing was tested")
        return
    ctx.notes.append(
        f"{row['n']} TEXT_LARGE calls to the hung worker failed after at most "
        f"{row['longest'] / 1000:.1f} s (the attempt timeout), {used} were answered by the "
        "normal worker"
    )


def hostile_plan(options: Options) -> list[Sent]:
    """The load, with hypothesis's hostile bodies spread through it: 40 valid but hostile
    messages and 60 bodies that must be refused."""
    plan = load_messages(options.messages, options.rooms)
    extra: list[Sent] = []
    for i, valid in enumerate(hostile.examples(hostile.valid_hostile(options.rooms), 40,
                                               options.seed)):  # fmt: skip
        msg = valid.message()
        extra.append(
            Sent(str(msg.id), msg.model_dump_json(exclude_none=True).encode(), "reply",
                 kind=f"hostile-valid:{valid.kind}:{i}", room=msg.room.id, text=valid.text)
        )  # fmt: skip
    for i, bad in enumerate(hostile.examples(hostile.refused(options.rooms), 60, options.seed)):
        extra.append(Sent(f"chaos-refused-{i}-{uuid.uuid4()}", bad.body, "dlq", kind=bad.kind))
    random.Random(options.seed).shuffle(extra)
    mixed: list[Sent] = []
    for i, sent in enumerate(plan):  # spread the extra bodies evenly through the load
        mixed.append(sent)
        mixed.extend(extra[i * len(extra) // len(plan) : (i + 1) * len(extra) // len(plan)])
    return mixed


async def check_hostile(ctx: Context, observed: Observed, pool: asyncpg.Pool) -> None:
    """Each refused body dead-lettered within 1 s; each valid hostile message stored verbatim."""
    refused = [s for s in ctx.publisher.published if s.expect == "dlq"]
    slow = []
    for sent in refused:
        letters = observed.dead_letters.get(sent.sequence)
        if letters and min(letters) - sent.published_at > DLQ_LIMIT:
            slow.append(f"{sent.kind} {min(letters) - sent.published_at:.2f} s")
    if slow:
        ctx.failures.append(
            f"{len(slow)} of {len(refused)} refused bodies reached the DLQ after more than "
            f"{DLQ_LIMIT:g} s: {', '.join(slow[:8])}"
        )
    kinds = Counter(s.kind.split(":")[0] for s in refused)
    ctx.notes.append("refused bodies: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    valid = [s for s in ctx.publisher.published if s.kind.startswith("hostile-valid")]
    altered = []
    for sent in valid:
        stored = await pool.fetchval(
            "SELECT count(*) FROM memories WHERE content->>'text' = $1", sent.text
        )
        if not stored:
            altered.append(sent.kind)
    if altered:
        ctx.failures.append(
            f"{len(altered)} of {len(valid)} valid hostile messages are not stored verbatim: "
            f"{', '.join(altered[:8])}"
        )
    unanswered = [s.kind for s in valid if s.message_id not in observed.replies]
    if unanswered:
        ctx.failures.append(
            f"{len(unanswered)} of {len(valid)} valid hostile messages got no reply: "
            f"{', '.join(unanswered[:8])}"
        )
    ctx.notes.append(f"{len(valid)} valid hostile messages (SQL/prompt injection, Unicode)")


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario(
            "kill-orchestrator",
            "kill -9 of an orchestrator while a second one runs (300 messages, model latency "
            "300 ms, so that it holds some)",
            kill_orchestrator,
            quick=True,
            overrides={"ELIZABUS_LOG_LEVEL": "INFO", "ELIZABUS_SCRIPTED_LATENCY_MS": "300"},
            prepare=prepare_second_orchestrator,
            plan=lambda options: load_messages(max(options.messages, 300), options.rooms),
        ),
        Scenario("kill-model-worker", "kill -9 of the model worker", kill_model_worker),
        Scenario("kill-up", "kill -9 of `elizabus up`, started again at once", kill_up),
        Scenario(
            "hanging-worker",
            "a model worker that never answers half the requests (tried first; attempt timeout 3s)",
            no_fault,
            continuous=True,
            overrides={"ELIZABUS_MODEL_ATTEMPT_TIMEOUT_SECONDS": "3"},
            prepare=lambda stack: start_faulty_worker(stack, "hang"),
            check=check_hang,
        ),
        Scenario(
            "garbage-worker",
            "a model worker answering ok:true with nonsense (tried first)",
            no_fault,
            continuous=True,
            prepare=lambda stack: start_faulty_worker(stack, "garbage"),
            check=requests_per_run_check("garbage", 2),
        ),
        Scenario("nats-restart", "nats-server killed (-9), restarted by `up`", restart_nats),
        Scenario(
            "postgres-pause",
            "Postgres stopped 10 s (SIGSTOP), then started (SIGCONT)",
            pause_postgres,
        ),
        Scenario(
            "hostile-bodies",
            "hostile bodies from hypothesis mixed into the load",
            no_fault,
            quick=True,
            continuous=True,
            plan=hostile_plan,
            check=check_hostile,
        ),
        Scenario(
            "malformed-llm",
            "malformed LLM output (broken XML/JSON, nesting, huge), tried first",
            no_fault,
            quick=True,
            continuous=True,
            prepare=lambda stack: start_faulty_worker(stack, "malformed"),
            check=requests_per_run_check("malformed", 2),
        ),
    ]
}


# --- the driver ----------------------------------------------------------------------------


async def run_scenario(scenario: Scenario, options: Options) -> Result:
    """Run one scenario end to end; its result (never raises for a failed expectation)."""
    result = Result(scenario.name)
    begun = time.monotonic()
    data_dir = Path(tempfile.mkdtemp(prefix=f"elizabus-chaos-{scenario.name}-"))
    result.data_dir = data_dir
    stack = UpStack(data_dir, scenario.overrides)
    try:
        await _drive(scenario, options, stack, result)
    except Exception as exc:
        result.failures.append(f"the scenario could not run: {type(exc).__name__}: {exc}")
    finally:
        with contextlib.suppress(Exception):
            await stack.close()
        result.seconds = time.monotonic() - begun
    if not result.failures and not options.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
        result.data_dir = None
    return result


async def _drive(scenario: Scenario, options: Options, stack: UpStack, result: Result) -> None:
    await stack.start()
    if scenario.prepare is not None:
        await scenario.prepare(stack)
    nc = await connect(stack.nats_url, stack.admin_login())
    try:
        publisher = Publisher(nc)
        await wait_serving(nc, publisher, SERVING_TIMEOUT)
        plan = (scenario.plan or _default_plan)(options)
        ctx = Context(stack, options, publisher, plan)

        async def on_reply(msg: Msg) -> None:
            with contextlib.suppress(ValueError):
                reply = MessageSent.model_validate_json(msg.data)
                ctx.replied.setdefault(reply.in_reply_to, time.time())

        await nc.subscribe(f"{subjects.MESSAGE_SENT_PREFIX}.>", cb=on_reply)
        await asyncio.gather(publisher.run(plan, options.rate), scenario.inject(ctx))
        pool = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=4)
        try:
            observed, settled = await wait_settled(nc, pool, publisher.published, SETTLE_TIMEOUT)
            if not settled:
                ctx.failures.append(f"not settled {SETTLE_TIMEOUT:g} s after the load")
            if scenario.check is not None:
                await scenario.check(ctx, observed, pool)
        finally:
            await pool.close()
        numbers = figures(publisher.published, observed, ctx.faults)
        result.figures = numbers
        for name in list(stack.extras):
            await stack.stop_extra(name)
        try:  # the stack serves on once the faulty processes are gone
            took = await ask(nc, publisher, "still serving after all that?", RECOVERY_LIMIT)
            ctx.notes.append(f"a new message after the run was answered in {took:.2f} s")
        except TimeoutError:
            ctx.failures.append(f"a new message after the run got no reply within "
                                f"{RECOVERY_LIMIT:g} s")  # fmt: skip
        result.projections = await check_projections(stack)
        result.failures.extend(judge(scenario, numbers, result.projections))
        result.failures.extend(ctx.failures)
        result.notes.extend(ctx.notes)
        for fault in ctx.faults:
            result.notes.append(f"{fault.label}: cleared {fault.cleared - fault.started:.1f} s "
                                "after it began")  # fmt: skip
    finally:
        await nc.close()


def _default_plan(options: Options) -> list[Sent]:
    return load_messages(options.messages, options.rooms)


def judge(scenario: Scenario, f: Figures, projections: ProjectionCheck) -> list[str]:
    """The expectations every scenario shares, as failure messages (empty: all met)."""
    failures = []
    if f.lost:
        failures.append(f"{f.lost} message(s) lost (no reply, no run, no dead letter)")
    if f.duplicated:
        failures.append(f"{f.duplicated} reply(ies) stored twice or more for one message")
    if f.valid_dead:
        failures.append(f"{f.valid_dead} valid message(s) dead-lettered")
    if f.refused_missing:
        failures.append(f"{f.refused_missing} refused body(ies) never reached the DLQ")
    if f.recovery_s is not None and f.recovery_s > RECOVERY_LIMIT:
        failures.append(f"recovery took {f.recovery_s:.1f} s (limit {RECOVERY_LIMIT:g} s)")
    if scenario.continuous and f.longest_stall_s > RECOVERY_LIMIT:
        failures.append(f"no reply for {f.longest_stall_s:.1f} s while messages waited "
                        f"(limit {RECOVERY_LIMIT:g} s)")  # fmt: skip
    if not projections.equal:
        where = ", ".join(f"{t} (-{a}/+{b})" for t, (a, b) in projections.differences.items())
        failures.append(
            f"rebuilt projections differ from the live ones: {where or projections.note}"
        )
    return failures
