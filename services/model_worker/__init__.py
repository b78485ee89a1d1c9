"""The model worker service: answers ElizaOS `useModel` calls on `model.<MODEL_TYPE>`."""
