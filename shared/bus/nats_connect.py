"""Connecting to NATS: one server or a cluster's several, reconnecting for as long as we run.

`ELIZABUS_NATS_URL` holds one URL or several, comma-separated (`nats://a:4222,nats://b:4222`):
the nodes of a cluster. Every connection elizabus opens (orchestrator, model worker, CLI) gets
them all, so when the node it is connected to dies it moves to another at once, and it keeps
trying for as long as the process runs (a NATS outage is waited out, not fatal).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client

from shared.errors import BusUnavailableError, ConfigurationError

log = logging.getLogger(__name__)


async def _on_error(exc: Exception) -> None:
    # nats-py's default logs every failed reconnect attempt as an ERROR with a traceback
    log.warning("NATS connection: %r", exc)


async def _on_disconnected() -> None:
    log.info("NATS connection: disconnected (closing, or reconnecting to another server)")


async def _on_reconnected() -> None:
    log.warning("NATS connection: reconnected")


RECONNECT_OPTIONS: dict[str, Any] = {
    "max_reconnect_attempts": -1,
    "error_cb": _on_error,
    "disconnected_cb": _on_disconnected,
    "reconnected_cb": _on_reconnected,
}
"""nats-py connect options of every long-lived connection: reconnect forever (nats-py tries the
other servers of the list at once, and one server again after `reconnect_time_wait`), and say
so in the log in one line."""


def server_urls(url: str) -> list[str]:
    """The server URLs in `url`: one, or several separated by commas (a cluster's nodes)."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise ConfigurationError(
            f"no NATS server URL in {url!r}: set ELIZABUS_NATS_URL to nats://HOST:PORT, or to "
            "several of them separated by commas for a cluster"
        )
    return servers


async def connect_nats(
    url: str,
    name: str,
    *,
    first_connect_timeout: float | None = None,
    on_disconnect: Callable[[], Awaitable[None]] | None = None,
) -> Client:
    """A NATS connection to the server(s) in `url` that reconnects forever.

    The first connection is also retried forever, unless `first_connect_timeout` (seconds) is
    given: then BusUnavailableError is raised when no server accepted it in time (for commands a
    person waits on). `on_disconnect` is also called each time the connection drops."""
    servers = server_urls(url)
    options = dict(RECONNECT_OPTIONS)
    if on_disconnect is not None:
        extra = on_disconnect

        async def disconnected() -> None:
            await _on_disconnected()
            await extra()

        options["disconnected_cb"] = disconnected
    connecting = nats.connect(servers, name=name, **options)
    if first_connect_timeout is None:
        return await connecting
    try:
        return await asyncio.wait_for(connecting, first_connect_timeout)
    except TimeoutError as exc:
        hosts = ", ".join(urlsplit(u).netloc.rsplit("@", 1)[-1] for u in servers)  # no password
        raise BusUnavailableError(
            f"no NATS server at {hosts} accepted a connection within {first_connect_timeout:g}s: "
            "start the stack with `elizabus up`, or point ELIZABUS_NATS_URL at running servers"
        ) from exc
