"""Connecting to NATS: one server or a cluster's several, reconnecting for as long as we run.

`ELIZABUS_NATS_URL` holds one URL or several, comma-separated (`nats://a:4222,nats://b:4222`):
the nodes of a cluster. Every connection elizabus opens (orchestrator, model worker, CLI) gets
them all, so when the node it is connected to dies it moves to another at once, and it keeps
trying for as long as the process runs (a NATS outage is waited out, not fatal).

A server with users (the embedded one of `elizabus up` always has them, docs/security.md) is
logged into with a `NatsAuth`: a user and password (`ELIZABUS_NATS_USER` / `_PASSWORD`) or a
`.creds` file of an nkeys/JWT deployment (`ELIZABUS_NATS_CREDS`), and the inbox prefix the
user's permissions allow (`_INBOX.<user>` by default). Credentials are never logged.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
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


@dataclass(frozen=True)
class NatsAuth:
    """How a connection logs in: `user` and `password`, an `nkey_seed_file` (a user nkey's seed,
    `SU...`), or a `creds_file` (JWT and nkey seed); replies come under `inbox` (the prefix the
    user may subscribe to; nats-py's `_INBOX` when empty). Its repr shows no secret."""

    user: str | None = None
    password: str | None = field(default=None, repr=False)
    creds_file: Path | None = None
    inbox: str = ""
    nkey_seed_file: Path | None = None

    def connect_options(self) -> dict[str, Any]:
        """nats-py `connect` keyword arguments for this login."""
        options: dict[str, Any] = {}
        if self.creds_file is not None:
            _require_nkeys(self.creds_file, "ELIZABUS_NATS_CREDS")
            options["user_credentials"] = str(self.creds_file)
        elif self.nkey_seed_file is not None:
            _require_nkeys(self.nkey_seed_file, "ELIZABUS_NATS_NKEY_SEED")
            options["nkeys_seed"] = str(self.nkey_seed_file)
        elif self.user is not None:
            options["user"] = self.user
            options["password"] = self.password or ""
        if self.inbox:
            options["inbox_prefix"] = self.inbox
        return options

    def faststream_options(self) -> dict[str, Any]:
        """FastStream `NatsBroker` keyword arguments for this login."""
        from faststream.nats.security import NatsCredentials, NatsNKey, NatsUserPassword
        from faststream.security import BaseSecurity

        options: dict[str, Any] = {}
        security: BaseSecurity | None = None
        if self.creds_file is not None:
            _require_nkeys(self.creds_file, "ELIZABUS_NATS_CREDS")
            security = NatsCredentials.from_file(self.creds_file)
        elif self.nkey_seed_file is not None:
            _require_nkeys(self.nkey_seed_file, "ELIZABUS_NATS_NKEY_SEED")
            security = NatsNKey.from_file(self.nkey_seed_file)
        elif self.user is not None:
            security = NatsUserPassword(self.user, self.password or "")
        if security is not None:
            options["security"] = security
        if self.inbox:
            options["inbox_prefix"] = self.inbox
        return options


def _require_nkeys(path: Path, setting: str) -> None:
    if importlib.util.find_spec("nkeys") is None:
        raise ConfigurationError(
            f"{setting}={path} needs the nkeys package to sign in: `pip install nkeys` (or "
            "`pip install elizabus[nkeys]`), or log in with ELIZABUS_NATS_USER and "
            "ELIZABUS_NATS_PASSWORD"
        )
    if not path.is_file():
        raise ConfigurationError(
            f"{setting} names {path}, which is not a file: give the path of the user's "
            + (
                "nkey seed file (`elizabus nats config --nkeys`)"
                if "SEED" in setting
                else ".creds file (`nsc generate creds`)"
            )
        )


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
    auth: NatsAuth | None = None,
) -> Client:
    """A NATS connection to the server(s) in `url` that reconnects forever, logged in with
    `auth` when given.

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
    refused: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        if _is_login_refused(exc):
            if not refused:  # once: a service retries its login forever
                log.error("NATS refused the login: %s", _login_advice(auth))
            refused.append(exc)
            return
        await _on_error(exc)

    options["error_cb"] = on_error
    if auth is not None:
        options.update(auth.connect_options())
    connecting = nats.connect(servers, name=name, **options)
    if first_connect_timeout is None:
        return await connecting
    try:
        return await asyncio.wait_for(connecting, first_connect_timeout)
    except TimeoutError as exc:
        hosts = ", ".join(urlsplit(u).netloc.rsplit("@", 1)[-1] for u in servers)  # no password
        if refused:
            advice = _login_advice(auth)
            raise ConfigurationError(f"NATS at {hosts} refused the login: {advice}") from exc
        raise BusUnavailableError(
            f"no NATS server at {hosts} accepted a connection within {first_connect_timeout:g}s: "
            "start the stack with `elizabus up`, or point ELIZABUS_NATS_URL at running servers"
        ) from exc


def _is_login_refused(exc: Exception) -> bool:
    text = str(exc).lower()
    return "authorization violation" in text or "authentication" in text


def _login_advice(auth: NatsAuth | None) -> str:
    """What to check when the server refused a login (never the secret itself)."""
    if auth is None or (
        auth.user is None and auth.creds_file is None and auth.nkey_seed_file is None
    ):
        return (
            "the server requires a user: set ELIZABUS_NATS_USER and ELIZABUS_NATS_PASSWORD (or "
            "ELIZABUS_NATS_NKEY_SEED or ELIZABUS_NATS_CREDS); the embedded stack's are in "
            "<data dir>/nats-credentials"
        )
    if auth.creds_file:
        who = f"credentials file {auth.creds_file}"
    elif auth.nkey_seed_file:
        who = f"nkey seed file {auth.nkey_seed_file}"
    else:
        who = f"user {auth.user!r}"
    return (
        f"{who} was not accepted: check ELIZABUS_NATS_USER / ELIZABUS_NATS_PASSWORD / "
        "ELIZABUS_NATS_NKEY_SEED / ELIZABUS_NATS_CREDS (the embedded stack's users are in "
        "<data dir>/nats-credentials)"
    )
