"""The orchestrator's partition loops: one pull loop per partition of `message.received`.

The router (services/orchestrator/router.py, on a thread of its own) copies every
`message.received` into `message.partition.<n>` in publish order. A partition's loop pulls its
next message only once the last one is acknowledged (its consumer allows one unacknowledged
message), holds it with in-progress heartbeats while it waits for a free run slot and while it
runs, retries a failed run in place (so no later message of the partition overtakes it), and
acknowledges it once its effects are committed and published. Different partitions run at once,
up to `max_concurrent_runs` per process, and any number of processes pull the same consumers.
The pulling helpers here (`bind`, `next_message`, `still_ours`) serve the router too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from shared import subjects
from shared.bus.jetstream_retry import (
    PUBLISH_ATTEMPT_TIMEOUT_SECONDS,
    PUBLISH_PATIENCE_SECONDS,
    retry_while_unavailable,
)

log = logging.getLogger(__name__)

RECEIVED_SEQUENCE_HEADER = "Elizabus-Received-Seq"
"""On a partition's copy: the `message.received` stream sequence of the original message."""

POLL_SECONDS = 5.0
"""How long one pull request waits for a message before it is renewed."""

STALE_MARGIN_SECONDS = 1.0
"""A router that held a message for less than the ack wait minus this cannot have lost it to
another process (JetStream redelivers only after the ack wait), so it skips the check."""

RETRY_PAUSE_SECONDS = 1.0
"""Pause after a pull fails (NATS reconnecting, a consumer being recreated) before the next."""


class RunSlots:
    """At most `size` runs at once in this process; `wait_free` lets a loop pull only when a run
    could start, so a busy process leaves messages to the others."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.busy = 0
        self._changed = asyncio.Condition()

    async def wait_free(self) -> None:
        """Return once fewer than `size` runs are going on."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.busy < self.size)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one run slot for the block (waiting for one first)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.busy < self.size)
            self.busy += 1
        try:
            yield
        finally:
            async with self._changed:
                self.busy -= 1
                self._changed.notify_all()


async def keep_in_progress(msg: Msg, every: float) -> None:
    """Tell JetStream every `every` seconds that `msg` is still being worked on (until
    cancelled), so it is not given to another process meanwhile."""
    while True:
        await asyncio.sleep(every)
        try:
            await msg.in_progress()
        except Exception as exc:  # a lost heartbeat only risks a redelivery, which is harmless
            log.debug("in-progress heartbeat failed: %r", exc)


Handler = Callable[[Msg], Awaitable[None]]
"""Handles one held message to its end (its effects committed and published, or it was
dead-lettered); the loop then acknowledges it. An exception hands it back to JetStream."""


