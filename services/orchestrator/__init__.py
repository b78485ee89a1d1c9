"""The core orchestrator: consumes `message.received`, runs the agent, records the run as events."""
