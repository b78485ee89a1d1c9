"""A model request lost with the NATS connection fails over at once, not after its timeout
(real nats-server, stopped and started again under a waiting request)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import nats
import pytest

from shared import subjects
from shared.bus.nats_bus import NatsBus
from shared.embedded.nats_server import EmbeddedNats
from shared.errors import ModelError
from shared.messages import ModelRequest, ModelResponse
from shared.runtime.model_registry import ModelRegistry
from shared.testing import ListSink

pytestmark = pytest.mark.integration


async def test_a_request_lost_with_the_connection_fails_at_once_and_the_next_one_works(
    tmp_path: Path,
) -> None:
    server = await EmbeddedNats(tmp_path / "nats").start()
    port = server.port
    bus = await NatsBus.connect(server.url)
    worker = await nats.connect(server.url, max_reconnect_attempts=-1)
    heard = asyncio.Event()
    answering = False

    async def serve(msg: nats.aio.msg.Msg) -> None:
        heard.set()
        if answering:  # before the restart the worker swallows the request, as a crash would
            request = ModelRequest.model_validate_json(msg.data)
            reply = ModelResponse(ok=True, result=f"ok {request.params['prompt']}", provider="w")
            await msg.respond(reply.model_dump_json().encode())

    await worker.subscribe(subjects.model("TEXT_LARGE"), queue="w", cb=serve)
    await worker.flush()
    models = ModelRegistry(
        None, ListSink(), timeout=600.0, agent_id=uuid.uuid4(),
        connection_lost=bus.connection_lost,
    )  # fmt: skip
    await models.start(bus.nc)
    try:
        call = asyncio.create_task(models.use_model("TEXT_LARGE", {"prompt": "first"}))
        await asyncio.wait_for(heard.wait(), 10)
        await server.stop()  # the request dies with the server; the timeout is ten minutes
        with pytest.raises(ModelError, match="was lost: the NATS connection dropped"):
            await asyncio.wait_for(call, 30)
        server = await EmbeddedNats(tmp_path / "nats", port=port).start()
        answering = True

        async def answered() -> str:
            while True:
                try:
                    return str(await models.use_model("TEXT_LARGE", {"prompt": "second"}))
                except ModelError:  # the clients are still reconnecting
                    await asyncio.sleep(0.2)

        assert await asyncio.wait_for(answered(), 30) == "ok second"
    finally:
        await models.stop()
        await worker.close()
        await bus.nc.close()
        await server.stop()
