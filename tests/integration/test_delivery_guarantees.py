"""The delivery guarantees, black-box on a real JetStream and Postgres.

A message is acked only once its run is committed and its reply stored; a failed run is retried
in place after a back-off (holding its partition), and dead-lettered at the attempt limit; a run
longer than the ack wait is not handed out again while it is in progress; a crash before or after
the commit neither loses the message nor doubles its effects; several orchestrators share the
work. Everything is observed from outside the orchestrator: JetStream's delivery counts, the
replies stored in the stream, the `events` table, and the calls the model worker received.
"""

from __future__ import annotations

import pytest

from services.orchestrator.faults import CRASH_BEFORE_ACK, CRASH_BEFORE_COMMIT, CRASH_EXIT_CODE
from shared import subjects
from shared.character import Character
from shared.model_types import ModelType
from tests.integration.plugins import WITNESS, handled_by, witness_character
from tests.integration.support import (
    ControlledModel,
    Servers,
    direct_message,
    equals,
    exit_code,
    wait_for,
)

pytestmark = pytest.mark.integration

REPLIES = subjects.message_sent("test")
LARGE = ModelType.TEXT_LARGE


async def replies_stored(servers: Servers, count: int, timeout: float = 30.0) -> None:
    """Wait until the stream holds `count` replies and every delivery was acked."""
    await wait_for(lambda: equals(servers.stored(REPLIES), count), timeout=timeout)
    await wait_for(servers.idle, timeout=timeout)


async def test_a_failed_run_is_retried_after_its_back_off_and_then_answered(
    servers: Servers,
) -> None:
    model = ControlledModel(fail_first={LARGE: 1})
    await servers.start_worker(model)
    await servers.start_orchestrator(retry_delay_seconds=0.5)

    await servers.client.publish(direct_message("answer me despite the hiccup"))
    await replies_stored(servers, 1)

    # retried in place, holding its partition (no later message of the room may overtake it):
    # one delivery, two attempts, the back-off between them
    assert await servers.deliveries() == 1
    first, second = model.times(LARGE)
    assert second - first >= 0.5
    assert await servers.count_events("run.ended") == 1
    assert await servers.count_events("message.rejected") == 0


async def test_a_message_failing_every_delivery_is_dead_lettered_at_the_limit(
    servers: Servers,
) -> None:
    model = ControlledModel(fail_first={LARGE: 1_000})
    await servers.start_worker(model)
    await servers.start_orchestrator(max_deliver=3, retry_delay_seconds=0.2)

    await servers.client.publish(direct_message("this never works"))
    await wait_for(lambda: equals(servers.stored(subjects.MESSAGE_DLQ), 1), timeout=30)
    await wait_for(servers.idle)

    assert await servers.deliveries() == 1  # every attempt in place, on the one delivery
    assert model.count(LARGE) == 3  # the limit's attempts, and none after the last
    reasons = await servers.pool.fetch(
        "SELECT data ->> 'reason' AS reason FROM events WHERE type = 'message.rejected'"
    )
    [reason] = [r["reason"] for r in reasons]
    assert "failed 3 times" in reason and "controlled failure 3 of TEXT_LARGE" in reason
    assert await servers.stored(REPLIES) == 0
    assert await servers.count_events("run.started") == 0  # no failed attempt left anything


async def test_a_run_longer_than_the_ack_wait_is_not_redelivered_while_in_progress(
    servers: Servers,
) -> None:
    model = ControlledModel(delay={LARGE: 6.5})  # more than two ack waits
    await servers.start_worker(model)
    # two orchestrators: a message the first stopped holding would be pulled by the second
    await servers.start_orchestrator(ack_wait_seconds=3.0)
    await servers.start_orchestrator(ack_wait_seconds=3.0)

    await servers.client.publish(direct_message("take your time"))
    await replies_stored(servers, 1)

    assert await servers.deliveries() == 1  # the in-progress heartbeat held the ack wait off
    assert model.count(LARGE) == 1


async def test_a_crash_before_the_commit_leaves_nothing_and_the_redelivery_redoes_the_run(
    servers: Servers,
) -> None:
    model = ControlledModel()
    await servers.start_worker(model)
    crashing = await servers.spawn("orchestrator", fault=CRASH_BEFORE_COMMIT)
    await servers.client.publish(direct_message("crash before recording this"))
    assert await exit_code(crashing) == CRASH_EXIT_CODE
    assert model.count(LARGE) == 1  # the run got as far as the model
    assert await servers.count_events("run.started") == 0
    assert await servers.stored(REPLIES) == 0

    await servers.start_orchestrator()  # the message was never acked: JetStream redelivers it
    await replies_stored(servers, 1)

    assert await servers.deliveries() == 2
    assert model.count(LARGE) == 2  # redone from the start
    assert await servers.count_events("run.started") == 1
    assert await servers.count_events("run.ended") == 1
    assert await servers.count_events("message.sent") == 1


async def test_a_crash_after_the_commit_is_redelivered_and_adds_nothing(
    servers: Servers,
) -> None:
    model = ControlledModel()
    await servers.start_worker(model)
    crashing = await servers.spawn("orchestrator", fault=CRASH_BEFORE_ACK)
    await servers.client.publish(direct_message("crash after replying to this"))
    assert await exit_code(crashing) == CRASH_EXIT_CODE
    assert await servers.stored(REPLIES) == 1  # committed and published, never acked
    events = await servers.count_events()
    assert await servers.deliveries() == 1

    await servers.start_orchestrator()
    await wait_for(lambda: equals(servers.deliveries(), 2), timeout=30)  # it came back ...
    await wait_for(servers.idle)  # ... and was acked

    assert await servers.count_events() == events  # the run was found recorded: nothing added
    assert await servers.stored(REPLIES) == 1  # the outbox re-sent, deduplicated by JetStream
    assert model.count(LARGE) == 1  # and nothing ran again


async def test_two_orchestrators_share_the_consumer_and_handle_each_message_once(
    servers: Servers,
) -> None:
    await servers.start_worker()
    character = witness_character()
    # an ack wait longer than the whole batch takes: a message waiting in an orchestrator's
    # buffer is not redelivered, so every delivery below is a message's first
    first = await servers.start_orchestrator([character], ack_wait_seconds=20.0)
    await servers.start_orchestrator(
        [Character.model_validate(character.model_dump())], ack_wait_seconds=20.0
    )
    WITNESS.clear()

    messages = [direct_message(f"message {i}", user=f"user{i}") for i in range(20)]
    for m in messages:
        await servers.client.publish(m)
    await replies_stored(servers, 20)

    assert await servers.deliveries() == 20  # no message went to both
    assert await servers.count_events("run.ended") == 20
    assert len(handled_by()) == 2  # both orchestrators took messages

    await servers.stop(first)  # the other carries on alone
    for i in range(3):
        await servers.client.publish(direct_message(f"after the stop {i}", user=f"late{i}"))
    await replies_stored(servers, 23)
    assert await servers.count_events("run.ended") == 23
