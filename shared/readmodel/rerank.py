"""BM25 re-ranking of vector-search hits by a text query (ElizaOS's rerankMemories)."""

from __future__ import annotations

import re

from rank_bm25 import BM25Plus

from shared.plugin import Memory

_WORD = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of a text."""
    return _WORD.findall(text.lower())


def rerank_memories(query: str, memories: list[Memory]) -> list[Memory]:
    """The memories ordered by BM25 relevance of their text to `query`, best first.

    BM25+ is used because plain Okapi BM25 gives a zero or negative weight to a word found in
    half or more of a small result set, which would leave a handful of hits unordered. Ties keep
    the memories' incoming (similarity) order. Nothing is dropped.
    """
    if not memories or not tokenize(query):
        return list(memories)
    corpus = [tokenize(m.text) or [""] for m in memories]
    scores = BM25Plus(corpus).get_scores(tokenize(query))
    order = sorted(range(len(memories)), key=lambda i: -float(scores[i]))
    return [memories[i] for i in order]
