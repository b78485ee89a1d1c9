"""`InProcessModelClient`: the model-call double that runs a ModelHandler in this process."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from shared.errors import NoModelHandlerError
from shared.model_types import ModelType
from shared.model_wire import (
    ModelCallResult,
    ModelHandler,
    decode_response,
    encode_request,
    serve_model_request,
)


class InProcessModelClient:
    """Test double of `request_model`: runs a `ModelHandler` in this process, no bus.

    Requests and replies go through the same JSON encoding and `serve_model_request` as a real
    worker, so results, errors and `NoModelHandlerError` behave as over NATS.
    """

    def __init__(self, handler: ModelHandler) -> None:
        self.handler = handler

    async def call(
        self,
        model_type: ModelType,
        params: dict[str, Any],
        *,
        run_id: UUID | None = None,
        agent_id: UUID | None = None,
    ) -> ModelCallResult:
        """Run the handler on this request as a worker would; same errors as the bus client."""
        if model_type not in self.handler.supported:
            served = ", ".join(sorted(t.value for t in self.handler.supported))
            raise NoModelHandlerError(
                f"no model handler serves {model_type.value} (provider "
                f"{self.handler.provider!r} serves {served}): "
                "give InProcessModelClient a handler that supports it"
            )
        body = encode_request(model_type, params, run_id, agent_id)
        started = time.perf_counter()
        reply = await serve_model_request(self.handler, body, model_type)
        return decode_response(model_type, reply, started)
