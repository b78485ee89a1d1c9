"""`OpenAICompatibleModel`: text, object and embedding models over the OpenAI HTTP API.

The same `/chat/completions` and `/embeddings` API is served by OpenAI, Ollama
(`http://localhost:11434/v1`) and vLLM (`http://host:8000/v1`), so one client covers all three.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from shared.errors import ConfigurationError, ModelError, ModelRejectedError
from shared.messages import ModelRequest
from shared.model_types import ModelType
from shared.secrets import Scrubber, redact_url

if TYPE_CHECKING:
    from shared.settings import Settings

SMALL_TYPES = frozenset(
    {ModelType.TEXT_SMALL, ModelType.TEXT_REASONING_SMALL, ModelType.TEXT_COMPLETION}
)
LARGE_TYPES = frozenset({ModelType.TEXT_LARGE, ModelType.TEXT_REASONING_LARGE})
OBJECT_TYPES = frozenset({ModelType.OBJECT_SMALL, ModelType.OBJECT_LARGE})
_RETRY_NETWORK = (httpx.NetworkError, httpx.ConnectTimeout, httpx.RemoteProtocolError)
# ElizaOS's camelCase useModel params, and their OpenAI names
_PASS_THROUGH = {
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "maxTokens": "max_tokens",
    "stop": "stop",
    "stopSequences": "stop",
    "frequency_penalty": "frequency_penalty",
    "frequencyPenalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "presencePenalty": "presence_penalty",
    "topP": "top_p",
    "top_p": "top_p",
    "seed": "seed",
    "user": "user",
}
_EXCERPT_CHARS = 300


class HTTPStatusModelError(ModelError):
    """The model API answered with an HTTP error status; `status` says which."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RejectedByModelError(HTTPStatusModelError, ModelRejectedError):
    """The model API refused the request itself (4xx other than 408 and 429): a permanent
    failure, another try would be refused the same way."""


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, HTTPStatusModelError):
        return exc.status == 429 or exc.status >= 500
    return isinstance(exc, _RETRY_NETWORK)


def _hint(status: int) -> str:
    if status in (401, 403):
        return "check ELIZABUS_OPENAI_API_KEY"
    if status == 404:
        return "check ELIZABUS_OPENAI_BASE_URL and that the model name exists on that server"
    if status == 429:
        return "the provider is rate-limiting: slow down or raise your quota"
    if status >= 500:
        return "the provider failed: retry later or check the server's log"
    return "check the request params and the model settings"


