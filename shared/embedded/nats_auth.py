"""The users of the embedded nats-server: generated passwords and the server's config file.

`elizabus up` starts nats-server with `<data_dir>/nats.conf`, which lists one user per role with
its permissions (`shared.bus.nats_permissions`); the passwords are generated at first start and
kept in `<data_dir>/nats-credentials` (mode 0600, the data dir 0700), where the CLI commands and
`up` itself read them. A data dir made before NATS had users has no such file: it is created at
the next start, and users a newer elizabus adds are given passwords then too; nothing else in
the JetStream store changes.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from shared.bus.nats_permissions import RoleSet
from shared.errors import EmbeddedServerError

CREDENTIALS_FILE = "nats-credentials"
CONFIG_FILE = "nats.conf"


class NatsCredentials:
    """The generated password of each user of the embedded server, in `<data_dir>/nats-credentials`
    (JSON `{"users": {user: password}}`, mode 0600)."""

    @staticmethod
    def path(data_dir: Path) -> Path:
        """Where the passwords are kept."""
        return Path(data_dir) / CREDENTIALS_FILE

    @classmethod
    def read(cls, data_dir: Path) -> dict[str, str] | None:
        """The passwords by user, or None when the data dir has none (yet)."""
        path = cls.path(data_dir)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise EmbeddedServerError(
                f"{path} is not elizabus's NATS credentials ({exc}): restore it from a backup "
                "or delete it (new passwords are then generated at the next `elizabus up`)"
            ) from exc
        users = data.get("users") if isinstance(data, dict) else None
        if not isinstance(users, dict) or not all(isinstance(v, str) for v in users.values()):
            raise EmbeddedServerError(
                f"{path} has no users map: restore it from a backup or delete it (new passwords "
                "are then generated at the next `elizabus up`)"
            )
        return {str(k): v for k, v in users.items()}

    @classmethod
    def load_or_create(cls, data_dir: Path, users: Iterable[str]) -> dict[str, str]:
        """The passwords of `users`: those already in the file, new ones generated for the
        rest (the file is then rewritten atomically, mode 0600)."""
        known = cls.read(data_dir) or {}
        missing = [u for u in users if u not in known]
        if not missing:
            return known
        passwords = known | {u: secrets.token_urlsafe(24) for u in missing}
        path = cls.path(data_dir)
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            json.dump({"users": passwords}, out, indent=1)
        os.replace(tmp, path)
        return passwords


def write_server_config(path: Path, credentials_dir: Path, roles: RoleSet) -> None:
    """Write the server config `path` (mode 0600: it holds the passwords) with the users of
    `roles`, their passwords from `credentials_dir` (generated where missing)."""
    passwords = NatsCredentials.load_or_create(credentials_dir, roles.users)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write("# written by elizabus at each start: edits are lost (docs/security.md)\n")
        out.write(roles.authorization(passwords))
    os.replace(tmp, path)
