"""OpenAICompatibleModel against httpx.MockTransport doubles and a real local HTTP server;
and the worker's choice of model from settings."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from services.model_worker.app import build_model
from services.model_worker.openai_compat import OpenAICompatibleModel
from shared.errors import ConfigurationError, ModelError
from shared.messages import ModelRequest
from shared.model_types import ModelType
from shared.model_wire import ModelHandler
from shared.settings import Settings
from shared.testing import ScriptedModel

Handler = Callable[[httpx.Request], httpx.Response]


def _model(handler: Handler, **overrides: Any) -> tuple[OpenAICompatibleModel, list[Any]]:
    """A model whose HTTP goes to `handler` (a MockTransport test double); records bodies."""
    seen: list[Any] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers, json.loads(request.content)))
        return handler(request)

    options: dict[str, Any] = {
        "base_url": "http://llm.test/v1/",
        "api_key": "sk-test",
        "small_model": "small-m",
        "large_model": "large-m",
        "embedding_model": "text-embedding-3-small",
        "dimensions": 4,
        "timeout": 5.0,
        "retry_wait": 0.0,
        "transport": httpx.MockTransport(recording),
    }
    options.update(overrides)
    return OpenAICompatibleModel(**options), seen


def _chat(content: Any) -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"message": {"content": content}}]})


def _req(model_type: ModelType, **params: Any) -> ModelRequest:
    return ModelRequest(model_type=model_type, params=params)


async def test_text_large_posts_chat_completion_with_passthrough_params() -> None:
    model, seen = _model(lambda _: _chat("Paris."))
    request = _req(
        ModelType.TEXT_LARGE,
        prompt="capital?",
        system="be brief",
        temperature=0.2,
        maxTokens=50,
        stopSequences=["\n"],
    )
    assert await model.handle(request) == "Paris."
    path, headers, body = seen[0]
    assert path == "/v1/chat/completions"
    assert headers["authorization"] == "Bearer sk-test"
    assert body == {
        "model": "large-m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "capital?"},
        ],
        "temperature": 0.2,
        "max_tokens": 50,
        "stop": ["\n"],
    }
    await model.aclose()


async def test_small_types_use_small_model_without_system() -> None:
    model, seen = _model(lambda _: _chat("ok"))
    await model.handle(_req(ModelType.TEXT_SMALL, prompt="hi"))
    assert seen[0][2] == {"model": "small-m", "messages": [{"role": "user", "content": "hi"}]}


async def test_object_uses_json_mode_and_parses_fenced_json() -> None:
    model, seen = _model(lambda _: _chat('```json\n{"a": 1}\n```'))
    assert await model.handle(_req(ModelType.OBJECT_LARGE, prompt="give a")) == {"a": 1}
    body = seen[0][2]
    assert body["response_format"] == {"type": "json_object"}
    assert body["model"] == "large-m"
    assert "JSON" in body["messages"][0]["content"]  # OpenAI's json mode needs the word


async def test_object_that_is_not_json_is_a_model_error() -> None:
    model, _ = _model(lambda _: _chat("sorry, no"))
    with pytest.raises(ModelError, match="did not answer with JSON"):
        await model.handle(_req(ModelType.OBJECT_SMALL, prompt="json please"))


async def test_embedding_sends_dimensions_for_text_embedding_3_only() -> None:
    vector = {"data": [{"embedding": [0.1, 0.2, 0.3, 0.4]}]}
    model, seen = _model(lambda _: httpx.Response(200, json=vector))
    assert await model.handle(_req(ModelType.TEXT_EMBEDDING, text="hi")) == [0.1, 0.2, 0.3, 0.4]
    assert seen[0][0] == "/v1/embeddings"
    assert seen[0][2] == {"model": "text-embedding-3-small", "input": "hi", "dimensions": 4}

    ollama, seen = _model(lambda _: httpx.Response(200, json=vector), embedding_model="nomic")
    await ollama.handle(_req(ModelType.TEXT_EMBEDDING, text="hi"))
    assert "dimensions" not in seen[0][2]


async def test_embedding_probe_and_wrong_size() -> None:
    model, seen = _model(lambda _: httpx.Response(200, json={"data": [{"embedding": [1.0]}]}))
    assert await model.handle(_req(ModelType.TEXT_EMBEDDING, text=None)) == [0.0] * 4
    assert seen == []
    with pytest.raises(ModelError, match="ELIZABUS_EMBEDDING_DIMENSIONS=1"):
        await model.handle(_req(ModelType.TEXT_EMBEDDING, text="hi"))


async def test_retries_500_then_succeeds() -> None:
    answers = iter([httpx.Response(500, text="overloaded"), _chat("second time lucky")])
    model, seen = _model(lambda _: next(answers))
    assert await model.handle(_req(ModelType.TEXT_SMALL, prompt="hi")) == "second time lucky"
    assert len(seen) == 2


async def test_gives_up_after_three_429s_with_status_and_body() -> None:
    model, seen = _model(lambda _: httpx.Response(429, text="slow down please"))
    with pytest.raises(ModelError, match=r"HTTP 429: slow down please"):
        await model.handle(_req(ModelType.TEXT_SMALL, prompt="hi"))
    assert len(seen) == 3


async def test_does_not_retry_4xx() -> None:
    model, seen = _model(lambda _: httpx.Response(401, json={"error": "bad key"}))
    with pytest.raises(ModelError, match=r"HTTP 401.*bad key.*ELIZABUS_OPENAI_API_KEY"):
        await model.handle(_req(ModelType.TEXT_LARGE, prompt="hi"))
    assert len(seen) == 1


async def test_missing_prompt_and_malformed_reply_are_model_errors() -> None:
    model, _ = _model(lambda _: httpx.Response(200, json={"choices": []}))
    with pytest.raises(ModelError, match="prompt"):
        await model.handle(_req(ModelType.TEXT_LARGE))
    with pytest.raises(ModelError, match=r"choices\[0\]"):
        await model.handle(_req(ModelType.TEXT_LARGE, prompt="hi"))


async def test_no_api_key_sends_no_authorization_header() -> None:
    model, seen = _model(lambda _: _chat("ok"), api_key=None)
    await model.handle(_req(ModelType.TEXT_SMALL, prompt="hi"))
    assert "authorization" not in seen[0][1]


async def test_real_local_http_server_and_retry_on_500() -> None:
    """A tiny asyncio HTTP/1.1 server: first request 500, then a chat completion."""
    requests: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        requests.append(await reader.readexactly(length))
        if len(requests) == 1:
            status, body = b"500 Internal Server Error", b'{"error": "try again"}'
        else:
            body = json.dumps({"choices": [{"message": {"content": "over real HTTP"}}]}).encode()
            status = b"200 OK"
        writer.write(
            b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    model, _ = _model(
        lambda _: _chat("unused"), base_url=f"http://127.0.0.1:{port}/v1", transport=None
    )
    try:
        answer = await model.handle(_req(ModelType.TEXT_SMALL, prompt="real?"))
    finally:
        await model.aclose()
        server.close()
        await server.wait_closed()
    assert answer == "over real HTTP"
    assert len(requests) == 2
    assert json.loads(requests[1])["messages"] == [{"role": "user", "content": "real?"}]


async def test_connection_refused_is_retried_then_a_model_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model, _ = _model(
        lambda _: _chat("unused"), base_url=f"http://127.0.0.1:{port}/v1", transport=None
    )
    with pytest.raises(ModelError, match=r"after 3 attempts.*ELIZABUS_OPENAI_BASE_URL"):
        await model.handle(_req(ModelType.TEXT_SMALL, prompt="hi"))
    await model.aclose()


@pytest.mark.parametrize(
    ("provider", "key", "expected"),
    [
        ("auto", None, ScriptedModel),
        ("auto", "sk-x", OpenAICompatibleModel),
        ("openai", "sk-x", OpenAICompatibleModel),
        ("scripted", "sk-x", ScriptedModel),
        (" Scripted ", None, ScriptedModel),
    ],
)
async def test_build_model_picks_provider_from_settings(
    provider: str, key: str | None, expected: type
) -> None:
    settings = Settings(model_provider=provider, openai_api_key=key, embedding_dimensions=8)
    model = build_model(settings)
    assert isinstance(model, expected)
    assert isinstance(model, ModelHandler)
    if isinstance(model, OpenAICompatibleModel):
        assert model.dimensions == 8
        await model.aclose()


@pytest.mark.parametrize(
    ("provider", "message"),
    [("openai", "ELIZABUS_OPENAI_API_KEY"), ("anthropic", "use one of auto, openai, scripted")],
)
def test_build_model_refuses_bad_settings_with_next_step(provider: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        build_model(Settings(model_provider=provider, openai_api_key=None))
