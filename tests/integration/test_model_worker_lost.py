"""A model worker that dies or hangs with a request costs seconds, not the attempt timeout
(REAL nats-server; the workers are real `build_worker_app` workers, killed ones in their own
processes): acceptance and keep-alives (`shared.bus.watched_request`), the lost request sent
again, and the circuit breaker (`shared.runtime.model_breaker`)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faststream import FastStream
from nats.aio.client import Client as NatsClient

from services.model_worker.app import build_worker_app
from shared.embedded.nats_server import EmbeddedNats
from shared.events import ModelFailed, ModelUsed
from shared.messages import ModelRequest
from shared.model_types import ModelType
from shared.runtime.model_breaker import BreakerPolicy
from shared.runtime.model_registry import ModelCallPolicy, ModelRegistry
from shared.settings import Settings
from shared.testing import ListSink, ScriptedModel

pytestmark = pytest.mark.integration

AGENT = uuid.UUID("00000000-0000-4000-8000-00000000dead")
REPO = Path(__file__).resolve().parents[2]
PROMPT = "# Conversation Messages\n[1] Bob: are you there\n"
ATTEMPT_TIMEOUT = 60.0
"""The attempt timeout of these tests: far over their own deadlines, so a call that completes in
time proves it did not wait for it."""
DEADLINE = 25.0


async def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll `condition` until it holds; fail the test after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


def providers(models: ModelRegistry, model_type: str = "TEXT_LARGE") -> list[str]:
    return [c.provider for c in models.candidates(model_type)]


def spawn(
    url: str, claim: Path, provider: str, priority: int, log: Path
) -> subprocess.Popen[bytes]:
    """A `tests.integration.claiming_worker` process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELIZABUS_")}
    env["ELIZABUS_NATS_URL"] = url
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.integration.claiming_worker", "--claim", str(claim),
             "--provider", provider, "--priority", str(priority)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param([("pool", 0), ("pool", 0)], id="two-workers-of-one-provider"),
        pytest.param([("first", 10), ("second", 0)], id="two-providers"),
    ],
)
async def test_a_worker_killed_with_a_request_costs_seconds_not_the_attempt_timeout(
    server: EmbeddedNats, nc: NatsClient, tmp_path: Path, layout: list[tuple[str, int]]
) -> None:
    claim = tmp_path / "claim"
    procs = [
        spawn(server.url, claim, name, priority, tmp_path / f"worker{i}.log")
        for i, (name, priority) in enumerate(layout)
    ]
    sink = ListSink()
    models = ModelRegistry(None, sink, timeout=ATTEMPT_TIMEOUT, agent_id=AGENT)
    await models.start(nc)
    try:
        await wait_until(lambda: models.remote_worker_count >= 2 * len(ScriptedModel().supported))
        assert all(c.accepts for c in models.candidates("TEXT_LARGE") if not c.fallback)

        call = asyncio.create_task(models.use_model("TEXT_LARGE", {"prompt": PROMPT}))
        await wait_until(lambda: claim.exists() and claim.read_text() != "")
        holder = int(claim.read_text())
        victim = next(p for p in procs if p.pid == holder)
        victim.send_signal(signal.SIGKILL)
        await asyncio.to_thread(victim.wait)

        # the condition, not a timing: well under the 60 s attempt timeout, the call is answered
        answer = await asyncio.wait_for(call, DEADLINE)
    finally:
        await models.stop()
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)

    assert isinstance(answer, str) and "are you there" in answer
    lost = [e for e in sink.recorded if isinstance(e, ModelFailed)]
    [used] = [e for e in sink.recorded if isinstance(e, ModelUsed)]
    assert lost, "the lost attempt is recorded as model.failed"
    assert "stopped answering" in lost[0].error and "died or stalled" in lost[0].error
    assert lost[0].provider == layout[0][0]
    assert used.provider in {name for name, _ in layout}


async def test_a_frozen_worker_that_never_accepts_is_given_up_after_the_accept_window(
    server: EmbeddedNats, nc: NatsClient, tmp_path: Path
) -> None:
    # a worker process stopped with SIGSTOP (a stalled host, a long pause): its connection stays
    # open, so NATS still routes requests to it, but nothing accepts them
    frozen = spawn(server.url, tmp_path / "claim", "frozen", 10, tmp_path / "frozen.log")
    backup = build_worker_app(Settings(nats_url=server.url), ScriptedModel(),
                              provider_name="backup", priority=1)  # fmt: skip
    sink = ListSink()
    models = ModelRegistry(None, sink, timeout=ATTEMPT_TIMEOUT, agent_id=AGENT)
    await models.start(nc)
    await backup[1].start()
    try:
        await wait_until(lambda: providers(models)[:2] == ["frozen", "backup"])
        frozen.send_signal(signal.SIGSTOP)
        answer = await asyncio.wait_for(
            models.use_model("TEXT_SMALL", {"prompt": PROMPT}), DEADLINE
        )
    finally:
        frozen.send_signal(signal.SIGCONT)
        await models.stop()
        await backup[1].stop()
        frozen.terminate()
        try:
            await asyncio.to_thread(frozen.wait, 30)
        except subprocess.TimeoutExpired:
            frozen.kill()
            await asyncio.to_thread(frozen.wait)

    assert isinstance(answer, str) and answer
    failed = [e for e in sink.recorded if isinstance(e, ModelFailed)]
    [used] = [e for e in sink.recorded if isinstance(e, ModelUsed)]
    assert [e.provider for e in failed] == ["frozen", "frozen"]  # once, then sent again once
    assert all("no responder accepted the request" in e.error for e in failed)
    assert used.provider == "backup"


