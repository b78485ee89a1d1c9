"""Embeds texts through the runtime's TEXT_EMBEDDING model, one text or many at once.

Many texts go to the model in batches when it takes a list: params `{"text": [...]}` (a list, as
OpenAI's `input`) answered with one vector per text (the scripted model, the local e5 model and
the OpenAI-compatible worker do). The first batch finds out:
an answer that is not one vector per text (a model that only reads `text` answers a single
vector, or fails) turns batching off for this runtime, and the texts are then embedded one call
each, at most `concurrency` at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from shared.errors import ModelError

log = logging.getLogger(__name__)

EMBED_BATCH = 64
"""Texts per TEXT_EMBEDDING call when the model takes a list."""
EMBED_CONCURRENCY = 8
"""Single-text TEXT_EMBEDDING calls in flight at once when it does not."""

UseModel = Callable[[str, dict[str, Any]], Awaitable[Any]]
Embedding = list[float]


_NUMBERS = frozenset({float, int})


def _is_vector(value: Any) -> bool:
    """A non-empty list of numbers (bools are not numbers here); `map(type)` keeps it quick."""
    return isinstance(value, list) and bool(value) and _NUMBERS.issuperset(map(type, value))


def _floats(vector: list[Any]) -> list[float]:
    return vector if set(map(type, vector)) == {float} else [float(x) for x in vector]


class Embedder:
    """TEXT_EMBEDDING for one runtime, remembering whether its model takes a list of texts."""

    def __init__(
        self, use_model: UseModel, batch: int = EMBED_BATCH, concurrency: int = EMBED_CONCURRENCY
    ) -> None:
        self._use_model = use_model
        self.batch = batch
        self.concurrency = concurrency
        self.takes_lists: bool | None = None
        """None until the first batch; then whether the model answered one vector per text."""

    async def embed(self, text: str) -> Embedding:
        """The embedding of one text; ModelError when the model answers no vector."""
        vector = await self._use_model("TEXT_EMBEDDING", {"text": text})
        if not _is_vector(vector):
            raise ModelError(
                f"TEXT_EMBEDDING answered {type(vector).__name__}, not a vector: check the "
                "embedding model (ELIZABUS_EMBEDDING_* settings, or the plugin serving it)"
            )
        return _floats(vector)

    async def embed_many(self, texts: Sequence[str]) -> list[Embedding | Exception]:
        """The embedding of each text, in order; a text whose embedding failed gets the error."""
        results: list[Embedding | Exception] = []
        pending = list(texts)
        while pending and self.takes_lists is not False:
            chunk, pending = pending[: self.batch], pending[self.batch :]
            try:
                answer = await self._use_model("TEXT_EMBEDDING", {"text": chunk})
            except Exception as exc:
                if self.takes_lists is None:  # maybe it cannot read a list: try one by one
                    self.takes_lists = False
                    pending = chunk + pending
                    break
                results += [exc] * len(chunk)
                continue
            if (
                isinstance(answer, list)
                and len(answer) == len(chunk)
                and all(_is_vector(v) for v in answer)
            ):
                self.takes_lists = True
                results += [_floats(v) for v in answer]
            else:
                log.info("TEXT_EMBEDDING does not take a list of texts: embedding one by one")
                self.takes_lists = False
                pending = chunk + pending
        if pending:
            results += await self._one_by_one(pending)
        return results

    async def _one_by_one(self, texts: Sequence[str]) -> list[Embedding | Exception]:
        limit = asyncio.Semaphore(self.concurrency)

        async def one(text: str) -> Embedding | Exception:
            async with limit:
                try:
                    return await self.embed(text)
                except Exception as exc:
                    return exc

        return list(await asyncio.gather(*(one(t) for t in texts)))
