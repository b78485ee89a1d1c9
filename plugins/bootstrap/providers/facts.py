"""FACTS: what the agent learnt in this room (REFLECTION stores facts), relevant ones first.

The recent conversation is embedded (TEXT_EMBEDDING) and the `facts` table searched with it;
the most recent facts are added, each fact once.
"""

from __future__ import annotations

from plugins.bootstrap.providers.format import add_header, memory_data
from shared.plugin import Memory, Provider, ProviderResult, Runtime, State

RECENT_FOR_QUERY = 6
FACTS_COUNT = 6
MATCH_THRESHOLD = 0.5


async def get_facts(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """Relevant facts (by embedding similarity to the recent talk) and the latest facts."""
    recent = await runtime.get_memories(room_id=message.room_id, count=RECENT_FOR_QUERY)
    texts = [m.text for m in sorted(recent, key=lambda m: m.created_at) if m.id != message.id]
    query = "\n".join(t for t in [*texts[-(RECENT_FOR_QUERY - 1) :], message.text] if t)
    relevant: list[Memory] = []
    if query:
        embedding = await runtime.use_model("TEXT_EMBEDDING", {"text": query})
        if isinstance(embedding, list) and embedding:
            relevant = await runtime.search_memories(
                embedding=[float(x) for x in embedding],
                table_name="facts",
                query=message.text or query,
                match_threshold=MATCH_THRESHOLD,
                count=FACTS_COUNT,
                room_id=message.room_id,
            )
    latest = await runtime.get_memories(
        room_id=message.room_id, table_name="facts", count=FACTS_COUNT
    )
    facts: list[Memory] = []
    seen = set()
    for fact in [*relevant, *sorted(latest, key=lambda m: m.created_at, reverse=True)]:
        if fact.id not in seen and fact.text:
            seen.add(fact.id)
            facts.append(fact)
    body = "\n".join(f"- {f.text}" for f in facts)
    text = add_header(f"# Things {runtime.character.name} knows", body)
    return ProviderResult(
        text=text,
        values={"facts": body},
        data={"facts": [memory_data(f) for f in facts]},
    )


FACTS = Provider(
    name="FACTS",
    description="Facts the agent has learnt about the people and topics of this conversation.",
    dynamic=True,
    get=get_facts,
)
