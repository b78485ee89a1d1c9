"""Riding out a JetStream that is briefly unavailable: a cluster electing new leaders.

When a node of a NATS cluster dies, the streams and consumers it led have no leader until the
other nodes elect one, which takes 4 to 9 seconds (nats-server's Raft election timeouts, fixed in
the server). Meanwhile a publish to such a stream fails ("no responders", a 503, or no answer at
all), and so does a stream or consumer request; right after a cluster starts, the first requests
can fail the same way, or with JetStream API error 10005 "no suitable peers for placement" (the
nodes have not all reported to the meta leader yet: a replicated stream or bucket cannot be
placed for a moment). These errors pass: the operation is retried after a short pause until it
succeeds or `patience` runs out. A publish is retried with its `Nats-Msg-Id`, so an attempt that
was stored but whose acknowledgement got lost is stored once (the stream's duplicate window).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats.errors
import nats.js.errors
from nats.js.api import PubAck
from nats.js.client import JetStreamContext

from shared.errors import BusUnavailableError

log = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    nats.js.errors.NoStreamResponseError,  # the stream has no leader (no responders)
    nats.js.errors.ServiceUnavailableError,  # 503: JetStream or its cluster not available yet
    nats.errors.NoRespondersError,
    TimeoutError,  # no answer (nats-py's TimeoutError is one too)
)
"""The errors of a JetStream that is electing a leader or not up yet, worth retrying."""

NO_SUITABLE_PEERS = 10005
"""JetStream API error code "no suitable peers for placement": retried as well."""


_CAUGHT: tuple[type[Exception], ...] = (*TRANSIENT_ERRORS, nats.js.errors.APIError)


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is one of a JetStream briefly unavailable (see the module docstring)."""
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    return isinstance(exc, nats.js.errors.APIError) and exc.err_code == NO_SUITABLE_PEERS


RETRY_PAUSE_SECONDS = 0.25
"""Pause between two attempts."""

PUBLISH_PATIENCE_SECONDS = 20.0
"""How long a durable publish is retried: longer than a cluster's re-election after a node died
(at most about 10 s), short enough that a real outage reaches the caller's own retries."""

PUBLISH_ATTEMPT_TIMEOUT_SECONDS = 2.0
"""How long one publish attempt waits for the stream's acknowledgement (one sent to a leader that
just died is never answered; the retry goes to the next one)."""


async def retry_while_unavailable(
    operation: Callable[[], Awaitable[T]], what: str, patience: float
) -> T:
    """Await `operation()`, again after a short pause while it fails with one of
    `TRANSIENT_ERRORS` or "no suitable peers" (`is_transient`), for up to `patience` seconds;
    then BusUnavailableError. `what` names the operation in logs and the error. Other errors are
    raised at once."""
    deadline = time.monotonic() + patience
    failures = 0
    while True:
        try:
            result = await operation()
        except _CAUGHT as exc:
            if not is_transient(exc):
                raise
            failures += 1
            if time.monotonic() + RETRY_PAUSE_SECONDS > deadline:
                raise BusUnavailableError(
                    f"{what}: JetStream did not answer for {patience:g}s (last error {exc!r}); "
                    "check that the NATS servers run (a majority of a cluster's nodes) and read "
                    "their logs"
                ) from exc
            (log.warning if failures == 1 else log.debug)(
                "%s: JetStream unavailable (%r), retrying", what, exc
            )
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
            continue
        if failures:
            log.info("%s: succeeded after %d failed attempt(s)", what, failures)
        return result


async def publish_patiently(
    js: JetStreamContext,
    subject: str,
    body: bytes,
    msg_id: str,
    headers: dict[str, str] | None = None,
    *,
    patience: float = PUBLISH_PATIENCE_SECONDS,
) -> PubAck:
    """Store `body` on `subject` in JetStream, deduplicated by `msg_id`, retrying while the
    stream is briefly unavailable (see the module docstring)."""
    all_headers = {**(headers or {}), "Nats-Msg-Id": msg_id}
    return await retry_while_unavailable(
        lambda: js.publish(
            subject, body, timeout=PUBLISH_ATTEMPT_TIMEOUT_SECONDS, headers=all_headers
        ),
        f"publishing to {subject}",
        patience,
    )
