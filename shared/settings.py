"""Settings from the environment (prefix ELIZABUS_) and `.env`; one object every service reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from shared.bus.nats_connect import NatsAuth

RUNTIME_FILE = "runtime.json"

MAX_DELIVER = 8
"""Deliveries of a failing message before the orchestrator dead-letters it (the default of
ELIZABUS_MAX_DELIVER); with the default back-off the last one comes about a minute and a half
after the first, so short outages are ridden out."""


class Settings(BaseSettings):
    """Where the servers are and how the services behave.

    With no `nats_url` / `database_url`, `elizabus up` starts embedded servers under `data_dir`
    and records their URLs in `data_dir/runtime.json`, which the other commands then read.
    """

    model_config = SettingsConfigDict(env_prefix="ELIZABUS_", env_file=".env", extra="ignore")

    nats_url: str | None = Field(
        default=None,
        description="NATS server URL, or several comma-separated (the nodes of a cluster); "
        "unset: the embedded server of `elizabus up`",
    )
    nats_user: str | None = Field(
        default=None,
        description="NATS user to log in as; unset with the embedded stack: the role's user from "
        "<data_dir>/nats-credentials",
    )
    nats_password: SecretStr | None = Field(default=None, description="password of nats_user")
    nats_creds: Path | None = Field(
        default=None, description="a .creds file (JWT + nkey seed) to log in with instead"
    )
    nats_nkey_seed: Path | None = Field(
        default=None,
        description="a file holding a user nkey's seed (SU...) to log in with instead "
        "(`elizabus nats config --nkeys`)",
    )
    nats_inbox_prefix: str | None = Field(
        default=None,
        description="inbox prefix of the connection's replies: the one the user may subscribe "
        "to; default `_INBOX.<nats_user>` (`_INBOX` with no user)",
    )
    database_url: str | None = None
    data_dir: Path = Path(".elizabus")
    nats_port: int = Field(default=0, description="embedded nats-server port; 0 picks a free one")
    postgres_port: int = Field(default=0, description="embedded Postgres port; 0 picks a free one")

    character: Path | None = None
    allow_plugin_paths: bool = Field(
        default=False,
        description="let a character's `plugins` name modules by dotted path (`pkg.mod:plugin`), "
        "not only installed entry points: only for character files trusted as code",
    )
    ack_wait_seconds: float = Field(
        default=6.0,
        description="seconds JetStream waits for an ack (or an in-progress heartbeat, sent every "
        "third of it) before it gives a message to another orchestrator: how long a room waits "
        "after its orchestrator died",
    )
    partitions: int | None = Field(
        default=None,
        ge=1,
        le=1000,  # nats-server's default limit of consumers per stream
        description="partitions of the inbound messages; each (agent, room) maps to one, and "
        "each partition runs one message at a time in publish order. Unset: the count the bus "
        "already has, or 256 on a new bus",
    )
    max_concurrent_runs: int = Field(
        default=64, ge=1, description="runs one orchestrator process works on at once"
    )
    stream_replicas: int = Field(
        default=1,
        ge=1,
        le=5,
        description="JetStream replicas of elizabus's streams, consumers and KV bucket: 3 on a "
        "3-node cluster, so they survive the loss of a node",
    )
    max_message_bytes: int = Field(
        default=256 * 1024, ge=1024, description="largest inbound message body accepted"
    )
    max_text_chars: int = Field(
        default=32_000, ge=1, description="longest message text accepted (characters)"
    )
    max_attachments: int = Field(default=16, ge=0, description="attachments per inbound message")
    max_field_chars: int = Field(
        default=2048, ge=64, description="longest id, name, source or URL of an inbound message"
    )
    embedding_repair_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how often memories stored without an embedding are "
        "embedded again (they were stored while no embedding model answered)",
    )
    db_pool_size: int = Field(
        default=20, ge=2, description="Postgres connections per orchestrator process"
    )
    max_deliver: int = Field(
        default=MAX_DELIVER, ge=1, description="deliveries of a failing message before the DLQ"
    )
    retry_delay_seconds: float = Field(
        default=1.0, gt=0, description="back-off before the 2nd delivery; doubles each time"
    )
    max_retry_delay_seconds: float = Field(default=30.0, gt=0, description="back-off ceiling")
    duplicate_window_seconds: float = 3600.0
    messages_max_age_days: float = Field(
        default=30.0,
        gt=0,
        description="days the ELIZABUS_MESSAGES stream keeps bus messages and dead letters "
        "(rejected bodies) before dropping them",
    )
    messages_max_bytes: int = Field(
        default=10 * 1024**3,
        ge=1024**2,
        description="bytes at which the ELIZABUS_MESSAGES stream drops its oldest messages",
    )
    model_attempt_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        validation_alias=AliasChoices(
            "model_attempt_timeout_seconds",
            "ELIZABUS_MODEL_ATTEMPT_TIMEOUT_SECONDS",
            "ELIZABUS_MODEL_TIMEOUT_SECONDS",  # its former name, still read
        ),
        description="seconds ONE model attempt (one provider, one worker) may take before the "
        "next is tried, while its worker stays alive and keeps sending keep-alives; a worker "
        "that dies or stalls is given up after ELIZABUS_MODEL_ACCEPT_SECONDS / "
        "ELIZABUS_MODEL_KEEPALIVE_MISSES instead. Also the worker's HTTP timeout to its LLM",
    )
    model_worker_max_waiting: int | None = Field(
        default=None,
        ge=0,
        description="requests of one model type a model worker holds waiting for a free slot "
        "beyond those it runs; more are refused at once as busy, so the orchestrator tries "
        "another worker instead of queueing behind this one (default 256)",
    )
    model_accept_seconds: float = Field(
        default=2.0,
        gt=0,
        description="seconds an announced model worker has to accept a request (it does so on "
        "receipt) before the request is sent again elsewhere",
    )
    model_keepalive_seconds: float = Field(
        default=1.0,
        gt=0,
        description="a model worker's interval between keep-alives for each request it holds",
    )
    model_keepalive_misses: int = Field(
        default=3,
        ge=1,
        description="keep-alive intervals of silence after which the orchestrator counts the "
        "worker holding its request as lost and sends the request again",
    )
    model_lost_retries: int = Field(
        default=1,
        ge=0,
        description="times a request lost with its worker is sent again to the same provider "
        "(its other or restarted workers) before the next provider is tried",
    )
    model_breaker_failures: int = Field(
        default=3,
        ge=1,
        description="failed attempts, among a provider's last ELIZABUS_MODEL_BREAKER_WINDOW, "
        "that open its circuit breaker (it is then tried after the healthy providers)",
    )
    model_breaker_window: int = Field(
        default=6,
        ge=1,
        description="how many of a provider's latest attempts the breaker looks at",
    )
    model_breaker_cooldown_seconds: float = Field(
        default=30.0,
        gt=0,
        description="seconds an open breaker keeps its provider at the back before one call "
        "probes it again",
    )
    log_level: str = "INFO"

    model_provider: str = Field(
        default="auto",
        description="auto (openai when a key is set, else scripted), openai, scripted",
    )
    model_provider_name: str | None = Field(
        default=None, description="name a model worker serves and announces as; default its own"
    )
    model_priority: int = Field(default=0, description="a worker's priority; higher is tried first")
    openai_api_key: SecretStr | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    openai_small_model: str = "gpt-4o-mini"
    openai_large_model: str = "gpt-4o"
    openai_embedding_model: str = "text-embedding-3-small"
    embedding_dimensions: int = 384
    embedding_provider: str = Field(
        default="auto",
        description="who answers TEXT_EMBEDDING in a model worker: auto (the local model "
        "multilingual-e5-small when the `embeddings` extra is installed and the text model is "
        "the scripted double, else the worker's model), local (always the local model), model "
        "(the worker's model: hashed features for the scripted double)",
    )
    embedding_threads: int = Field(
        default=1,
        ge=1,
        description="OpenMP threads of the local embedding model; more only for a worker with "
        "cores to itself (spinning threads slow everything down on a busy machine)",
    )
    scripted_latency_ms: float = Field(
        default=0.0,
        ge=0.0,
        description="delay of each text-generation answer of the scripted model (stands in for "
        "an LLM's latency in benchmarks and tests)",
    )

    fault: str | None = Field(default=None, description="test-only fault injection point")

    def runtime_file(self) -> Path:
        """The file `elizabus up` writes the embedded servers' URLs to."""
        return self.data_dir / RUNTIME_FILE

    def resolved_nats_url(self) -> str:
        """The NATS URL to use: the setting, else the running embedded stack's, else an error.
        It may list several servers, comma-separated (`shared.bus.nats_connect.server_urls`)."""
        return self.nats_url or self._from_runtime_file("nats_url")

    def resolved_nats_auth(self, role_user: str) -> NatsAuth | None:
        """How to log in to NATS as `role_user` (a user of `shared.bus.nats_permissions`): the
        configured user or .creds file, else, when the URL is the embedded stack's (no
        ELIZABUS_NATS_URL), that user's generated password from `<data_dir>/nats-credentials`,
        else none (a server without users)."""
        from shared.bus.nats_connect import NatsAuth
        from shared.bus.nats_permissions import INBOX_ROOT, inbox_prefix

        named_inbox = inbox_prefix(self.nats_user) if self.nats_user else INBOX_ROOT
        if self.nats_creds is not None:
            return NatsAuth(creds_file=self.nats_creds, inbox=self.nats_inbox_prefix or named_inbox)
        if self.nats_nkey_seed is not None:
            return NatsAuth(
                nkey_seed_file=self.nats_nkey_seed, inbox=self.nats_inbox_prefix or named_inbox
            )
        if self.nats_user:
            password = self.nats_password.get_secret_value() if self.nats_password else ""
            inbox = self.nats_inbox_prefix or inbox_prefix(self.nats_user)
            return NatsAuth(self.nats_user, password, inbox=inbox)
        if self.nats_url is None:
            from shared.embedded.nats_auth import NatsCredentials

            passwords = NatsCredentials.read(self.data_dir)
            if passwords is not None and role_user in passwords:
                return NatsAuth(role_user, passwords[role_user], inbox=inbox_prefix(role_user))
        return None

    def resolved_database_url(self) -> str:
        """The Postgres URL: the setting, else the running embedded stack's, else an error."""
        return self.database_url or self._from_runtime_file("database_url")

    def _from_runtime_file(self, key: str) -> str:
        from shared.errors import ConfigurationError

        path = self.runtime_file()
        try:
            value = json.loads(path.read_text())[key]
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigurationError(
                f"no {key} configured and no running stack found at {path}: start one with "
                f"`elizabus up`, or set ELIZABUS_{key.upper()}"
            ) from exc
        return str(value)
