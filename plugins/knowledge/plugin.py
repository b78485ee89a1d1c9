"""The knowledge plugin's Plugin object (entry point `knowledge`; ElizaOS name
`@elizaos/plugin-knowledge`)."""

from __future__ import annotations

from plugins.knowledge.provider import KNOWLEDGE
from plugins.knowledge.service import KnowledgeService
from shared.plugin import Plugin

KNOWLEDGE_PLUGIN_NAME = "knowledge"


def knowledge_plugin() -> Plugin:
    """A fresh knowledge Plugin: the KNOWLEDGE provider and the service that ingests the
    character's `knowledge` at start."""
    return Plugin(
        name=KNOWLEDGE_PLUGIN_NAME,
        description="Knowledge (RAG): documents split into fragments, searched for each message",
        providers=[KNOWLEDGE],
        services=[KnowledgeService],
    )
