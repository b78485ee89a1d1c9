"""A character's secret never leaves the orchestrator: not in an event, a bus message (replies,
runtime events in a run or outside one, dead letters, requests to model workers and to remote
providers and actions), a message stored in a stream, nor a log line. The real app is started
with its own scrubbers; the secret is pushed through every way out (tests/integration/plugins.py
`secret_plugin`, and a user who pastes it into a message), and everything that left is checked."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, cast

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from shared import subjects
from shared.model_types import ModelType
from shared.plugin import Action, Memory, Provider, ProviderResult, Runtime, State
from shared.runtime.remote_actions import serve_actions
from shared.runtime.remote_providers import serve_providers
from shared.secrets import REDACTED
from shared.testing import ScriptedModel
from tests.integration.plugins import (
    SECRET,
    SECRET_ACTION,
    SECRET_EVENT,
    SECRET_PROVIDER,
    secret_character,
)
from tests.integration.support import Servers, direct_message, equals, wait_for

pytestmark = pytest.mark.integration

ANSWER = (
    "<response><thought>keep it</thought><actions>REPLY,SECRET_ACTION</actions>"
    "<providers></providers><text>noted, I will keep it safe</text></response>"
)


class Lines(logging.Handler):
    """Every record that reaches the root logger, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter().format(record))


@pytest.fixture
def log_lines() -> AsyncIterator[Lines]:
    handler = Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@pytest.fixture
async def wiretap(servers: Servers) -> AsyncIterator[list[Msg]]:
    """Every core NATS message on the server (JetStream publishes and request/replies alike)."""
    nc = await nats.connect(servers.nats.url, name="wiretap")
    seen: list[Msg] = []

    async def keep(msg: Msg) -> None:
        seen.append(msg)

    await nc.subscribe(">", cb=keep)
    await nc.flush()
    yield seen
    await nc.close()


def carries(msg: Msg, text: str) -> bool:
    headers = " ".join(f"{k}:{v}" for k, v in (msg.headers or {}).items())
    return text in msg.subject or text.encode() in msg.data or text in headers


def from_the_test(msg: Msg) -> bool:
    """The test's own input (the user's message with the secret in it), as published and as
    JetStream delivers it to the orchestrator: not something the orchestrator sent."""
    inbound_delivery = (msg.reply or "").startswith(f"$JS.ACK.{subjects.MESSAGES_STREAM}.")
    return msg.subject == subjects.MESSAGE_RECEIVED or inbound_delivery


async def stored_messages(js: Any, stream: str) -> list[tuple[str, bytes]]:
    """(subject, body) of every message a stream holds."""
    info = await js.stream_info(stream)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(stream, seq)
        found.append((msg.subject, msg.data or b""))
    return found


async def remote_parts(nc: NatsClient, received: list[str]) -> list[Any]:
    """Serve the remote provider and action the secret plugin calls; `received` collects the
    message text each request carried."""

    async def provide(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
        received.append(f"provider:{message.text}")
        return ProviderResult(text="remote context")

    async def act(runtime: Runtime, message: Memory, *rest: Any) -> None:
        received.append(f"action:{message.text}")

    view = cast(Runtime, None)  # neither part uses the runtime
    return [
        await serve_providers(nc, [Provider(name=SECRET_PROVIDER, get=provide)], view),
        await serve_actions(nc, [Action(name=SECRET_ACTION, handler=act)], view),
    ]


async def test_a_characters_secret_leaves_the_orchestrator_nowhere(
    servers: Servers, wiretap: list[Msg], log_lines: Lines
) -> None:
    received: list[str] = []
    serving = await remote_parts(servers.client.nc, received)
    try:
        await servers.start_worker(ScriptedModel({ModelType.TEXT_LARGE: [ANSWER]}))
        await servers.start_orchestrator([secret_character()])
        await servers.client.publish(direct_message(f"my key is {SECRET}, keep it safe"))
        await servers.client.js.publish(
            subjects.MESSAGE_RECEIVED,
            f'{{"broken": "{SECRET}"'.encode(),
            headers={"Nats-Msg-Id": "broken"},
        )
        await wait_for(lambda: equals(servers.stored(subjects.message_sent("test")), 1))
        await wait_for(lambda: equals(servers.stored(subjects.MESSAGE_DLQ), 1))
        await wait_for(servers.idle)
    finally:
        for server in serving:
            await server.stop()

    # the secret went everywhere (else this test would prove nothing) ...
    assert sorted(r.split(":", 1)[0] for r in received) == ["action", "provider"]
    assert all(REDACTED in r for r in received)
    model_requests = [m for m in wiretap if m.subject.startswith(f"{subjects.MODEL_PREFIX}.")]
    assert any(REDACTED.encode() in m.data for m in model_requests)
    assert any(m.subject == subjects.event(SECRET_EVENT) for m in wiretap)
    assert any(REDACTED in line for line in log_lines.lines)

    # ... and came out nowhere: not in the log of events,
    rows = await servers.pool.fetch("SELECT type, data::text AS d, metadata::text AS m FROM events")
    assert [r["type"] for r in rows if SECRET in r["d"] or SECRET in r["m"]] == []
    assert {"memory.created", "provider.failed", "message.rejected"} <= {
        r["type"] for r in rows if REDACTED in r["d"]
    }
    # nor on the bus,
    leaked = [m.subject for m in wiretap if carries(m, SECRET) and not from_the_test(m)]
    assert leaked == []
    # nor stored in a stream (only the test's two inbound messages hold it),
    stored = await stored_messages(servers.client.js, subjects.MESSAGES_STREAM)
    stored += await stored_messages(servers.client.js, subjects.EVENTS_STREAM)
    holding = [subject for subject, body in stored if SECRET.encode() in body]
    assert holding == [subjects.MESSAGE_RECEIVED] * 2
    # nor in a log line
    assert [line for line in log_lines.lines if SECRET in line] == []
