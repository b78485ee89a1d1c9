"""Providers that live in another process, reached by core NATS request/reply.

`remote_provider(nc, name)` is a `Provider` whose `get` sends a `RemoteProviderRequest` on
`provider.<name>` and returns the `ProviderResult` of the `RemoteProviderReply`; a reply with an
error raises, so `compose_state` records `provider.failed` and leaves that part of the state empty.
`serve_providers(nc, providers, runtime_view)` answers those requests in the other process, in
queue group `providers`, so several processes may serve the same provider and share the load.
"""

from __future__ import annotations

import logging

from nats.aio.client import Client as NatsClient
from pydantic import ValidationError

from shared import subjects
from shared.bus.request import RequestErrors, request_or_raise
from shared.bus.request_server import Endpoint, RequestServer
from shared.errors import ProviderError
from shared.messages import (
    RemoteProviderReply,
    RemoteProviderRequest,
    RemoteProviderResult,
    RemoteState,
)
from shared.plugin import Memory, Provider, ProviderResult, Runtime, State
from shared.runtime.run_scope import current_run_id, in_run
from shared.runtime.settings_lookup import secret_values
from shared.secrets import Scrubber

log = logging.getLogger(__name__)

__all__ = ["ProviderServer", "remote_provider", "serve_providers"]


def encode_provider_request(name: str, runtime: Runtime, message: Memory, state: State) -> bytes:
    """The JSON body of a request to provider `name`, without the agent's secrets;
    unserialisable state values become str."""
    request = RemoteProviderRequest.model_construct(
        provider=name,
        message=message,
        state=RemoteState.of(state),
        agent_id=runtime.agent_id,
        run_id=current_run_id(),
    )
    body = request.model_dump_json(fallback=str).encode()
    return Scrubber(secret_values(runtime.character)).json_bytes(body)


def remote_provider(
    nc: NatsClient,
    name: str,
    description: str = "",
    position: int = 0,
    private: bool = False,
    dynamic: bool = False,
    timeout: float = 5.0,
) -> Provider:
    """A Provider answered by whichever process serves `provider.<name>` (see serve_providers).

    Its `get` raises ProviderError when nobody serves the provider, no reply comes within
    `timeout` seconds, or the remote provider failed.
    """
    subject = subjects.provider(name)

    async def get(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
        body = encode_provider_request(name, runtime, message, state)
        errors = RequestErrors(
            ProviderError,
            absent=f"no process serves provider {name!r} (nobody listens on {subject}): start "
            "the process that calls serve_providers with it",
            timed_out=f"no reply from provider {name!r} within {timeout:g}s on {subject}: check "
            "the serving process's log, or raise the remote provider's timeout",
            failed=f"could not ask provider {name!r} on {subject} ({{exc}}): check that NATS is "
            "running, the connection is open and the state is not larger than the server's "
            "max_payload",
        )
        reply = await request_or_raise(nc, subject, body, timeout, errors)
        return decode_reply(name, reply.data)

    return Provider(
        name=name,
        get=get,
        description=description,
        position=position,
        private=private,
        dynamic=dynamic,
    )


def decode_reply(name: str, body: bytes) -> ProviderResult:
    """The ProviderResult of a raw reply body, or ProviderError with the remote error."""
    try:
        reply = RemoteProviderReply.model_validate_json(body)
    except ValidationError as exc:
        raise ProviderError(
            f"provider {name!r} sent a reply that is not a RemoteProviderReply "
            f"({exc.error_count()} errors, body starts {body[:120]!r}): check that the serving "
            "process runs the same elizabus version"
        ) from exc
    if not reply.ok or reply.result is None:
        raise ProviderError(
            f"remote provider {name!r} failed: {reply.error or 'no error message given'}"
        )
    r = reply.result
    return ProviderResult(text=r.text, values=r.values, data=r.data)


def _error(name: str, message: str) -> bytes:
    return RemoteProviderReply(ok=False, provider=name, error=message).model_dump_json().encode()


async def answer_request(provider: Provider, runtime_view: Runtime, body: bytes) -> bytes:
    """Answer one raw request body for `provider` with a raw reply body; never raises.

    The provider runs inside the request's run (its model calls log that run id). Invalid JSON,
    a raising provider, or a result that is not JSON all come back as `ok=false` with the error.
    """
    name = provider.name
    try:
        request = RemoteProviderRequest.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors(include_url=False)[:5]
        )
        return _error(
            name,
            f"invalid RemoteProviderRequest on {subjects.provider(name)} ({problems}): send "
            'JSON like {"provider": "NAME", "message": {...}, "state": {...}}',
        )
    state = request.state.to_state()
    try:
        if request.run_id is not None:
            with in_run(request.run_id):
                result = await provider.get(runtime_view, request.message, state)
        else:
            result = await provider.get(runtime_view, request.message, state)
    except Exception as exc:
        log.exception("remote provider %s failed", name)
        return _error(
            name,
            f"{type(exc).__name__}: {exc} (see the log of the process serving {name!r})",
        )
    try:
        payload = RemoteProviderResult(text=result.text, values=result.values, data=result.data)
        return (
            RemoteProviderReply(ok=True, provider=name, result=payload).model_dump_json().encode()
        )
    except (ValueError, AttributeError) as exc:
        return _error(
            name,
            f"provider {name!r} returned a result that is not a JSON-serialisable "
            f"ProviderResult ({exc}): return ProviderResult with JSON values and data",
        )


class ProviderServer(RequestServer):
    """What serve_providers returns: the subscriptions and in-flight requests; `stop()` ends it."""

    def __init__(self, nc: NatsClient, providers: list[Provider], runtime_view: Runtime) -> None:
        self.providers = list(providers)
        self.runtime_view = runtime_view
        super().__init__(nc, [self._endpoint(x) for x in self.providers])

    def _endpoint(self, provider: Provider) -> Endpoint:
        async def answer(body: bytes) -> bytes:
            return await answer_request(provider, self.runtime_view, body)

        return Endpoint(
            subjects.provider(provider.name),
            subjects.PROVIDERS_QUEUE,
            answer,
            f"provider {provider.name}",
        )


async def serve_providers(
    nc: NatsClient, providers: list[Provider], runtime_view: Runtime
) -> ProviderServer:
    """Answer requests for `providers` on `provider.<name>`; call `stop()` on the result to end.

    `runtime_view` is what the providers receive as their runtime in this process.
    """
    return await ProviderServer(nc, providers, runtime_view).start()
