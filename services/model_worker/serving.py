"""How a model worker holds its requests: accepted on receipt, kept alive, answered, drained.

A request that asks for it (header `Elizabus-Keepalive`, see `shared.bus.watched_request`) is
accepted at once on its reply inbox, before it waits for a free slot, and gets a keep-alive every
`keepalive_seconds` until its answer is sent: the orchestrator then tells a worker that died or
stalled (silence) from one that is busy or slow (keep-alives), and sends a lost request again
within seconds instead of waiting its whole attempt timeout. Requests without the header (plain
`nc.request`) just get their answer.

Each subject runs at most `max_concurrency` requests at once; up to `max_waiting` more wait for a
slot, accepted and kept alive; beyond that a request is refused at once with a busy error (not
permanent), so the orchestrator tries another worker, or fails the run for a later retry, instead
of queueing behind an overloaded one until its attempt times out. `drain()` lets the requests in
hand finish at a stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from shared.bus.watched_request import wants_keepalive, working_headers
from shared.messages import ModelResponse
from shared.model_types import ModelType
from shared.model_wire import ModelHandler, serve_model_request

__all__ = ["DEFAULT_KEEPALIVE_SECONDS", "DEFAULT_MAX_WAITING", "HeldRequests"]

log = logging.getLogger(__name__)

DEFAULT_KEEPALIVE_SECONDS = 1.0
DEFAULT_MAX_WAITING = 256
"""Requests of one subject that may wait for a slot when `max_waiting` is not given: a burst of
hundreds of conversations is queued, a flood is refused."""


class HeldRequests:
    """The requests one worker holds, from receipt to answer (see the module docstring)."""

    def __init__(
        self,
        handler: ModelHandler,
        max_concurrency: int,
        keepalive_seconds: float = DEFAULT_KEEPALIVE_SECONDS,
        max_waiting: int | None = None,
    ) -> None:
        self.handler = handler
        self.max_concurrency = max(1, max_concurrency)
        self.max_waiting = DEFAULT_MAX_WAITING if max_waiting is None else max_waiting
        self._held_on: dict[str, int] = {}
        self.keepalive_seconds = keepalive_seconds
        self._nc: NatsClient | None = None
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._kept_alive: dict[int, str] = {}
        self._ids = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._beat: asyncio.Task[None] | None = None

    @property
    def held(self) -> int:
        """How many requests this worker holds (running or waiting for a slot)."""
        return len(self._tasks)

    @property
    def started(self) -> bool:
        """Whether `start` gave it a connection to answer on."""
        return self._nc is not None

    def start(self, nc: NatsClient) -> None:
        """Answer on `nc` from now on, and send keep-alives."""
        self._nc = nc
        if self._beat is None:
            self._beat = asyncio.create_task(self._keep_alive(), name="model-keepalive")

    async def receive(self, msg: Msg, model_type: ModelType) -> None:
        """Take one request: accept it now (if asked), run it in its own task."""
        nc = self._nc
        if nc is None:
            raise RuntimeError("HeldRequests.start(nc) was not called")  # a programming error
        held_here = self._held_on.get(msg.subject, 0)
        if held_here >= self.max_concurrency + self.max_waiting:
            await self._refuse_busy(nc, msg, model_type, held_here)
            return
        self._held_on[msg.subject] = held_here + 1
        request_id = next(self._ids)
        if wants_keepalive(msg):
            self._kept_alive[request_id] = msg.reply
            await self._working(nc, msg.reply)
        task = asyncio.create_task(self._answer(nc, msg, model_type, request_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, nc: NatsClient, msg: Msg, model_type: ModelType, rid: int) -> None:
        try:
            async with self._slot(msg.subject):
                body = await serve_model_request(self.handler, msg.data, model_type)
        finally:
            self._kept_alive.pop(rid, None)  # no keep-alive after (or instead of) the answer
            self._held_on[msg.subject] -= 1
        if not msg.reply:
            return
        try:
            await nc.publish(msg.reply, body)
        except (nats.errors.Error, OSError) as exc:
            log.warning("could not send the %s answer (%s): the requester tries again",
                        model_type.value, exc)  # fmt: skip

    async def _refuse_busy(
        self, nc: NatsClient, msg: Msg, model_type: ModelType, held_here: int
    ) -> None:
        """Answer at once that this worker is too busy to take `msg` (a transient error)."""
        log.warning("refused a %s request: %d held here (%d at once, %d waiting)",
                    model_type.value, held_here, self.max_concurrency,
                    self.max_waiting)  # fmt: skip
        if not msg.reply:
            return
        body = ModelResponse(
            ok=False,
            provider=self.handler.provider,
            error=(
                f"worker busy: it holds {held_here} {model_type.value} requests ("
                f"{self.max_concurrency} at once, {self.max_waiting} waiting); try another "
                "worker or later: start more workers or raise ELIZABUS_MODEL_WORKER_MAX_WAITING"
            ),
        ).model_dump_json()
        with contextlib.suppress(nats.errors.Error, OSError):
            await nc.publish(msg.reply, body.encode())

    def _slot(self, subject: str) -> asyncio.Semaphore:
        slots = self._slots.get(subject)
        if slots is None:
            slots = self._slots[subject] = asyncio.Semaphore(self.max_concurrency)
        return slots

    async def _working(self, nc: NatsClient, reply: str) -> None:
        with contextlib.suppress(nats.errors.Error, OSError):  # reconnecting: the next beat
            await nc.publish(reply, b"", headers=working_headers(self.keepalive_seconds))

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive_seconds)
            nc = self._nc
            if nc is None:
                continue
            for reply in list(self._kept_alive.values()):
                await self._working(nc, reply)

    async def drain(self, deadline: float) -> None:
        """Let the requests in hand finish (kept alive meanwhile) for up to `deadline` seconds,
        then cancel the rest (their requesters notice the silence and send them again)."""
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=deadline)
            for task in late:
                task.cancel()
            if late:
                log.warning("stopped with %d model request(s) unanswered after %gs: their "
                            "requesters send them again", len(late), deadline)  # fmt: skip
                await asyncio.wait(late)
        beat, self._beat = self._beat, None
        if beat is not None:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
