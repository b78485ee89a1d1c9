"""Remote providers on a REAL nats-server: served on one connection, composed through another."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NatsClient

from shared import subjects
from shared.bus.request import request as bus_request
from shared.errors import ElizabusError
from shared.events import ProviderFailed
from shared.messages import RemoteProviderReply
from shared.plugin import Memory, Provider, ProviderResult, Runtime, State
from shared.runtime.remote_providers import (
    remote_provider,
    serve_providers,
)
from shared.runtime.run_scope import current_run_id, in_run
from shared.runtime.state import StateComposer
from shared.testing import ListSink
from tests.unit.test_compose_state import FakeRuntime, message, static

pytestmark = pytest.mark.integration


@pytest.fixture
async def server_nc(nats_url: str) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


@pytest.fixture
async def client_nc(nats_url: str) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


def unique(name: str) -> str:
    """A provider name no other test on the session's server serves."""
    return f"{name}_{uuid.uuid4().hex[:8]}"


async def test_compose_state_through_a_remote_provider(
    server_nc: NatsClient, client_nc: NatsClient
) -> None:
    seen: list[tuple[str, str, dict[str, object], uuid.UUID | None, uuid.UUID]] = []
    view = FakeRuntime()

    async def weather(runtime: Runtime, msg: Memory, state: State) -> ProviderResult:
        seen.append((msg.text, state.text, state.values, current_run_id(), runtime.agent_id))
        return ProviderResult(
            text="# Weather\nsunny", values={"weather": "sunny"}, data={"degrees": 21}
        )

    name = unique("WEATHER.now *")  # dots, spaces and wildcards become one subject token
    assert subjects.provider(name).count(".") == 1
    served = await serve_providers(server_nc, [Provider(name=name, get=weather)], view)
    try:
        remote = remote_provider(client_nc, name, position=10, timeout=5.0)
        sink = ListSink()
        composer = StateComposer(FakeRuntime(), [static("LOCAL", "local"), remote], sink)
        msg = message("what is the weather?")
        await composer.compose_state(msg, ["LOCAL"], only_include=True)  # cache: LOCAL only
        run_id = uuid.uuid4()
        with in_run(run_id):
            state = await composer.compose_state(msg)
    finally:
        await served.stop()

    assert sink.recorded == []
    assert state.text == "local\n# Weather\nsunny"
    assert state.values["weather"] == "sunny"
    assert state.data["providers"][name] == {
        "text": "# Weather\nsunny",
        "values": {"weather": "sunny"},
        "data": {"degrees": 21},
    }
    text, given_text, given_values, seen_run, seen_agent = seen[0]
    assert text == "what is the weather?"
    assert given_text == "local" and given_values["providers"] == "local", "cached state sent"
    assert seen_run == run_id, "the remote provider runs inside the caller's run"
    assert seen_agent == view.agent_id, "the remote side gets its own runtime view"


async def test_a_failing_remote_provider_gives_provider_failed_and_empty_text(
    server_nc: NatsClient, client_nc: NatsClient
) -> None:
    async def broken(runtime: Runtime, msg: Memory, state: State) -> ProviderResult:
        raise ValueError("the upstream API said 503")

    name = unique("BROKEN")
    missing = unique("NOBODY_SERVES")
    served = await serve_providers(server_nc, [Provider(name=name, get=broken)], FakeRuntime())
    try:
        providers = [
            static("LOCAL", "local", {"local": 1}),
            remote_provider(client_nc, name, position=1),
            remote_provider(client_nc, missing, position=2),
        ]
        sink = ListSink()
        composer = StateComposer(FakeRuntime(), providers, sink)
        state = await composer.compose_state(message())
    finally:
        await served.stop()

    assert state.text == "local"
    assert state.data["providers"][name] == {"text": "", "values": {}, "data": {}}
    assert state.values == {"local": 1, "providers": "local"}
    failures = {e.provider: e.error for e in sink.recorded if isinstance(e, ProviderFailed)}
    assert set(failures) == {name, missing}
    assert "ValueError: the upstream API said 503" in failures[name]
    assert "no process serves provider" in failures[missing]


async def test_queue_group_shares_requests_and_stop_ends_serving(
    server_nc: NatsClient, client_nc: NatsClient, nats_url: str
) -> None:
    name = unique("SHARED")
    hits: list[str] = []

    def serving(label: str) -> Provider:
        async def get(runtime: Runtime, msg: Memory, state: State) -> ProviderResult:
            hits.append(label)
            return ProviderResult(text=label)

        return Provider(name=name, get=get)

    other_nc = await nats.connect(nats_url)
    first = await serve_providers(server_nc, [serving("first")], FakeRuntime())
    second = await serve_providers(other_nc, [serving("second")], FakeRuntime())
    try:
        remote = remote_provider(client_nc, name)
        texts = await asyncio.gather(
            *(remote.get(FakeRuntime(), message(), State()) for _ in range(40))
        )
        assert len(hits) == 40, "each request is answered by exactly one server"
        assert {t.text for t in texts} == {"first", "second"} == set(hits)
    finally:
        await first.stop()
        await second.stop()
        await other_nc.close()
    with pytest.raises(ElizabusError, match="no process serves provider"):
        await remote.get(FakeRuntime(), message(), State())


async def test_a_bad_request_body_gets_an_error_reply(
    server_nc: NatsClient, client_nc: NatsClient
) -> None:
    name = unique("STRICT")
    served = await serve_providers(server_nc, [static(name)], FakeRuntime())
    try:
        reply = await bus_request(client_nc, subjects.provider(name), b"{not json", 5.0)
    finally:
        await served.stop()
    decoded = RemoteProviderReply.model_validate_json(reply.data)
    assert decoded.ok is False and decoded.provider == name
    assert decoded.error is not None and "invalid RemoteProviderRequest" in decoded.error