class OpenAICompatibleModel:
    """A `ModelHandler` calling an OpenAI-compatible server (OpenAI, Ollama, vLLM).

    Connection errors, 429 and 5xx are retried with exponential backoff (`max_attempts` in
    all); other 4xx fail at once. Every failure is a `ModelError` naming the HTTP status and
    an excerpt of the body. `send_dimensions` says whether to send `dimensions` to
    `/embeddings`; None means "only for text-embedding-3-* models", which accept it.
    """

    provider = "openai"
    supported: frozenset[ModelType] = (
        SMALL_TYPES | LARGE_TYPES | OBJECT_TYPES | {ModelType.TEXT_EMBEDDING}
    )

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        small_model: str,
        large_model: str,
        embedding_model: str,
        dimensions: int = 384,
        timeout: float = 60.0,
        *,
        send_dimensions: bool | None = None,
        max_attempts: int = 3,
        retry_wait: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise ConfigurationError(
                "the OpenAI-compatible base URL is empty: set ELIZABUS_OPENAI_BASE_URL "
                "(e.g. https://api.openai.com/v1 or http://localhost:11434/v1 for Ollama)"
            )
        self.base_url = base_url.rstrip("/")
        # Errors go back to the orchestrator (events, the DLQ): they name the server by a URL
        # without its user, password and query, and never carry the key.
        self._scrubber = Scrubber([api_key] if api_key else [])
        self.small_model = small_model
        self.large_model = large_model
        self.embedding_model = embedding_model
        self.dimensions = dimensions
        self.send_dimensions = (
            embedding_model.startswith("text-embedding-3")
            if send_dimensions is None
            else send_dimensions
        )
        self._max_attempts = max(1, max_attempts)
        self._retry_wait = retry_wait
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            timeout=timeout,
            headers=headers,
            transport=transport,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, send_dimensions: bool | None = None
    ) -> OpenAICompatibleModel:
        """The model the ELIZABUS_OPENAI_* and ELIZABUS_EMBEDDING_DIMENSIONS settings describe."""
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return cls(
            base_url=settings.openai_base_url,
            api_key=key or None,
            small_model=settings.openai_small_model,
            large_model=settings.openai_large_model,
            embedding_model=settings.openai_embedding_model,
            dimensions=settings.embedding_dimensions,
            timeout=settings.model_attempt_timeout_seconds,
            send_dimensions=send_dimensions,
        )

    async def aclose(self) -> None:
        """Close the HTTP connection pool; call once when the worker stops."""
        await self._client.aclose()

    async def handle(self, request: ModelRequest) -> Any:
        """Call the API for `request` and return ElizaOS's result shape for its type."""
        model_type = request.model_type
        params = request.params
        if model_type is ModelType.TEXT_EMBEDDING:
            text = params.get("text")
            return await (self.embed_many(text) if isinstance(text, list) else self.embed(text))
        if model_type in OBJECT_TYPES:
            model = self.small_model if model_type is ModelType.OBJECT_SMALL else self.large_model
            return await self.generate_object(model, params)
        if model_type in SMALL_TYPES:
            return await self.generate_text(self.small_model, params)
        if model_type in LARGE_TYPES:
            return await self.generate_text(self.large_model, params)
        raise ModelError(
            f"the openai provider does not serve {model_type.value}: "
            "start a model worker with a provider that does"
        )

    async def generate_text(self, model: str, params: Mapping[str, Any]) -> str:
        """One chat completion's text for ElizaOS text params (prompt, system, ...)."""
        payload = self._chat_payload(model, params)
        return self._content(await self._post("chat/completions", payload), model)

    async def generate_object(self, model: str, params: Mapping[str, Any]) -> Any:
        """A chat completion in JSON mode, parsed; ModelError when it is not JSON."""
        payload = self._chat_payload(model, params, json_mode=True)
        payload["response_format"] = {"type": "json_object"}
        content = self._content(await self._post("chat/completions", payload), model)
        text = content.strip()
        if text.startswith("```"):
            text = text.strip("`").removeprefix("json").strip()
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ModelError(
                f"{model} did not answer with JSON ({exc}; starts {content[:120]!r}): "
                "use a model that supports response_format json_object"
            ) from exc

    async def embed(self, text: Any) -> list[float]:
        """The embedding of `text`; a zero vector for None/empty (ElizaOS's dimension probe)."""
        if not isinstance(text, str) or not text.strip():
            return [0.0] * self.dimensions
        payload: dict[str, Any] = {"model": self.embedding_model, "input": text}
        if self.send_dimensions:
            payload["dimensions"] = self.dimensions
        data = await self._post("embeddings", payload)
        try:
            vector = [float(v) for v in data["data"][0]["embedding"]]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ModelError(
                f"{self.embedding_model} sent an embeddings reply without data[0].embedding "
                f"({str(data)[:_EXCERPT_CHARS]}): check ELIZABUS_OPENAI_EMBEDDING_MODEL"
            ) from exc
        return self._sized(vector)

    async def embed_many(self, texts: list[Any]) -> list[list[float]]:
        """One embedding per text, in one request (the API takes a list `input`); a zero
        vector for each None/empty text."""
        vectors = [[0.0] * self.dimensions for _ in texts]
        wanted = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
        if not wanted:
            return vectors
        payload: dict[str, Any] = {
            "model": self.embedding_model,
            "input": [texts[i] for i in wanted],
        }
        if self.send_dimensions:
            payload["dimensions"] = self.dimensions
        data = await self._post("embeddings", payload)
        try:
            rows = sorted(data["data"], key=lambda row: int(row["index"]))
            got = [[float(v) for v in row["embedding"]] for row in rows]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(
                f"{self.embedding_model} sent an embeddings reply without data[].embedding "
                f"({str(data)[:_EXCERPT_CHARS]}): check ELIZABUS_OPENAI_EMBEDDING_MODEL"
            ) from exc
        if len(got) != len(wanted):
            raise ModelError(
                f"{self.embedding_model} answered {len(got)} embeddings for {len(wanted)} texts: "
                "check that the server takes a list input"
            )
        for i, vector in zip(wanted, got, strict=True):
            vectors[i] = self._sized(vector)
        return vectors

    def _sized(self, vector: list[float]) -> list[float]:
        if len(vector) != self.dimensions:
            raise ModelError(
                f"{self.embedding_model} returned {len(vector)} dimensions, expected "
                f"{self.dimensions}: set ELIZABUS_EMBEDDING_DIMENSIONS={len(vector)} "
                "(on a fresh database) or choose a model with that size"
            )
        return vector

    def _chat_payload(
        self, model: str, params: Mapping[str, Any], *, json_mode: bool = False
    ) -> dict[str, Any]:
        prompt = params.get("prompt")
        if not isinstance(prompt, str):
            raise ModelError(
                'a text model request needs params["prompt"] as a string: '
                "pass the prompt ElizaOS's useModel would get"
            )
        messages: list[dict[str, str]] = []
        system = params.get("system")
        if json_mode and "json" not in prompt.lower():
            system = f"{system}\n\nRespond with a JSON object." if system else "Respond in JSON."
        if isinstance(system, str) and system:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": prompt})
        payload: dict[str, Any] = {"model": model, "messages": messages}
        for name, api_name in _PASS_THROUGH.items():
            value = params.get(name)
            if value is not None and value != []:
                payload[api_name] = value
        return payload

    def _content(self, data: Any, model: str) -> str:
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise ModelError(
                f"{model} sent a chat reply without choices[0].message.content "
                f"({str(data)[:_EXCERPT_CHARS]}): check the model name and the server"
            ) from exc
        if not isinstance(content, str):
            raise ModelError(
                f"{model} sent no text content (got {content!r}): the model may have "
                "refused or only called tools; check the prompt"
            )
        return content

    async def _post(self, path: str, payload: dict[str, Any]) -> Any:
        url = f"{self.base_url}/{path}"
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=wait_exponential(multiplier=self._retry_wait, max=10),
            retry=retry_if_exception(_is_retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._post_once(url, payload)
        except httpx.HTTPError as exc:
            raise ModelError(
                self._safe(
                    f"POST {redact_url(url)} failed after {self._max_attempts} attempts "
                    f"({type(exc).__name__}: {exc}): check that the server at "
                    "ELIZABUS_OPENAI_BASE_URL is reachable"
                )
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    def _safe(self, text: str) -> str:
        """An error message without the base URL's credentials or the API key."""
        return self._scrubber.text(text.replace(self.base_url, redact_url(self.base_url)))

    async def _post_once(self, url: str, payload: dict[str, Any]) -> Any:
        response = await self._client.post(url, json=payload)
        shown = redact_url(url)
        if response.status_code >= 400:
            excerpt = " ".join(response.text.split())[:_EXCERPT_CHARS]
            status = response.status_code
            refused = status < 500 and status not in (408, 429)
            error = RejectedByModelError if refused else HTTPStatusModelError
            message = f"POST {shown} answered HTTP {status}: {excerpt} ({_hint(status)})"
            raise error(self._safe(message), status)
        try:
            return response.json()
        except ValueError as exc:
            raise ModelError(
                self._safe(
                    f"POST {shown} answered HTTP {response.status_code} with a body that is not "
                    f"JSON ({response.text[:120]!r}): check ELIZABUS_OPENAI_BASE_URL ends in /v1"
                )
            ) from exc