class Hanging:
    """A ModelHandler whose TEXT_LARGE never answers (the worker itself stays alive and keeps the
    request alive): it counts the requests that reached it."""

    provider = "hanging"
    supported = frozenset({ModelType.TEXT_LARGE})

    def __init__(self) -> None:
        self.reached = 0

    async def handle(self, request: ModelRequest) -> Any:
        self.reached += 1
        await asyncio.Event().wait()


class Slow:
    """The scripted model answering TEXT_LARGE after `delay` seconds, counting its requests."""

    provider = "slow"

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.inner = ScriptedModel()
        self.supported = frozenset({ModelType.TEXT_LARGE})
        self.reached = 0

    async def handle(self, request: ModelRequest) -> Any:
        self.reached += 1
        await asyncio.sleep(self.delay)
        return await self.inner.handle(request)


async def started(app: FastStream, apps: list[FastStream]) -> None:
    await app.start()
    apps.append(app)


async def test_a_hung_worker_is_skipped_by_the_breaker_after_its_failures(
    server: EmbeddedNats, nc: NatsClient
) -> None:
    hanging = Hanging()
    settings = Settings(nats_url=server.url)
    apps: list[FastStream] = []
    policy = ModelCallPolicy(
        attempt_timeout=1.0, breaker=BreakerPolicy(failures=2, window=3, cooldown=600.0)
    )
    sink = ListSink()
    models = ModelRegistry(None, sink, agent_id=AGENT, policy=policy)
    await models.start(nc)
    try:
        hung = build_worker_app(settings, hanging, priority=10, drain_seconds=0.1)
        await started(hung[1], apps)
        backup = build_worker_app(settings, ScriptedModel(), provider_name="backup", priority=1)
        await started(backup[1], apps)
        await wait_until(lambda: providers(models) == ["hanging", "backup"])

        answers = [await models.use_model("TEXT_LARGE", {"prompt": PROMPT}) for _ in range(6)]
    finally:
        await models.stop()
        for app in apps:
            await app.stop()

    assert all(isinstance(a, str) and a for a in answers)
    assert hanging.reached == 2, "after 2 failures the breaker sends calls to the backup first"
    failed = [e.provider for e in sink.recorded if isinstance(e, ModelFailed)]
    used = [e.provider for e in sink.recorded if isinstance(e, ModelUsed)]
    assert failed == ["hanging", "hanging"]
    assert used == ["backup"] * 6
    assert models.breakers.is_open("model.TEXT_LARGE.hanging")


async def test_a_slow_but_alive_worker_is_not_failed_over(
    server: EmbeddedNats, nc: NatsClient
) -> None:
    # accept window 0.5 s, silence after 2 missed keep-alives of 0.2 s: a worker that kept
    # nothing alive would be given up long before the 3 s answer
    slow = Slow(delay=3.0)
    settings = Settings(nats_url=server.url, model_keepalive_seconds=0.2)
    apps: list[FastStream] = []
    policy = ModelCallPolicy(attempt_timeout=ATTEMPT_TIMEOUT, accept_seconds=0.5,
                             keepalive_misses=2)  # fmt: skip
    sink = ListSink()
    models = ModelRegistry(None, sink, agent_id=AGENT, policy=policy)
    await models.start(nc)
    try:
        await started(build_worker_app(settings, slow, priority=10)[1], apps)
        backup = build_worker_app(settings, ScriptedModel(), provider_name="backup", priority=1)
        await started(backup[1], apps)
        await wait_until(lambda: providers(models) == ["slow", "backup"])

        answer = await asyncio.wait_for(
            models.use_model("TEXT_LARGE", {"prompt": PROMPT}), DEADLINE
        )
    finally:
        await models.stop()
        for app in apps:
            await app.stop()

    assert isinstance(answer, str) and "are you there" in answer
    assert [type(e).__name__ for e in sink.recorded] == ["ModelUsed"]
    [used] = sink.recorded
    assert isinstance(used, ModelUsed) and used.provider == "slow"
    assert slow.reached == 1
