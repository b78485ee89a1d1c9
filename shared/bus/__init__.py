"""The bus boundary: publishing to JetStream and core NATS, a real client and a test double."""

from shared.bus.protocol import Bus, PublishedMessage

__all__ = ["Bus", "PublishedMessage"]
