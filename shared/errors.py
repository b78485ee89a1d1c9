"""One exception hierarchy for elizabus. Every error says what to do next."""

from __future__ import annotations


class ElizabusError(Exception):
    """Root of every error elizabus raises on purpose; catch this to catch them all."""


class PermanentError(ElizabusError):
    """A failure that trying again cannot mend (a bad body, a size over a limit, a model's 4xx):
    the message goes to the dead-letter subject at once, with this error as its reason."""


class TransientError(ElizabusError):
    """A failure that may pass (the database restarting, NATS reconnecting, a model's 5xx or
    timeout): the message is retried with back-off."""


class InvalidInputError(PermanentError):
    """An inbound message is not valid, holds characters that cannot be stored (NUL), or is over a
    limit: fix the adapter that sent it; the message is dead-lettered with this reason."""


class ConfigurationError(ElizabusError):
    """A setting, character file or plugin config is missing or wrong: fix the named value."""


class PluginConfigurationError(ConfigurationError):
    """A plugin's `init` found its configuration lacking (a missing key, a bad setting): the agent
    starts without that plugin and logs this message. Raise it from `Plugin.init`."""


class EmbeddingDimensionMismatchError(ConfigurationError):
    """The embedding model answers vectors of another dimension than the agent's stored memories
    (the model was changed): re-embed them with `elizabus memories reembed`, or go back to the
    previous model. Raised at start, so no memory of the new size is mixed in."""


class EmptyMemoryError(PermanentError):
    """A memory has no text to embed (or nothing at all to store): give `content.text`, or an
    embedding of your own."""


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


class ModelWorkerLostError(ModelError, TransientError):
    """The model worker that took a request stopped answering before its reply: it never accepted
    the request, or its keep-alives stopped (it died or stalled). The request is sent again, to
    the provider's other workers or the next provider; the run is retried if none answers."""


class ModelRejectedError(ModelError, PermanentError):
    """The model refused the request itself (an HTTP 4xx such as a bad parameter or a context
    too long, a prompt too large for the bus): another try would be refused the same way."""


class PromptTooLargeError(ModelRejectedError):
    """A model request is larger than NATS lets one message be: the prompt must be built smaller
    (fewer recent messages) or the server's max_payload raised."""


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


class KnowledgeError(ElizabusError):
    """A knowledge document could not be read or ingested (a missing file, an unsupported type,
    a PDF with no text layer): the message names the file and what to change."""
