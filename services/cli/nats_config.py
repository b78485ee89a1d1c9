"""`elizabus nats config`: the users of elizabus's roles for a NATS server run by the operator."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from shared.bus.nats_permissions import RoleSet, inbox_prefix
from shared.embedded.nats_auth import NatsCredentials, write_server_config
from shared.errors import ConfigurationError

AUTH_FILE = "nats-auth.conf"
SEED_SUFFIX = ".nk"


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


def write_nkeys_config(roles: RoleSet, out: Path) -> str:
    """Write `out/<user>.nk` (each role's user nkey seed, kept across runs) and
    `out/nats-auth.conf` (the users as public keys, with their permissions), all 0600, and say
    how each service logs in."""
    try:
        import nkeys  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ConfigurationError(
            "--nkeys needs the nkeys package: `pip install nkeys` (or `elizabus[nkeys]`)"
        ) from exc
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    public: dict[str, str] = {}
    lines = []
    for user in roles.users:
        seed_file = out / f"{user}{SEED_SUFFIX}"
        if not seed_file.exists():
            seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
            with os.fdopen(
                os.open(seed_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb"
            ) as f:
                f.write(seed + b"\n")
        key = nkeys.from_seed(bytearray(seed_file.read_bytes().strip()))
        public[user] = key.public_key.decode()
        lines.append(
            f"  {user}: ELIZABUS_NATS_NKEY_SEED={seed_file} ELIZABUS_NATS_USER={user} "
            f"(the inbox prefix {inbox_prefix(user)} follows from the user name)"
        )
    config = out / AUTH_FILE
    tmp = config.with_name(config.name + ".tmp")
    tmp.unlink(missing_ok=True)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(roles.nkey_authorization(public))
    os.replace(tmp, config)
    head = (
        f"wrote {config} (add `include {AUTH_FILE}` to nats-server's config and reload it) and a "
        f"seed file per user in {out}; each service logs in with its own seed:"
    )
    return "\n".join([head, *lines])
