"""Riding out a JetStream that is briefly unavailable, and the server lists of ELIZABUS_NATS_URL."""

from __future__ import annotations

import nats.errors
import nats.js.errors
import pytest

from services.cli.stack import _safe
from shared.bus import jetstream_retry
from shared.bus.jetstream_retry import retry_while_unavailable
from shared.bus.nats_connect import server_urls
from shared.errors import BusUnavailableError, ConfigurationError


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jetstream_retry, "RETRY_PAUSE_SECONDS", 0.001)


class Flaky:
    """An operation that fails with `error` `failures` times, then returns 'ok'."""

    def __init__(self, error: Exception, failures: int) -> None:
        self.error = error
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


@pytest.mark.parametrize(
    "error",
    [
        nats.js.errors.NoStreamResponseError(),
        nats.js.errors.ServiceUnavailableError(),
        nats.errors.NoRespondersError(),
        nats.errors.TimeoutError(),
        # right after a cluster starts: a replicated stream or bucket cannot be placed yet
        nats.js.errors.ServerError(
            code=500, err_code=10005, description="no suitable peers for placement"
        ),
    ],
)
async def test_an_election_error_is_retried_until_the_operation_succeeds(error: Exception) -> None:
    operation = Flaky(error, failures=3)
    assert await retry_while_unavailable(operation, "publishing", patience=10) == "ok"
    assert operation.calls == 4


@pytest.mark.parametrize(
    "error",
    [
        nats.js.errors.BadRequestError(),
        nats.js.errors.ServerError(code=500, err_code=10049, description="stream restore failed"),
    ],
)
async def test_any_other_error_is_raised_at_once(error: Exception) -> None:
    operation = Flaky(error, failures=3)
    with pytest.raises(type(error)):
        await retry_while_unavailable(operation, "publishing", patience=10)
    assert operation.calls == 1


async def test_an_outage_longer_than_the_patience_says_what_to_check() -> None:
    operation = Flaky(nats.js.errors.NoStreamResponseError(), failures=10**9)
    with pytest.raises(BusUnavailableError, match="publishing to x: JetStream did not answer"):
        await retry_while_unavailable(operation, "publishing to x", patience=0.05)
    assert operation.calls > 1


def test_nats_url_lists_one_server_or_a_cluster() -> None:
    assert server_urls("nats://a:4222") == ["nats://a:4222"]
    assert server_urls("nats://a:4222, nats://b:4222,,nats://c:4222 ") == [
        "nats://a:4222",
        "nats://b:4222",
        "nats://c:4222",
    ]
    with pytest.raises(ConfigurationError, match="ELIZABUS_NATS_URL"):
        server_urls(" , ")


def test_printed_cluster_urls_hide_every_password() -> None:
    shown = _safe("nats://u:secret@a:4222,nats://u:secret@b:4222")
    assert "secret" not in shown
    assert shown == "nats://u:***@a:4222,nats://u:***@b:4222"
