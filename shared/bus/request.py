"""NATS request/reply with a short second chance on "no responders".

nats-server can answer "no responders" to a request sent just after another connection
subscribed (seen here at about 1 in 1,000 requests right after a subscribe and flush). A
responder that is really absent stays absent, so retrying a few times over some tens of
milliseconds costs nothing in that case and removes the race in the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from shared.bus.watched_request import Liveness, ReplyInbox, ResponderLostError, watched_request
from shared.errors import ElizabusError

NO_RESPONDER_RETRIES = 3
NO_RESPONDER_DELAY = 0.01


async def request(
    nc: NatsClient,
    subject: str,
    body: bytes,
    timeout: float,
    retries: int = NO_RESPONDER_RETRIES,
    delay: float = NO_RESPONDER_DELAY,
) -> Msg:
    """`nc.request`, retried (doubling `delay`) while the server says nobody listens."""
    for attempt in range(retries + 1):
        try:
            return await nc.request(subject, body, timeout=timeout)
        except nats.errors.NoRespondersError:
            if attempt == retries:
                raise
            await asyncio.sleep(delay * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class RequestErrors:
    """What to raise when a request gets no answer, each message saying what to do next.

    `absent`: nobody listens on the subject (raised as `absent_error`, else `error`);
    `timed_out`: no reply in time; `failed`: the request could not be sent, with `{exc}` standing
    for the NATS error (a closed connection, a body over the server's max_payload); `lost`: the
    responder of a watched request stopped answering, with `{exc}` saying how (raised as
    `lost_error`, else `error`).
    """

    error: type[ElizabusError]
    absent: str
    timed_out: str
    failed: str
    absent_error: type[ElizabusError] | None = None
    lost: str = "the responder stopped answering ({exc})"
    lost_error: type[ElizabusError] | None = None


async def request_or_raise(
    nc: NatsClient,
    subject: str,
    body: bytes,
    timeout: float,
    errors: RequestErrors,
    retries: int = NO_RESPONDER_RETRIES,
) -> Msg:
    """`request`, with NATS's errors turned into elizabus errors (`errors` words them): the one
    place a request/reply caller (model, remote action, remote provider) maps them."""
    return await _raising(request(nc, subject, body, timeout, retries=retries), errors)


async def watched_request_or_raise(
    inbox: ReplyInbox,
    subject: str,
    body: bytes,
    timeout: float,
    liveness: Liveness,
    errors: RequestErrors,
    retries: int = NO_RESPONDER_RETRIES,
) -> Msg:
    """`watched_request` (acceptance and keep-alives, see `shared.bus.watched_request`), with
    NATS's errors turned into elizabus errors as `request_or_raise` does; a responder that
    stopped answering raises `errors.lost_error`."""
    answer = watched_request(
        inbox, subject, body, timeout, liveness, retries=retries, delay=NO_RESPONDER_DELAY
    )
    return await _raising(answer, errors)


async def _raising(answer: Awaitable[Msg], errors: RequestErrors) -> Msg:
    try:
        return await answer
    except ResponderLostError as exc:
        lost = errors.lost.format(exc=exc)
        raise (errors.lost_error or errors.error)(lost) from exc
    except nats.errors.NoRespondersError as exc:
        raise (errors.absent_error or errors.error)(errors.absent) from exc
    except nats.errors.TimeoutError as exc:
        raise errors.error(errors.timed_out) from exc
    except nats.errors.Error as exc:
        raise errors.error(errors.failed.format(exc=f"{type(exc).__name__}: {exc}")) from exc
