"""Model workers on a REAL nats-server: queue-group load sharing, errors, no responders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient

from services.model_worker.app import build_worker_app
from shared import subjects
from shared.bus.request import request as bus_request
from shared.errors import ModelError, ModelRejectedError, NoModelHandlerError
from shared.hashed_embedding import hashed_embedding
from shared.messages import ModelRequest, ModelResponse
from shared.model_types import ModelType
from shared.model_wire import ModelCallResult, request_model
from shared.settings import Settings
from shared.testing import ScriptedModel

pytestmark = pytest.mark.integration

PROMPT = """# Task: Generate dialog and actions for the character Eliza.
# Conversation Messages
[1111] Bob: tell me about the bus
<response><thought></thought><actions></actions><providers></providers><text></text></response>
"""


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


class BusModels:
    """Calls workers on the shared subject `model.<TYPE>` through `request_model`."""

    def __init__(self, nc: NatsClient, timeout: float) -> None:
        self.nc, self.timeout = nc, timeout

    async def call(self, model_type: ModelType, params: dict[str, Any]) -> ModelCallResult:
        subject = subjects.model(model_type.value)
        return await request_model(self.nc, subject, model_type, params, timeout=self.timeout)


class OnlyEmbeddings:
    """A ModelHandler serving just TEXT_EMBEDDING, slowly when asked to."""

    provider = "only-embeddings"
    supported = frozenset({ModelType.TEXT_EMBEDDING})

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    async def handle(self, request: ModelRequest) -> Any:
        await asyncio.sleep(self.delay)
        return [1.0]


async def test_two_workers_share_the_queue_group(nats_url: str, nc: NatsClient) -> None:
    settings = Settings(nats_url=nats_url, embedding_dimensions=32)
    failure = ModelError("scripted failure: check the script")
    first = ScriptedModel({ModelType.TEXT_SMALL: [failure]}, dimensions=32)
    second = ScriptedModel({ModelType.TEXT_SMALL: [failure]}, dimensions=32)
    _, app_one = build_worker_app(settings, first)
    _, app_two = build_worker_app(settings, second)
    async with app_one, app_two:
        client = BusModels(nc, timeout=5.0)

        embedding = await client.call(ModelType.TEXT_EMBEDDING, {"text": "hello bus"})
        assert embedding.result == hashed_embedding("hello bus", 32)
        assert embedding.provider == "scripted" and embedding.duration_ms > 0

        reply = await client.call(ModelType.TEXT_LARGE, {"prompt": PROMPT})
        assert "<actions>REPLY</actions>" in reply.result
        assert "tell me about the bus" in reply.result

        probe = await client.call(ModelType.TEXT_EMBEDDING, {"text": None})
        assert probe.result == [0.0] * 32

        results = await asyncio.gather(
            *(client.call(ModelType.TEXT_EMBEDDING, {"text": f"t{i}"}) for i in range(40))
        )
        assert [r.result for r in results] == [hashed_embedding(f"t{i}", 32) for i in range(40)]
        assert first.calls and second.calls, "both workers of the queue group took requests"

        with pytest.raises(ModelError, match="scripted failure: check the script"):
            await client.call(ModelType.TEXT_SMALL, {"prompt": "x"})


async def test_invalid_requests_get_ok_false_and_worker_survives(
    nats_url: str, nc: NatsClient
) -> None:
    _, app = build_worker_app(Settings(nats_url=nats_url), ScriptedModel())
    async with app:
        subject = subjects.model(ModelType.TEXT_LARGE.value)
        for body, expected in [
            (b"not json", "invalid ModelRequest on model.TEXT_LARGE"),
            (b'{"params": {}}', "model_type: Field required"),
            (b'{"model_type": "TEXT_SMALL"}', "send it on model.TEXT_SMALL"),
        ]:
            reply = await bus_request(nc, subject, body, 5.0)
            response = ModelResponse.model_validate_json(reply.data)
            assert not response.ok and response.result is None
            assert response.error and expected in response.error
            assert response.provider == "scripted"
        ok = await BusModels(nc, timeout=5.0).call(ModelType.TEXT_LARGE, {"prompt": "hi"})
        assert isinstance(ok.result, str)


async def test_no_worker_for_a_type_is_no_model_handler_error(
    nats_url: str, nc: NatsClient
) -> None:
    client = BusModels(nc, timeout=5.0)
    _, app = build_worker_app(Settings(nats_url=nats_url), OnlyEmbeddings())
    async with app:
        assert (await client.call(ModelType.TEXT_EMBEDDING, {"text": "x"})).result == [1.0]
        with pytest.raises(NoModelHandlerError, match=r"TEXT_LARGE.*elizabus worker model"):
            await client.call(ModelType.TEXT_LARGE, {"prompt": "hi"})


async def test_slow_worker_times_out_as_model_error(nats_url: str, nc: NatsClient) -> None:
    _, app = build_worker_app(Settings(nats_url=nats_url), OnlyEmbeddings(delay=1.0))
    async with app:
        with pytest.raises(ModelError, match=r"no reply to TEXT_EMBEDDING within 0\.2s"):
            await BusModels(nc, timeout=0.2).call(ModelType.TEXT_EMBEDDING, {"text": "x"})


class Gathering:
    """A ModelHandler serving TEXT_EMBEDDING that holds every request until `expected` of them
    are in flight at once: a worker handling requests one at a time never gets there (each then
    fails after `patience` seconds)."""

    provider = "gathering"
    supported = frozenset({ModelType.TEXT_EMBEDDING})

    def __init__(self, expected: int, patience: float = 10.0) -> None:
        self.expected = expected
        self.patience = patience
        self.in_flight = 0
        self.peak = 0
        self.all_in = asyncio.Event()

    async def handle(self, request: ModelRequest) -> Any:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        if self.in_flight >= self.expected:
            self.all_in.set()
        try:
            await asyncio.wait_for(self.all_in.wait(), self.patience)
        finally:
            self.in_flight -= 1
        return [1.0]


async def test_one_worker_runs_requests_concurrently(nats_url: str, nc: NatsClient) -> None:
    handler = Gathering(expected=10)
    _, app = build_worker_app(Settings(nats_url=nats_url), handler)
    async with app:
        client = BusModels(nc, timeout=30.0)
        results = await asyncio.gather(
            *(client.call(ModelType.TEXT_EMBEDDING, {"text": "x"}) for _ in range(10))
        )
    assert [r.result for r in results] == [[1.0]] * 10
    assert handler.peak == 10  # all ten were being handled at the same time


class Counting(OnlyEmbeddings):
    """`OnlyEmbeddings` counting the requests it started."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.started = 0

    async def handle(self, request: ModelRequest) -> Any:
        self.started += 1
        return await super().handle(request)


