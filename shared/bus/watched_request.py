"""Request/reply that notices a responder dying: acceptance and keep-alives on the reply inbox.

Core NATS request/reply says nothing when the queue subscriber that took a request dies: the
requester waits its whole timeout. A watched request asks the responder, with the request header
`Elizabus-Keepalive`, to answer at once on the reply inbox with a bodiless "working" message
(header `Elizabus-Working`, its value the responder's keep-alive interval in seconds) and to
repeat it every interval until the final answer, which carries no such header. The requester
then gives up on the attempt as soon as

- nobody accepted within `accept_seconds` (only for responders known to accept: workers that
  announce `keepalive_seconds`; for the others the attempt waits for the answer), or
- the keep-alives stopped for `missed_keepalives` intervals (the responder died or stalled),

while a responder that is alive but slow keeps the attempt going up to its `timeout`. A plain
`nc.request` without the header still gets the plain answer only: old clients are unaffected.

`ReplyInbox` is one wildcard subscription per connection (`_INBOX.<id>.*`) that routes every
message to the request waiting on its token, as nats-py's own request mux does for one answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

__all__ = [
    "KEEPALIVE_REQUEST_HEADER",
    "WORKING_HEADER",
    "Liveness",
    "ReplyInbox",
    "ResponderLostError",
    "wants_keepalive",
    "watched_request",
    "working_headers",
    "working_interval",
]

KEEPALIVE_REQUEST_HEADER = "Elizabus-Keepalive"
"""On a request: the requester wants acceptance and keep-alives on its reply inbox."""

WORKING_HEADER = "Elizabus-Working"
"""On a bodiless reply: "accepted / still working"; the value is the keep-alive interval (s)."""

_STATUS = "Status"
_NO_RESPONDERS = "503"


@dataclass(frozen=True)
class Liveness:
    """How a watched request judges its responder.

    `accept_seconds`: how long to wait for the acceptance; None when the responder is not known
    to send one (then only the answer or the timeout ends the attempt, unless a keep-alive came).
    `missed_keepalives`: keep-alive intervals of silence after which the responder counts as lost.
    """

    accept_seconds: float | None = 2.0
    missed_keepalives: int = 3


class ResponderLostError(nats.errors.Error):
    """The responder of a watched request stopped answering before its final reply: it never
    accepted (`accepted` False) or its keep-alives stopped for `silent_seconds`."""

    def __init__(self, accepted: bool, silent_seconds: float) -> None:
        self.accepted = accepted
        self.silent_seconds = silent_seconds
        what = "accepted the request" if not accepted else "sent a keep-alive"
        super().__init__(f"no responder {what} for {silent_seconds:.1f}s")


def working_headers(interval: float) -> dict[str, str]:
    """The headers of an acceptance / keep-alive message from a responder beating every
    `interval` seconds."""
    return {WORKING_HEADER: f"{interval:g}"}


def wants_keepalive(msg: Msg) -> bool:
    """Whether the requester of `msg` asked for acceptance and keep-alives (and can get them)."""
    return bool(msg.reply) and bool(msg.headers) and KEEPALIVE_REQUEST_HEADER in (msg.headers or {})


def working_interval(msg: Msg) -> float | None:
    """The keep-alive interval a "working" message announces; None for any other message."""
    value = (msg.headers or {}).get(WORKING_HEADER)
    if value is None:
        return None
    try:
        interval = float(value)
    except ValueError:
        return 1.0  # a responder of another version: still a sign of life
    return interval if interval > 0 else 1.0


def _no_responders(msg: Msg) -> bool:
    return not msg.data and (msg.headers or {}).get(_STATUS) == _NO_RESPONDERS


class ReplyInbox:
    """One subscription on `<inbox prefix>.<id>.*` routing each reply to the request waiting on
    its token; `open()` a token before publishing, `close()` it when done."""

    def __init__(self, nc: NatsClient) -> None:
        self.nc = nc
        self.prefix = nc.new_inbox()
        self._tokens = itertools.count()
        self._waiting: dict[str, asyncio.Queue[Msg]] = {}
        self._sub: Subscription | None = None

    async def start(self) -> ReplyInbox:
        """Subscribe (once); returns when the server has the subscription."""
        if self._sub is None:
            self._sub = await self.nc.subscribe(f"{self.prefix}.*", cb=self._route)
            await self.nc.flush()
        return self

    async def stop(self) -> None:
        """Unsubscribe; requests still waiting then end by their own deadlines."""
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(nats.errors.Error, OSError):
                await sub.unsubscribe()

    def open(self) -> tuple[str, asyncio.Queue[Msg]]:
        """A fresh reply subject and the queue its messages arrive in."""
        token = f"{next(self._tokens)}"
        queue: asyncio.Queue[Msg] = asyncio.Queue()
        self._waiting[token] = queue
        return f"{self.prefix}.{token}", queue

    def close(self, reply: str) -> None:
        """Stop routing messages for `reply` (late keep-alives are then dropped)."""
        self._waiting.pop(reply.rsplit(".", 1)[-1], None)

    @property
    def waiting(self) -> int:
        """How many requests are waiting on this inbox."""
        return len(self._waiting)

    async def _route(self, msg: Msg) -> None:
        queue = self._waiting.get(msg.subject.rsplit(".", 1)[-1])
        if queue is not None:
            queue.put_nowait(msg)


async def watched_request(
    inbox: ReplyInbox,
    subject: str,
    body: bytes,
    timeout: float,
    liveness: Liveness,
    *,
    retries: int = 3,
    delay: float = 0.01,
) -> Msg:
    """Send `body` on `subject` asking for keep-alives, and return the final answer.

    Raises nats.errors.NoRespondersError when nobody listens (after `retries` re-sends `delay`
    apart, doubling: the race right after a subscribe), nats.errors.TimeoutError when no answer
    came within `timeout` although the responder stayed alive (or never said it was), and
    ResponderLostError when it never accepted or went silent (see the module docstring).
    """
    loop = asyncio.get_running_loop()
    for attempt in range(retries + 1):
        reply, queue = inbox.open()
        try:
            await inbox.nc.publish(
                subject, body, reply=reply, headers={KEEPALIVE_REQUEST_HEADER: "1"}
            )
            return await _await_answer(queue, loop.time(), timeout, liveness)
        except nats.errors.NoRespondersError:
            if attempt == retries:
                raise
        finally:
            inbox.close(reply)
        await asyncio.sleep(delay * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


async def _await_answer(
    queue: asyncio.Queue[Msg], started: float, timeout: float, liveness: Liveness
) -> Msg:
    loop = asyncio.get_running_loop()
    deadline = started + timeout
    accepted = False
    silent_limit: float | None = liveness.accept_seconds
    heard_at = started
    while True:
        limit = deadline if silent_limit is None else min(deadline, heard_at + silent_limit)
        try:
            msg = await asyncio.wait_for(queue.get(), max(0.0, limit - loop.time()))
        except TimeoutError:
            now = loop.time()
            if now >= deadline or silent_limit is None:
                raise nats.errors.TimeoutError from None
            raise ResponderLostError(accepted, now - heard_at) from None
        if _no_responders(msg):
            raise nats.errors.NoRespondersError
        interval = working_interval(msg)
        if interval is None:
            return msg
        accepted = True
        heard_at = loop.time()
        silent_limit = interval * max(1, liveness.missed_keepalives)
