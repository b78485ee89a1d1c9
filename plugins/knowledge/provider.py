"""KNOWLEDGE: the agent's knowledge fragments most relevant to the message, in ElizaOS's format.

As plugin-knowledge's provider: "# Knowledge" and one "- <fragment>" line each for the first
five fragments found (`get_knowledge`), as the provider text and as the `knowledge` value;
`knowledgeUsed` says whether any was found. ElizaOS marks it dynamic (run only when the model
names it among its <providers>); here it runs for every composed state, so the fact is in the
first prompt: the REPLY action sends the text the message handler already wrote rather than
writing a second one with the providers the model named (as ElizaOS does). An agent with no
knowledge pays no model call and at most one indexed read every 2 s; within a run the search is
made once per message, however many times the state is composed.
"""

from __future__ import annotations

from typing import Any

from shared.plugin import (
    Memory,
    Provider,
    ProviderResult,
    Runtime,
    State,
    get_knowledge,
    knowledge_text,
)


def _fragment_data(fragment: Memory) -> dict[str, Any]:
    meta = fragment.metadata
    return {
        "id": str(fragment.id),
        "documentId": meta.get("documentId"),
        "position": meta.get("position"),
        "title": meta.get("title") or meta.get("filename"),
        "source": meta.get("source"),
        "preview": fragment.text[:100],
    }


async def get_knowledge_state(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
    """The KNOWLEDGE provider's result for a message (see the module docstring)."""
    fragments = await get_knowledge(runtime, message)
    text = knowledge_text(fragments)
    used = bool(text)
    return ProviderResult(
        text=text,
        values={"knowledge": text, "knowledgeUsed": used},
        data={
            "knowledge": text,
            "knowledgeUsed": used,
            "fragments": [_fragment_data(f) for f in fragments],
        },
    )


KNOWLEDGE = Provider(
    name="KNOWLEDGE",
    description="Knowledge from the knowledge base that the agent knows, retrieved whenever "
    "the agent needs to answer a question about their expertise.",
    get=get_knowledge_state,
)
