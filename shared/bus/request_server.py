"""Answer request/reply subjects with async functions: one task per request, clean stop.

Remote actions, remote providers (and anything else served over NATS request/reply) share this.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

log = logging.getLogger(__name__)

Answer = Callable[[bytes], Awaitable[bytes]]


@dataclass(frozen=True)
class Endpoint:
    """One subject served: requests in a queue group answered by `answer` (which never raises)."""

    subject: str
    queue: str
    answer: Answer
    label: str


class RequestServer:
    """Serves endpoints until `stop()`; a slow request never holds up the next one."""

    def __init__(self, nc: NatsClient, endpoints: Sequence[Endpoint]) -> None:
        self.nc = nc
        self.endpoints = list(endpoints)
        self.subscriptions: list[Subscription] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> Self:
        """Subscribe every endpoint; returns once the server has the subscriptions."""
        for endpoint in self.endpoints:
            sub = await self.nc.subscribe(
                endpoint.subject, queue=endpoint.queue, cb=self._callback(endpoint)
            )
            self.subscriptions.append(sub)
        await self.nc.flush()
        return self

    def _callback(self, endpoint: Endpoint) -> Callable[[Msg], Awaitable[None]]:
        async def on_request(msg: Msg) -> None:
            task = asyncio.create_task(self._answer(endpoint, msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return on_request

    async def _answer(self, endpoint: Endpoint, msg: Msg) -> None:
        body = await endpoint.answer(msg.data)
        if not msg.reply:
            log.warning("request to %s has no reply subject; dropped", endpoint.label)
            return
        try:
            await self.nc.publish(msg.reply, body)
        except nats.errors.Error:
            log.exception("could not reply for %s", endpoint.label)

    async def stop(self) -> None:
        """Stop taking requests and finish the ones in flight."""
        subs, self.subscriptions = self.subscriptions, []
        for sub in subs:
            try:
                await sub.unsubscribe()
            except nats.errors.Error:
                log.debug("subscription already closed", exc_info=True)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if not self.nc.is_closed:
            try:
                await self.nc.flush()
            except nats.errors.Error:
                log.debug("could not flush the replies", exc_info=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
