"""NATS request/reply with a short second chance on "no responders".

nats-server can answer "no responders" to a request sent just after another connection
subscribed (seen here at about 1 in 1,000 requests right after a subscribe and flush). A
responder that is really absent stays absent, so retrying a few times over some tens of
milliseconds costs nothing in that case and removes the race in the other.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

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
    for the NATS error (a closed connection, a body over the server's max_payload).
    """

    error: type[ElizabusError]
    absent: str
    timed_out: str
    failed: str
    absent_error: type[ElizabusError] | None = None


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
    try:
        return await request(nc, subject, body, timeout, retries=retries)
    except nats.errors.NoRespondersError as exc:
        raise (errors.absent_error or errors.error)(errors.absent) from exc
    except nats.errors.TimeoutError as exc:
        raise errors.error(errors.timed_out) from exc
    except nats.errors.Error as exc:
        raise errors.error(errors.failed.format(exc=f"{type(exc).__name__}: {exc}")) from exc
