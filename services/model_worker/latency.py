"""`WithLatency`: a model handler that answers text generation only after a fixed delay.

It wraps the offline scripted model so that benchmarks and tests can stand in for a real LLM's
latency (`ELIZABUS_SCRIPTED_LATENCY_MS`, e.g. 300 ms per text-model call) without a network: the
worker keeps serving other requests while one waits, as it would for a real provider.
"""

from __future__ import annotations

import asyncio
from typing import Any

from shared.messages import ModelRequest
from shared.model_types import ModelType
from shared.model_wire import ModelHandler

TEXT_GENERATION = frozenset(
    {
        ModelType.TEXT_SMALL,
        ModelType.TEXT_LARGE,
        ModelType.TEXT_REASONING_SMALL,
        ModelType.TEXT_REASONING_LARGE,
        ModelType.TEXT_COMPLETION,
        ModelType.OBJECT_SMALL,
        ModelType.OBJECT_LARGE,
    }
)
"""The model types that wait: the ones an LLM answers (embeddings stay instant)."""


class WithLatency:
    """`inner`, with every text-generation answer delayed by `seconds`."""

    def __init__(self, inner: ModelHandler, seconds: float) -> None:
        self.inner = inner
        self.seconds = seconds
        self.provider = inner.provider
        self.supported: frozenset[ModelType] = inner.supported

    async def handle(self, request: ModelRequest) -> Any:
        """Wait (for text generation), then answer with the wrapped handler."""
        if request.model_type in TEXT_GENERATION:
            await asyncio.sleep(self.seconds)
        return await self.inner.handle(request)