async def test_a_stopping_worker_answers_the_requests_in_hand(
    nats_url: str, nc: NatsClient
) -> None:
    handler = Counting(delay=1.0)
    _, app = build_worker_app(Settings(nats_url=nats_url), handler)
    await app.start()
    stopped = False
    try:
        client = BusModels(nc, timeout=30.0)
        calls = [
            asyncio.create_task(client.call(ModelType.TEXT_EMBEDDING, {"text": t}))
            for t in ("x", "y")
        ]
        deadline = asyncio.get_running_loop().time() + 10
        while handler.started < 2:  # both taken by the worker (each takes 1 s to answer)
            assert asyncio.get_running_loop().time() < deadline, "the worker took no request"
            await asyncio.sleep(0.02)
        await app.stop()  # withdraws, takes nothing new, lets both finish
        stopped = True
        results = await asyncio.gather(*calls)
    finally:
        if not stopped:
            await app.stop()
    assert [r.result for r in results] == [[1.0], [1.0]]


class Held(OnlyEmbeddings):
    """`OnlyEmbeddings` whose answers wait until `release` is set; counts what it started."""

    max_concurrency = 1

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.started = 0

    async def handle(self, request: ModelRequest) -> Any:
        self.started += 1
        await self.release.wait()
        return [1.0]


async def test_a_worker_holding_its_limit_refuses_more_at_once_as_busy(
    nats_url: str, nc: NatsClient
) -> None:
    """One running and none waiting is this worker's limit here: a second request is answered at
    once with a busy error (transient: the orchestrator tries another worker or retries later),
    and the held one is answered when the model frees up."""
    handler = Held()
    settings = Settings(nats_url=nats_url, model_worker_max_waiting=0)
    _, app = build_worker_app(settings, handler)
    async with app:
        client = BusModels(nc, timeout=5.0)
        held = asyncio.create_task(client.call(ModelType.TEXT_EMBEDDING, {"text": "x"}))
        deadline = asyncio.get_running_loop().time() + 10
        while handler.started < 1:  # the first is in the model, holding the only slot
            assert asyncio.get_running_loop().time() < deadline, "the worker took no request"
            await asyncio.sleep(0.02)
        with pytest.raises(ModelError, match="worker busy") as refused:
            await client.call(ModelType.TEXT_EMBEDDING, {"text": "y"})
        assert not isinstance(refused.value, ModelRejectedError)  # not permanent: retried
        assert not held.done()
        handler.release.set()
        result = await held
    assert result.result == [1.0]
    assert handler.started == 1
