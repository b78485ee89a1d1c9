"""The library every elizabus service shares: settings, ids, bus messages, events, store, bus."""
