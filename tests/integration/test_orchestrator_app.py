"""What the orchestrator app promises beyond a message's run, on real servers: it starts its
agents' task schedulers, honours IGNORE_BOOTSTRAP, turns any source into a clean
`message.sent.<source>` subject, and takes over the consumer an older version left."""

from __future__ import annotations

import nats.js.errors
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from shared import subjects
from shared.character import Character
from shared.model_types import ModelType
from tests.integration.plugins import TICKS
from tests.integration.support import (
    ControlledModel,
    Servers,
    direct_message,
    equals,
    wait_for,
)

pytestmark = pytest.mark.integration


async def test_the_app_runs_queued_tasks(servers: Servers) -> None:
    TICKS.clear()
    character = Character(name="Ticker", plugins=["tests.integration.plugins:ticking_plugin"])
    await servers.start_worker()
    await servers.start_orchestrator([character])

    await wait_for(lambda: equals(servers.count_events("task.executed"), 1), timeout=20)
    [task] = await servers.pool.fetch("SELECT data FROM events WHERE type = 'task.created'")
    assert [str(t) for t in TICKS] == [task["data"]["id"]]


async def test_a_character_that_ignores_bootstrap_runs_only_its_own_plugins(
    servers: Servers,
) -> None:
    model = ControlledModel()
    await servers.start_worker(model)
    echo = Character(
        name="Echo",
        settings={"IGNORE_BOOTSTRAP": "true"},
        plugins=["tests.integration.plugins:echo_plugin"],
    )
    await servers.start_orchestrator([echo])

    reply = await servers.client.send("hello?", timeout=30)

    assert reply.content.text == "echo: hello?"
    assert model.count(ModelType.TEXT_LARGE) == 0  # no bootstrap message handler ran
    assert await servers.count_events("memory.created") == 1  # only the reply, not the message
    [ended] = await servers.pool.fetch("SELECT data FROM events WHERE type = 'run.ended'")
    assert ended["data"]["status"] == "completed"


async def test_a_reply_to_an_odd_source_lands_on_a_clean_subject(servers: Servers) -> None:
    await servers.start_worker()
    await servers.start_orchestrator()
    source = "team chat.v2 > *"

    await servers.client.publish(direct_message("hi from an odd place", source=source))

    subject = "message.sent.team_chat_v2____"
    assert subjects.message_sent(source) == subject
    await wait_for(lambda: equals(servers.stored(subject), 1))
    await wait_for(servers.idle)
    stored = await servers.client.js.stream_info(
        subjects.MESSAGES_STREAM, subjects_filter=f"{subjects.MESSAGE_SENT_PREFIX}.>"
    )
    assert stored.state.subjects == {subject: 1}


async def test_an_old_consumer_is_taken_over_and_the_apps_consumers_get_its_limits(
    servers: Servers,
) -> None:
    old = ConsumerConfig(
        durable_name=subjects.ORCHESTRATOR_DURABLE, deliver_subject="old.inbox",
        deliver_group=subjects.ORCHESTRATOR_DURABLE, filter_subject=subjects.MESSAGE_RECEIVED,
        max_deliver=6, ack_wait=10, ack_policy=AckPolicy.EXPLICIT,
    )  # fmt: skip
    await servers.client.js.add_consumer(subjects.MESSAGES_STREAM, old)
    await servers.start_worker()
    await servers.start_orchestrator(ack_wait_seconds=7.0, max_deliver=4, partitions=4)

    with pytest.raises(nats.js.errors.NotFoundError):  # the router replaced it
        await servers.client.js.consumer_info(
            subjects.MESSAGES_STREAM, subjects.ORCHESTRATOR_DURABLE
        )
    router = await servers.client.js.consumer_info(
        subjects.MESSAGES_STREAM, subjects.ROUTER_DURABLE
    )
    partitions = await servers.received_consumers()
    assert router.config.ack_wait == 7.0 and len(partitions) == 4
    assert all(p.config.ack_wait == 7.0 and p.config.max_ack_pending == 1 for p in partitions)
    reply = await servers.client.send("still served after the take-over?", timeout=30)
    assert reply.content.text
