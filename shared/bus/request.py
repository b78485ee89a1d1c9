"""NATS request/reply with a short second chance on "no responders".

nats-server can answer "no responders" to a request sent just after another connection
subscribed (seen here at about 1 in 1,000 requests right after a subscribe and flush). A
responder that is really absent stays absent, so retrying a few times over some tens of
milliseconds costs nothing in that case and removes the race in the other.
"""

from __future__ import annotations

import asyncio

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

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