class PullLoops:
    """Runs the partition loops of one process until `stop`."""

    def __init__(
        self,
        js: JetStreamContext,
        handle: Handler,
        *,
        partitions: int,
        max_concurrent_runs: int,
        ack_wait: float,
        scrub: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.js = js
        self.scrub = scrub
        self.handle = handle
        self.partitions = partitions
        self.ack_wait = ack_wait
        self.slots = RunSlots(max_concurrent_runs)
        self._tasks: list[asyncio.Task[None]] = []
        self._held: set[asyncio.Task[None]] = set()
        self._subs: list[JetStreamContext.PullSubscription] = []
        self._running = False

    def start(self) -> None:
        """Start pulling every partition."""
        self._running = True
        for number in range(self.partitions):
            task = asyncio.create_task(self._serve(number), name=f"partition-{number}")
            self._tasks.append(task)

    async def stop(self, deadline: float) -> None:
        """Stop pulling at once, let the runs in flight finish for up to `deadline` seconds, then
        cancel the rest (their messages are handed back to JetStream for another process)."""
        self._running = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._held:
            _, late = await asyncio.wait(set(self._held), timeout=deadline)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        # Dropped rather than left to the connection's drain: nats-py counts a stale status
        # message a pull finds in its queue (one left by a consumer without a leader) as never
        # processed, and a drain would wait its whole timeout for it. Unacked messages go back
        # to JetStream after the ack wait either way.
        subs, self._subs = self._subs, []
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    # --- the partitions ---------------------------------------------------------------------

    async def _serve(self, number: int) -> None:
        sub = await bind(self.js, subjects.partition_durable(number), subjects.PARTITIONS_STREAM)
        self._subs.append(sub)
        while self._running:
            await self.slots.wait_free()
            msg = await next_message(sub, subjects.partition_durable(number), self.running)
            if msg is None:
                continue
            # held in its own task, so stop() can wait for it without cutting a run in half
            durable = subjects.partition_durable(number)
            task = asyncio.create_task(self._hold(msg, durable), name=f"run-{durable}")
            self._held.add(task)
            task.add_done_callback(self._held.discard)
            await asyncio.shield(task)

    async def _hold(self, msg: Msg, durable: str) -> None:
        fetched = time.monotonic()
        beat = asyncio.create_task(keep_in_progress(msg, max(self.ack_wait / 3, 0.2)))
        done = False
        try:
            async with self.slots.slot():
                await self.handle(msg)
            done = True
            await self.ack_if_still_ours(msg, durable, held_since=fetched)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("a delivery failed unexpectedly: JetStream will deliver it again")
        finally:
            beat.cancel()
            if not done:  # hand it back now rather than after the ack wait
                with contextlib.suppress(Exception):
                    await msg.nak()

    async def ack_if_still_ours(
        self, msg: Msg, durable: str, held_since: float | None = None
    ) -> None:
        """Acknowledge `msg` unless JetStream has since given it to another process.

        A process that stalled past the ack wait (a long pause, a cut from NATS) still holds a
        delivery JetStream has handed to another process; its late ack would still count and
        release the partition's next message while the other process runs this one, so two
        messages of one conversation would overlap. With one unacknowledged message per
        partition, the consumer's last delivery is this message's current holder: when that is
        not this delivery, the holder acks, not us (our run's commit was a no-op or the holder's
        will be: the run's claim admits one). Held for less than the ack wait (minus a margin)
        since `held_since` (time.monotonic() at the fetch), JetStream cannot have given it away
        yet, and the check's round trip is skipped."""
        held_long = (
            held_since is None
            or time.monotonic() - held_since > self.ack_wait - STALE_MARGIN_SECONDS
        )
        if not held_long or await still_ours(self.js, msg, subjects.PARTITIONS_STREAM, durable):
            await msg.ack()

    def running(self) -> bool:
        """Whether the loops still pull (False once `stop` began)."""
        return self._running


async def still_ours(js: JetStreamContext, msg: Msg, stream: str, durable: str) -> bool:
    """Whether the consumer's last delivery is still `msg`'s (see `PullLoops.ack_if_still_ours`);
    asked again while the consumer has no leader (a cluster electing one), `msg` held."""
    info = await retry_while_unavailable(
        lambda: js.consumer_info(stream, durable, timeout=PUBLISH_ATTEMPT_TIMEOUT_SECONDS),
        f"checking consumer {durable}",
        PUBLISH_PATIENCE_SECONDS,
    )
    ours = msg.metadata.sequence.consumer
    if info.delivered.consumer_seq == ours:
        return True
    log.warning("a message of %s was given to another orchestrator while this one held it "
                "(delivery %d, now %d): leaving it to that one", durable, ours,
                info.delivered.consumer_seq)  # fmt: skip
    return False


async def bind(
    js: JetStreamContext, durable: str, stream: str
) -> JetStreamContext.PullSubscription:
    """A pull subscription bound to the durable consumer, retried until it exists."""
    while True:
        try:
            return await js.pull_subscribe_bind(durable, stream)
        except (nats.errors.Error, OSError) as exc:
            log.warning("cannot bind to consumer %s (%r): retrying", durable, exc)
            await asyncio.sleep(RETRY_PAUSE_SECONDS)


async def next_message(
    sub: JetStreamContext.PullSubscription, name: str, running: Callable[[], bool]
) -> Msg | None:
    """The consumer's next message, or None when none came or the pull failed (after a
    pause: NATS reconnecting, a cluster electing a leader)."""
    try:
        msgs = await sub.fetch(1, timeout=POLL_SECONDS)
    except (TimeoutError, nats.errors.TimeoutError):
        return None
    except (nats.errors.Error, nats.js.errors.Error, OSError) as exc:
        if running():
            log.warning("pulling from consumer %s failed: %r", name, exc)
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
        return None
    return msgs[0] if msgs else None
