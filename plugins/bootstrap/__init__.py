"""The bootstrap plugin: the default behaviour of an ElizaOS agent, ported to elizabus."""
