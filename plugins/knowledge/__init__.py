"""The knowledge plugin (ElizaOS's `@elizaos/plugin-knowledge`): the KNOWLEDGE provider, and the
character's `knowledge` ingested at agent start. The ingestion itself is `shared.knowledge`,
which `elizabus knowledge add` runs too."""

from plugins.knowledge.plugin import KNOWLEDGE_PLUGIN_NAME, knowledge_plugin

__all__ = ["KNOWLEDGE_PLUGIN_NAME", "knowledge_plugin"]
