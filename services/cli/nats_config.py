"""`elizabus nats config`: the users of elizabus's roles for a NATS server run by the operator."""

from __future__ import annotations

import secrets
from pathlib import Path

from shared.bus.nats_permissions import RoleSet, inbox_prefix
from shared.embedded.nats_auth import NatsCredentials, write_server_config

AUTH_FILE = "nats-auth.conf"


def write_nats_config(roles: RoleSet, out: Path | None) -> str:
    """With `out`: write `out/nats-auth.conf` (the `authorization` block, to `include` in the
    server's config) and `out/nats-credentials` (the passwords, kept across runs), both 0600, and
    say how each service logs in. Without: the block itself, with new passwords."""
    if out is None:
        return roles.authorization({user: secrets.token_urlsafe(24) for user in roles.users})
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = out / AUTH_FILE
    write_server_config(config, out, roles)
    lines = [
        f"wrote {config} (add `include {AUTH_FILE}` to nats-server's config and reload it) and "
        f"{NatsCredentials.path(out)} (the passwords)",
        "each service logs in with its own user (the password is in the credentials file):",
    ]
    for user in roles.users:
        lines.append(
            f"  {user}: ELIZABUS_NATS_USER={user} ELIZABUS_NATS_PASSWORD=... "
            f"(inbox prefix {inbox_prefix(user)}, the default for that user)"
        )
    return "\n".join(lines)
