"""One exception hierarchy for elizabus. Every error says what to do next."""

from __future__ import annotations


class ElizabusError(Exception):
    """Root of every error elizabus raises on purpose; catch this to catch them all."""


class ConfigurationError(ElizabusError):
    """A setting, character file or plugin config is missing or wrong: fix the named value."""


class PluginConfigurationError(ConfigurationError):
    """A plugin's `init` found its configuration lacking (a missing key, a bad setting): the agent
    starts without that plugin and logs this message. Raise it from `Plugin.init`."""


class EventStoreError(ElizabusError):
    """The event log refused or failed an operation."""


class ConcurrencyError(EventStoreError):
    """A stream moved past the expected version: reload the stream and retry the command."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"stream {stream_id!r} is at version {actual}, expected {expected}: reload it and retry"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class ModelError(ElizabusError):
    """A model call failed: check the model worker's log, its settings, or start a worker."""


class NoModelHandlerError(ModelError):
    """No worker answers for a model type: start `elizabus worker model` or register a handler."""


class AllModelsFailedError(ExceptionGroup[Exception], ModelError):
    """Every candidate for a model type failed; `exceptions` holds what each one raised, in the
    order they were tried, and the message names each provider with its error."""


class BusUnavailableError(ElizabusError):
    """NATS, or its JetStream, did not answer in time: check ELIZABUS_NATS_URL and that the
    servers run (on a cluster, a majority of its nodes); their logs say more."""


class EmbeddedServerError(ElizabusError):
    """An embedded nats-server or Postgres did not start: read its log file named in the message."""


class ActionError(ElizabusError):
    """An action failed or is not served: read the serving process's log, or start it."""


class ProviderError(ElizabusError):
    """A provider failed or is not served: read the serving process's log, or start it."""
