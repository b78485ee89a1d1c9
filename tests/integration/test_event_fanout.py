"""Runtime events fanned out on a real nats-server: the ELIZABUS_EVENTS stream and `event.>`."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import DeliverPolicy, DiscardPolicy, RetentionPolicy

from shared import subjects
from shared.bus.nats_bus import (
    EVENTS_MAX_AGE_SECONDS,
    MESSAGES_MAX_AGE_SECONDS,
    MESSAGES_MAX_BYTES,
    NatsBus,
    ensure_streams,
)
from shared.messages import EmittedEvent
from shared.runtime.event_bus import EventBus, EventType
from shared.runtime.run_scope import in_run
from shared.settings import Settings

pytestmark = pytest.mark.integration

AGENT = uuid.uuid4()
WINDOW = Settings().duplicate_window_seconds
WAIT = 10.0  # upper bound on waiting for a delivery, not a timing assertion


@pytest_asyncio.fixture
async def bus(nats_url: str) -> AsyncIterator[NatsBus]:
    """A NatsBus with the streams ensured, as the orchestrator has at start."""
    bus = await NatsBus.connect(nats_url, name="event-fanout-test")
    await ensure_streams(bus.js, WINDOW)
    yield bus
    await bus.close()


@pytest_asyncio.fixture
async def listener(nats_url: str) -> AsyncIterator[Client]:
    """A separate connection, as another service reading the events would have."""
    nc = await nats.connect(nats_url, name="event-listener")
    yield nc
    await nc.drain()


async def next_of_run(sub: Subscription, run_id: uuid.UUID) -> Msg:
    """The next message on `sub` emitted in run `run_id` (skips any other test's events)."""
    while True:
        msg = await sub.next_msg(timeout=WAIT)
        if json.loads(msg.data)["run_id"] == str(run_id):
            return msg


async def test_ensure_streams_creates_and_updates_the_events_stream(bus: NatsBus) -> None:
    info = await bus.js.stream_info(subjects.EVENTS_STREAM)
    assert info.config.subjects == ["event.>"]
    assert info.config.retention == RetentionPolicy.LIMITS
    assert info.config.max_age == EVENTS_MAX_AGE_SECONDS

    await ensure_streams(bus.js, WINDOW, events_max_age_seconds=3600.0)
    info = await bus.js.stream_info(subjects.EVENTS_STREAM)
    assert info.config.max_age == 3600.0
    assert info.config.duplicate_window == 3600.0  # never longer than the max age

    await ensure_streams(bus.js, WINDOW)  # back to the default, for the other tests
    info = await bus.js.stream_info(subjects.EVENTS_STREAM)
    assert info.config.max_age == EVENTS_MAX_AGE_SECONDS
    messages = await bus.js.stream_info(subjects.MESSAGES_STREAM)
    assert messages.config.duplicate_window == WINDOW


async def test_ensure_streams_bounds_the_messages_stream_also_when_it_already_exists(
    bus: NatsBus,
) -> None:
    info = await bus.js.stream_info(subjects.MESSAGES_STREAM)
    assert subjects.MESSAGE_DLQ in info.config.subjects  # the dead letters share its limits
    assert info.config.max_age == MESSAGES_MAX_AGE_SECONDS
    assert info.config.max_bytes == MESSAGES_MAX_BYTES
    assert info.config.discard == DiscardPolicy.OLD

    # a stream made before the limits existed: unbounded
    await bus.js.update_stream(info.config.evolve(max_age=0, max_bytes=-1))
    unbounded = await bus.js.stream_info(subjects.MESSAGES_STREAM)
    assert (unbounded.config.max_age, unbounded.config.max_bytes) == (0, -1)

    await ensure_streams(bus.js, WINDOW, messages_max_age_seconds=600.0, messages_max_bytes=1024**2)
    bounded = await bus.js.stream_info(subjects.MESSAGES_STREAM)
    assert bounded.config.max_age == 600.0
    assert bounded.config.max_bytes == 1024**2
    assert bounded.config.duplicate_window == 600.0  # never longer than the max age

    await ensure_streams(bus.js, WINDOW)  # back to the defaults, for the other tests
    info = await bus.js.stream_info(subjects.MESSAGES_STREAM)
    assert info.config.max_age == MESSAGES_MAX_AGE_SECONDS
    assert info.config.max_bytes == MESSAGES_MAX_BYTES
    assert info.config.duplicate_window == WINDOW


async def test_emitted_event_reaches_core_and_jetstream_subscribers(
    bus: NatsBus, listener: Client
) -> None:
    core = await listener.subscribe("event.>")
    stream = await listener.jetstream().subscribe(
        "event.>",
        stream=subjects.EVENTS_STREAM,
        ordered_consumer=True,  # ephemeral, removed when unsubscribed
        deliver_policy=DeliverPolicy.NEW,
    )
    await listener.flush()

    events = EventBus(AGENT, bus)
    handled: list[dict[str, Any]] = []

    async def handler(params: dict[str, Any]) -> None:
        handled.append(params)

    events.register_event(EventType.MESSAGE_RECEIVED, handler)
    run = uuid.uuid4()
    room = uuid.uuid4()
    params = {"roomId": room, "text": "hello", "callback": handler}

    with in_run(run):
        await events.emit_event(EventType.MESSAGE_RECEIVED, params)

    assert handled == [params]
    expected = {"roomId": str(room), "text": "hello"}
    for sub in (core, stream):
        first = await next_of_run(sub, run)
        assert first.subject == "event.MESSAGE_RECEIVED"
        body = EmittedEvent.model_validate_json(first.data)
        assert body.name == "MESSAGE_RECEIVED"
        assert body.agent_id == AGENT
        assert body.run_id == run
        assert body.params == expected
        assert first.headers is not None and first.headers["Nats-Msg-Id"] == str(body.id)
    await core.unsubscribe()
    await stream.unsubscribe()


async def test_custom_event_is_stored_in_the_stream_once_per_emission(
    bus: NatsBus, listener: Client
) -> None:
    name = f"myplugin:done.{uuid.uuid4().hex[:8]}"
    subject = subjects.event(name)

    events = EventBus(AGENT, bus)
    await events.emit_event([name, name], {"n": 1})  # two emissions of one name

    js = listener.jetstream()
    sub = await js.subscribe(
        subject, stream=subjects.EVENTS_STREAM, ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
    )  # fmt: skip
    got = [EmittedEvent.model_validate_json((await sub.next_msg(timeout=WAIT)).data)]
    got.append(EmittedEvent.model_validate_json((await sub.next_msg(timeout=WAIT)).data))
    await sub.unsubscribe()

    assert subject.startswith("event.myplugin_done_")
    assert [e.name for e in got] == [name, name]
    assert got[0].id != got[1].id
    info = await bus.js.stream_info(subjects.EVENTS_STREAM, subjects_filter=subject)
    assert info.state.subjects == {subject: 2}  # this name's subject: exactly the two


async def test_publish_to_a_subject_without_stream_is_logged_not_raised(
    bus: NatsBus, caplog: pytest.LogCaptureFixture
) -> None:
    await bus.js.delete_stream(subjects.EVENTS_STREAM)
    try:
        events = EventBus(AGENT, bus)
        ran: list[bool] = []

        async def handler(params: dict[str, Any]) -> None:
            ran.append(True)

        events.register_event("E", handler)
        await events.emit_event("E", {})  # no stream answers: logged, not raised
        assert ran == [True]
        [record] = [r for r in caplog.records if "event.E" in r.getMessage()]
        assert record.exc_info is not None
    finally:
        await ensure_streams(bus.js, WINDOW)
