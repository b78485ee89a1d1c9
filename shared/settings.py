"""Settings from the environment (prefix ELIZABUS_) and `.env`; one object every service reads."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    nats_url: str | None = None
    database_url: str | None = None
    data_dir: Path = Path(".elizabus")
    nats_port: int = Field(default=0, description="embedded nats-server port; 0 picks a free one")
    postgres_port: int = Field(default=0, description="embedded Postgres port; 0 picks a free one")

    character: Path | None = None
    ack_wait_seconds: float = 30.0
    max_deliver: int = Field(
        default=MAX_DELIVER, ge=1, description="deliveries of a failing message before the DLQ"
    )
    retry_delay_seconds: float = Field(
        default=1.0, gt=0, description="back-off before the 2nd delivery; doubles each time"
    )
    max_retry_delay_seconds: float = Field(default=30.0, gt=0, description="back-off ceiling")
    duplicate_window_seconds: float = 3600.0
    model_timeout_seconds: float = 60.0
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

    fault: str | None = Field(default=None, description="test-only fault injection point")

    def runtime_file(self) -> Path:
        """The file `elizabus up` writes the embedded servers' URLs to."""
        return self.data_dir / RUNTIME_FILE

    def resolved_nats_url(self) -> str:
        """The NATS URL to use: the setting, else the running embedded stack's, else an error."""
        return self.nats_url or self._from_runtime_file("nats_url")

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
