"""The agent runtime: ElizaOS's AgentRuntime surface (plugins, models, state, actions, evaluators,
events, services, tasks) in Python, recording everything it does as events."""
