"""Finding the knowledge fragments for a message, and the text the KNOWLEDGE provider shows.

As ElizaOS's knowledge service (`getKnowledge`): the message's text is embedded, the agent's
`knowledge` memories are searched by cosine similarity (threshold 0.1, 20 hits) and re-ranked
by BM25 against the text; the provider shows the first five as "# Knowledge" and one "- text"
line each, cut at 4,000 tokens of 3.5 characters. The search is the agent's own (the read model
is scoped to it) and covers every room, as ElizaOS's does. An agent with no knowledge makes no
model call.
"""

from __future__ import annotations

from shared.knowledge.ingest import FRAGMENTS_TABLE, QUERY
from shared.plugin import Memory, Runtime

SEARCH_COUNT = 20
MATCH_THRESHOLD = 0.1
SHOWN_FRAGMENTS = 5
MAX_CHARS = int(4000 * 3.5)
HEADER = "# Knowledge"


async def get_knowledge(
    runtime: Runtime, message: Memory, count: int = SEARCH_COUNT
) -> list[Memory]:
    """The agent's fragments most relevant to the message's text, best first; [] when the
    message has no text or the agent no knowledge (then no model is called)."""
    text = message.text.strip()
    if not text:
        return []
    if not await runtime.get_memories(table_name=FRAGMENTS_TABLE, count=1):
        return []
    embedding = await runtime.use_model("TEXT_EMBEDDING", {"text": text, "input_type": QUERY})
    if not isinstance(embedding, list) or not embedding:
        return []
    return await runtime.search_memories(
        embedding=[float(x) for x in embedding],
        table_name=FRAGMENTS_TABLE,
        query=text,
        match_threshold=MATCH_THRESHOLD,
        count=count,
    )


def knowledge_text(fragments: list[Memory]) -> str:
    """ElizaOS's provider text: a "# Knowledge" header and one "- <fragment>" line for each of
    the first five fragments, cut at 14,000 characters; "" when there are none."""
    shown = [f"- {f.text}" for f in fragments[:SHOWN_FRAGMENTS] if f.text]
    if not shown:
        return ""
    text = f"{HEADER}\n" + "\n".join(shown) + "\n"
    return text[:MAX_CHARS]
