"""The router: copies each `message.received` into its partition, in publish order, on a thread
of its own.

Adapters publish `message.received`; the router consumer (`router`, shared by every
orchestrator process) allows one unacknowledged message, so whichever process holds it copies it
to `message.partition.<n>` (n from the conversation, shared/partitions.py) and acknowledges it
before the next one is handed out: every message of one conversation lands in its partition in
publish order, however many processes route.

Every message waits for the router, so its latency is every message's. On the run loop it
waited behind the runs' CPU work (prompts, JSON, the database driver): 25-35 ms mean and
160-260 ms at p95 with 20 busy rooms. `RouterThread` gives it its own event loop and NATS
connection on a thread, so it waits at most for the interpreter's thread switch: 6-15 ms mean
(docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from services.orchestrator.pull_loops import (
    RECEIVED_SEQUENCE_HEADER,
    RETRY_PAUSE_SECONDS,
    STALE_MARGIN_SECONDS,
    bind,
    keep_in_progress,
    next_message,
    still_ours,
)
from shared import subjects
from shared.bus.jetstream_retry import publish_patiently
from shared.partitions import conversation_key, partition_of

log = logging.getLogger(__name__)

THREAD_STOP_SECONDS = 10.0
"""How long `RouterThread.stop` waits for the thread to close its connection and end."""


class Router:
    """Routes `message.received` one message at a time until `stop` (on whatever loop runs it)."""

    def __init__(
        self,
        js: JetStreamContext,
        *,
        partitions: int,
        ack_wait: float,
        scrub: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.js = js
        self.partitions = partitions
        self.ack_wait = ack_wait
        self.scrub = scrub
        self._running = True

    def running(self) -> bool:
        """Whether the router still pulls."""
        return self._running

    def stop(self) -> None:
        """Pull no more (a copy in progress is finished or cut; either is safe: see `route`)."""
        self._running = False

    async def run(self) -> None:
        """Pull and route until `stop`."""
        sub = await bind(self.js, subjects.ROUTER_DURABLE, subjects.MESSAGES_STREAM)
        try:
            while self._running:
                msg = await next_message(sub, subjects.ROUTER_DURABLE, self.running)
                if msg is None:
                    continue
                try:
                    await self.route(msg)
                except Exception as exc:  # not acked: JetStream gives it again after the ack wait
                    log.warning("routing a message failed, it will be routed again: %r", exc)
                    await asyncio.sleep(RETRY_PAUSE_SECONDS)
        finally:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # the connection may be gone already
                log.debug("router unsubscribe: %r", exc)

    async def route(self, msg: Msg) -> None:
        """Copy one `message.received` to its partition, then acknowledge it. The copy's
        Nats-Msg-Id is the original's stream sequence, so a second routing of the same message
        (a redelivery after a crash, a retried publish) is dropped by JetStream. While the
        partition stream has no leader (a cluster node died), the copy is retried in place with
        the message held. A router that took nearly the ack wait (it stalled, or waited for the
        election) checks it still holds the message before acking, as partitions do."""
        fetched = time.monotonic()
        sequence = msg.metadata.sequence.stream
        number = partition_of(conversation_key(msg.data), self.partitions)
        headers = {k: v for k, v in (msg.headers or {}).items() if not k.startswith("Nats-")}
        headers[RECEIVED_SEQUENCE_HEADER] = str(sequence)
        body = self.scrub(msg.data) if self.scrub is not None else msg.data
        beat = asyncio.create_task(keep_in_progress(msg, max(self.ack_wait / 3, 0.2)))
        try:
            await publish_patiently(
                self.js, subjects.partition(number), body, f"route:{sequence}", headers
            )
        finally:
            beat.cancel()
        # a late copy is harmless (its Nats-Msg-Id drops it); a late ack would let the next
        # message be routed before the current holder's copy of this one
        held_long = time.monotonic() - fetched > self.ack_wait - STALE_MARGIN_SECONDS
        if held_long and not await still_ours(
            self.js, msg, subjects.MESSAGES_STREAM, subjects.ROUTER_DURABLE
        ):
            return
        await msg.ack()


class RouterThread:
    """A `Router` on a thread with its own event loop and NATS connection (`connect` opens it),
    so routing does not wait for the runs on the process's main loop. `start` returns once the
    thread runs; `stop` ends it and closes its connection."""

    def __init__(
        self,
        connect: Callable[[], Coroutine[Any, Any, Client]],
        *,
        partitions: int,
        ack_wait: float,
        scrub: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self._connect = connect
        self._partitions = partitions
        self._ack_wait = ack_wait
        self._scrub = scrub
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._router: Router | None = None
        self._started = threading.Event()

    def start(self) -> None:
        """Start the thread (it connects, then routes until `stop`)."""
        self._thread = threading.Thread(target=self._main, name="elizabus-router", daemon=True)
        self._thread.start()
        self._started.wait()

    async def stop(self) -> None:
        """Stop routing, close the router's connection and wait for the thread to end."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        self._thread = None
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # its loop ended meanwhile
                loop.call_soon_threadsafe(stopping.set)
        await asyncio.to_thread(thread.join, THREAD_STOP_SECONDS)
        if thread.is_alive():
            log.warning("the router thread did not end within %gs", THREAD_STOP_SECONDS)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception:
            log.exception("the router thread failed: this process routes no more messages "
                          "(the other orchestrators still do); restart it")  # fmt: skip

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = stopping = asyncio.Event()
        self._started.set()
        waiting = asyncio.create_task(stopping.wait())
        connecting = asyncio.create_task(self._connect())
        await asyncio.wait({connecting, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not connecting.done():  # stopped before NATS answered
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
            return
        nc = connecting.result()
        try:
            self._router = router = Router(
                nc.jetstream(), partitions=self._partitions, ack_wait=self._ack_wait,
                scrub=self._scrub,
            )  # fmt: skip
            routing = asyncio.create_task(router.run(), name="router")
            await asyncio.wait({routing, waiting}, return_when=asyncio.FIRST_COMPLETED)
            router.stop()
            if not routing.done():
                routing.cancel()
            await asyncio.gather(routing, return_exceptions=True)
            if not routing.cancelled() and routing.exception() is not None:
                raise routing.exception()  # type: ignore[misc]
        finally:
            waiting.cancel()
            await nc.close()
