"""A real, deterministic, dependency-free text embedding: signed feature hashing of words (what the
scripted model double, `shared.testing.ScriptedModel`, answers TEXT_EMBEDDING with)."""

from __future__ import annotations

import math
import re
from functools import lru_cache
from hashlib import blake2b
from itertools import pairwise

from shared.errors import ConfigurationError

_WORD = re.compile(r"\w+")
_BIGRAM_WEIGHT = 0.5


@lru_cache(maxsize=131_072)
def _bucket(feature: str, dimensions: int) -> tuple[int, float]:
    """The stable (index, sign) of one feature: blake2b, never Python's per-process `hash()`."""
    value = int.from_bytes(blake2b(feature.encode(), digest_size=8).digest(), "little")
    return value % dimensions, 1.0 if value >> 63 else -1.0


def hashed_embedding(text: str | None, dimensions: int = 384) -> list[float]:
    """Embed `text` as an L2-normalised vector of `dimensions` floats.

    Features are the lowercase unicode word tokens (`\\w+`) plus word bigrams (weight 0.5),
    each hashed into a bucket with a sign, so texts sharing words and phrases land near each
    other (cosine) while unrelated texts are near-orthogonal. The same text gives the same
    vector in every process. Empty text (or text with no word characters, or None) gives the
    ZERO vector of the right length, which is what ElizaOS's `useModel(TEXT_EMBEDDING, null)`
    dimension probe needs.
    """
    if dimensions < 1:
        raise ConfigurationError(
            f"embedding dimensions must be at least 1, got {dimensions}: "
            "set ELIZABUS_EMBEDDING_DIMENSIONS to a positive number (e.g. 384)"
        )
    vector = [0.0] * dimensions
    if not text:
        return vector
    words = _WORD.findall(text.lower())
    if not words:
        return vector
    bucket = _bucket
    for word in words:
        index, sign = bucket(word, dimensions)
        vector[index] += sign
    weighted = _BIGRAM_WEIGHT
    for first, second in pairwise(words):
        index, sign = bucket(f"{first} {second}", dimensions)
        vector[index] += sign * weighted
    norm = math.sqrt(math.fsum(v * v for v in vector))
    if norm == 0.0:
        return vector
    scale = 1.0 / norm
    return [v * scale for v in vector]


def cosine_similarity(a: list[float], b: list[float]) -> float:
    """Cosine of two equal-length vectors; 0.0 when either is the zero vector."""
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(y * y for y in b))
    return dot / norm if norm else 0.0
