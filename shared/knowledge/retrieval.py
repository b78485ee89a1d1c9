"""Finding the knowledge fragments for a message, and the text the KNOWLEDGE provider shows.

As ElizaOS's knowledge service (`getKnowledge`): the message's text is embedded, the agent's
`knowledge` memories are searched by cosine similarity (threshold 0.1, 20 hits) and re-ranked
with BM25 against the text; the provider shows the first five as "# Knowledge" and one "- text"
line each, cut at 4,000 tokens of 3.5 characters. One difference: ElizaOS orders the hits by
their BM25 score alone (similarity only breaks ties), which with a real embedding model lets a
fragment full of "the" and "what" outrank the one that answers a paraphrased question; here the
similarity order and the BM25 order are merged by reciprocal rank fusion, so both count, and
BM25 is given the message's content words only (English function words left out). The search
is the agent's own (the read model is scoped to it) and covers every room, as ElizaOS's does.
An agent with no knowledge makes no model call.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from shared.knowledge.ingest import FRAGMENTS_TABLE, QUERY
from shared.knowledge.presence import found_empty, known_empty
from shared.runtime.read_cache import cached_read

if TYPE_CHECKING:  # shared.plugin re-exports this module's API: no import of it at load time
    from shared.plugin import Memory, Runtime

SEARCH_COUNT = 20
MATCH_THRESHOLD = 0.1
SHOWN_FRAGMENTS = 5
MAX_CHARS = int(4000 * 3.5)
HEADER = "# Knowledge"
_WORD = re.compile(r"\w+")
_FUNCTION_WORDS = """
    a about after again all am an and any are as at be because been before being both but by can
    could did do does doing down during each few for from further had has have having he her
    here hers him his how i if in into is it its just me more most my no nor not now of off on
    once only or other our ours out over own same she should so some such than that the their
    them then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours"""
STOPWORDS = frozenset(_FUNCTION_WORDS.split())
"""English function words, left out of the BM25 query (see `content_words`)."""
RRF_K = 60
"""The usual constant of reciprocal rank fusion: a hit's rank counts, its raw score does not."""


async def get_knowledge(
    runtime: Runtime, message: Memory, count: int = SEARCH_COUNT
) -> list[Memory]:
    """The agent's fragments most relevant to the message's text, best first; [] when the
    message has no text or the agent no knowledge (then no model is called, and for a moment no
    database read either: `presence`). Within a run it is searched once per
    message, however often the state is composed."""
    return await cached_read(
        runtime.agent_id, ("knowledge", message.id, count), lambda: _search(runtime, message, count)
    )


async def _search(runtime: Runtime, message: Memory, count: int) -> list[Memory]:
    text = message.text.strip()
    if not text or known_empty(runtime.agent_id):
        return []
    if not await runtime.get_memories(table_name=FRAGMENTS_TABLE, count=1):
        found_empty(runtime.agent_id)
        return []
    embedding = await runtime.use_model("TEXT_EMBEDDING", {"text": text, "input_type": QUERY})
    if not isinstance(embedding, list) or not embedding:
        return []
    by_meaning = await runtime.search_memories(
        embedding=[float(x) for x in embedding],
        table_name=FRAGMENTS_TABLE,
        match_threshold=MATCH_THRESHOLD,
        count=count,
    )
    words = content_words(text)
    by_words = await runtime.rerank_memories(words, by_meaning) if words else by_meaning
    return fuse_rankings(by_meaning, by_words)


def content_words(text: str) -> str:
    """The words of `text` that say what it is about: English function words ("the", "what",
    "does", ...) left out, so BM25 does not favour the fragments that repeat them most."""
    return " ".join(w for w in _WORD.findall(text.lower()) if w not in STOPWORDS)


def fuse_rankings(*rankings: list[Memory], k: int = RRF_K) -> list[Memory]:
    """The memories of several rankings of the same hits, by reciprocal rank fusion (the sum of
    1 / (k + rank) over the rankings; ties keep the first ranking's order)."""
    score: dict[object, float] = {}
    first: dict[object, tuple[int, Memory]] = {}
    for ranking in rankings:
        for rank, memory in enumerate(ranking):
            score[memory.id] = score.get(memory.id, 0.0) + 1.0 / (k + rank + 1)
            first.setdefault(memory.id, (len(first), memory))
    order = sorted(first, key=lambda key: (-score[key], first[key][0]))
    return [first[key][1] for key in order]


def knowledge_text(fragments: list[Memory]) -> str:
    """ElizaOS's provider text: a "# Knowledge" header and one "- <fragment>" line for each of
    the first five fragments, cut at 14,000 characters; "" when there are none."""
    shown = [f"- {f.text}" for f in fragments[:SHOWN_FRAGMENTS] if f.text]
    if not shown:
        return ""
    text = f"{HEADER}\n" + "\n".join(shown) + "\n"
    return text[:MAX_CHARS]
