"""Model workers discovered through KV `elizabus_models`, chosen by priority, with failover, on a
REAL nats-server (a fresh one per test, so no other test's announcements leak in)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient

from services.model_worker.app import build_worker_app
from shared import subjects
from shared.bus.models_bucket import announcement_key, open_models_bucket
from shared.embedded.nats_server import EmbeddedNats
from shared.errors import NoModelHandlerError
from shared.events import ModelFailed, ModelUsed, now_ms
from shared.messages import ModelAnnouncement, ModelRequest, ModelResponse
from shared.model_types import ModelType
from shared.plugin import Runtime
from shared.runtime.model_registry import ModelRegistry
from shared.settings import Settings
from shared.testing import ListSink, ScriptedModel
from tests.integration.support import ControlledModel, Servers

pytestmark = pytest.mark.integration

AGENT = uuid.UUID("00000000-0000-4000-8000-0000000f00ba")
REPO = Path(__file__).resolve().parents[2]
PROMPT = "# Conversation Messages\n[1] Bob: are you there\n"


async def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll `condition` until it holds; fail the test after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


async def serving(
    nc: NatsClient, model_type: ModelType, provider: str | None = None, timeout: float = 20.0
) -> None:
    """Poll a worker subject (a provider's, else the shared one) until it answers. nats-server
    may still say "no responders" for a moment after a new subscriber's flush; tests wait that
    out before asserting on what the registry records."""
    subject = subjects.model(model_type.value)
    if provider is not None:
        subject = subjects.model_provider(model_type.value, provider)
    body = ModelRequest(model_type=model_type, params={"prompt": "probe", "text": "probe"})
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await nc.request(subject, body.model_dump_json().encode(), timeout=5.0)
            return
        except nats.errors.NoRespondersError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)


@pytest.fixture
async def registry(nc: NatsClient) -> AsyncIterator[tuple[ModelRegistry, ListSink]]:
    sink = ListSink()
    models = ModelRegistry(None, sink, timeout=5.0, agent_id=AGENT)
    await models.start(nc)
    yield models, sink
    await models.stop()


def providers(models: ModelRegistry, model_type: str = "TEXT_LARGE") -> list[str]:
    return [c.provider for c in models.candidates(model_type)]


def spawn_worker(url: str, name: str, priority: int, log_file: Path) -> subprocess.Popen[bytes]:
    """`elizabus worker model` as a child process with the scripted model."""
    env = {
        **os.environ,
        "ELIZABUS_NATS_URL": url,
        "ELIZABUS_MODEL_PROVIDER": "scripted",
        "ELIZABUS_MODEL_PROVIDER_NAME": name,
        "ELIZABUS_MODEL_PRIORITY": str(priority),
        "ELIZABUS_LOG_LEVEL": "INFO",
    }
    with log_file.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "worker", "model"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_primary_serves_until_killed_then_backup_answers(
    server: EmbeddedNats,
    nc: NatsClient,
    registry: tuple[ModelRegistry, ListSink],
    tmp_path: Path,
) -> None:
    models, sink = registry
    primary = spawn_worker(server.url, "primary", 10, tmp_path / "primary.log")
    backup = spawn_worker(server.url, "backup", 1, tmp_path / "backup.log")
    try:
        await wait_until(lambda: providers(models) == ["primary", "backup"], timeout=30.0)
        for name in ("primary", "backup"):
            for model_type in (ModelType.TEXT_LARGE, ModelType.TEXT_EMBEDDING):
                await serving(nc, model_type, name)
        assert providers(models, "TEXT_EMBEDDING") == ["primary", "backup"]

        reply = await models.use_model("TEXT_LARGE", {"prompt": PROMPT})
        assert isinstance(reply, str) and reply
        [used] = sink.recorded
        assert isinstance(used, ModelUsed) and used.provider == "primary"
        # the primary process answers on its own subject, under its configured name
        request = ModelRequest(model_type=ModelType.TEXT_SMALL, params={"prompt": "x"})
        raw = await nc.request(
            subjects.model_provider("TEXT_SMALL", "primary"),
            request.model_dump_json().encode(),
            5.0,
        )
        assert ModelResponse.model_validate_json(raw.data).provider == "primary"

        primary.send_signal(signal.SIGKILL)
        await asyncio.to_thread(primary.wait)
        sink.recorded.clear()

        # its KV entry outlives it (nothing deleted it; it expires by TTL, seconds from now), so
        # the dead primary is still tried first: that one attempt fails (no responders, or no
        # reply if the server has not yet noticed the dead connection), then the backup answers
        assert providers(models) == ["primary", "backup"]
        assert await models.use_model("TEXT_LARGE", {"prompt": PROMPT}) == reply
        failed, used = sink.recorded
        assert isinstance(failed, ModelFailed) and failed.provider == "primary"
        assert isinstance(used, ModelUsed) and used.provider == "backup"

        # the dead worker's entry expires (no clean stop deleted it); then no attempt is wasted
        await wait_until(lambda: providers(models) == ["backup"], timeout=30.0)
        sink.recorded.clear()
        await models.use_model("TEXT_EMBEDDING", {"text": "still here"})
        [only] = sink.recorded
        assert isinstance(only, ModelUsed) and only.provider == "backup"
    finally:
        for proc in (primary, backup):
            if proc.poll() is None:
                proc.terminate()
        for proc in (primary, backup):
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:  # ignored SIGTERM: never leave it running
                proc.kill()
                await asyncio.to_thread(proc.wait)
    assert backup.returncode == 0, (tmp_path / "backup.log").read_text()[-2000:]


async def test_clean_stop_withdraws_the_announcement_at_once(
    server: EmbeddedNats, nc: NatsClient
) -> None:
    # a bucket whose entries live 10 minutes: only the worker's delete can remove its entries
    # within this test, so seeing them go proves the clean stop withdrew them
    await open_models_bucket(nc.jetstream(), ttl=600.0)
    sink = ListSink()
    models = ModelRegistry(None, sink, timeout=5.0, agent_id=AGENT)
    await models.start(nc)
    assert models.ttl == 600.0
    settings = Settings(nats_url=server.url, embedding_dimensions=8)
    _, app = build_worker_app(settings, ScriptedModel(dimensions=8), provider_name="solo")
    async with app:
        await wait_until(lambda: providers(models) == ["solo"])
        await serving(nc, ModelType.TEXT_EMBEDDING, "solo")
        assert await models.use_model("TEXT_EMBEDDING", {"text": "a"}) != []
        # get_model hands out a handler that calls the announced provider
        remote = models.get_model("TEXT_EMBEDDING")
        assert remote is not None
        assert await remote(cast(Runtime, None), {"text": "b"}) == ScriptedModel(
            dimensions=8
        ).answer(ModelType.TEXT_EMBEDDING, {"text": "b"})
        assert [getattr(e, "provider", None) for e in sink.recorded] == ["solo", "solo"]
    await wait_until(lambda: providers(models) == ["bus"])  # the deletes came through the watcher
    await models.stop()


async def test_ties_stale_entries_and_in_process_handlers(
    server: EmbeddedNats, nc: NatsClient, registry: tuple[ModelRegistry, ListSink]
) -> None:
    models, sink = registry

    async def local(runtime: Runtime, params: dict[str, Any]) -> str:
        return "local answer"

    models.register_model("TEXT_SMALL", local, "local", 5)
    settings = Settings(nats_url=server.url)
    _, seven = build_worker_app(settings, ScriptedModel(), provider_name="seven", priority=7)
    _, five = build_worker_app(settings, ScriptedModel(), provider_name="five", priority=5)
    async with seven, five:
        await wait_until(lambda: providers(models, "TEXT_SMALL") == ["seven", "local", "five"])
        for name in ("seven", "five"):
            await serving(nc, ModelType.TEXT_SMALL, name)

        # an entry nobody serves any more (a worker that died): tried first, fails over
        kv = await open_models_bucket(nc.jetstream())
        ghost = ModelAnnouncement(
            model_type="TEXT_SMALL", provider="ghost", priority=100, worker_id="w0",
            heartbeat_at=now_ms(),
        )  # fmt: skip
        await kv.put(
            announcement_key("TEXT_SMALL", "ghost", "w0"), ghost.model_dump_json().encode()
        )
        await wait_until(lambda: providers(models, "TEXT_SMALL")[0] == "ghost")

        answer = await models.use_model("TEXT_SMALL", {"prompt": PROMPT})
        assert isinstance(answer, str) and answer != "local answer"
        failed, used = sink.recorded
        assert isinstance(failed, ModelFailed) and failed.provider == "ghost"
        assert "no worker answers on model.TEXT_SMALL.ghost" in failed.error
        assert isinstance(used, ModelUsed) and used.provider == "seven"

        assert await models.use_model("TEXT_SMALL", {"prompt": "p"}, provider="local") == (
            "local answer"
        )
        assert await models.use_model("TEXT_SMALL", {"prompt": PROMPT}, provider="five")


async def test_old_style_workers_are_the_last_resort_on_the_shared_subject(
    server: EmbeddedNats, nc: NatsClient, registry: tuple[ModelRegistry, ListSink]
) -> None:
    models, sink = registry
    with pytest.raises(NoModelHandlerError, match="TEXT_LARGE"):
        await models.use_model("TEXT_LARGE", {"prompt": "p"})
    assert sink.recorded == []

    settings = Settings(nats_url=server.url)
    _, app = build_worker_app(settings, ScriptedModel(), announce=False)
    async with app:
        await serving(nc, ModelType.TEXT_LARGE)
        assert await models.use_model("TEXT_LARGE", {"prompt": PROMPT})
        [used] = sink.recorded
        assert isinstance(used, ModelUsed) and used.provider == "bus"


async def test_an_orchestrator_fails_over_from_a_slow_worker_to_the_next(
    servers: Servers,
) -> None:
    slow = ControlledModel(delay={ModelType.TEXT_LARGE: 5.0})  # more than twice the timeout
    backup = ControlledModel()
    await servers.start_worker(slow, name="slow", priority=10)
    await servers.start_worker(backup, name="backup", priority=1)
    # one delivery only: without failover the message is dead-lettered at once
    await servers.start_orchestrator(model_attempt_timeout_seconds=2.0, max_deliver=1)

    reply = await servers.client.send("are you there?", timeout=30)

    assert reply.content.text
    assert (slow.count(ModelType.TEXT_LARGE), backup.count(ModelType.TEXT_LARGE)) == (1, 1)
    rows = await servers.pool.fetch(
        "SELECT type, data FROM events WHERE type IN ('model.used', 'model.failed') "
        "AND data ->> 'model_type' = 'TEXT_LARGE' ORDER BY position"
    )
    assert [(r["type"], r["data"]["provider"]) for r in rows] == [
        ("model.failed", "slow"),
        ("model.used", "backup"),
    ]
    assert "no reply to TEXT_LARGE within 2s on model.TEXT_LARGE.slow" in rows[0]["data"]["error"]
