"""A model worker process for the worker-death tests (test-only): the first TEXT_LARGE request any
of its kind takes is held for ever, the others answered by the scripted model.

`python -m tests.integration.claiming_worker --claim FILE --provider NAME --priority N` runs a
real model worker (`build_worker_app`, NATS URL from ELIZABUS_NATS_URL). Several of them share
the claim file: the one whose TEXT_LARGE request creates it (O_EXCL) writes its pid into it and
never answers, as a worker stuck in a slow LLM call; the test kills that pid with SIGKILL.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from services.model_worker.app import build_worker_app
from shared.messages import ModelRequest
from shared.model_types import ModelType
from shared.settings import Settings
from shared.testing import ScriptedModel


class ClaimingModel:
    """The scripted model, except that the first TEXT_LARGE request (across processes) hangs."""

    def __init__(self, claim: Path, provider: str) -> None:
        self.claim = claim
        self.provider = provider
        self.inner = ScriptedModel(record_calls=False)
        self.supported = self.inner.supported
        self.max_concurrency = 8

    async def handle(self, request: ModelRequest) -> Any:
        """Hang on the first TEXT_LARGE request of all; answer the rest."""
        if request.model_type is ModelType.TEXT_LARGE:
            try:
                fd = os.open(self.claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                pass
            else:
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                await asyncio.Event().wait()  # held until the test kills this process
        return await self.inner.handle(request)


def main() -> None:
    """Run the worker until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claim", type=Path, required=True)
    parser.add_argument("--provider", required=True)
    parser.add_argument("--priority", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    model = ClaimingModel(args.claim, args.provider)
    _, app = build_worker_app(
        Settings(), model, provider_name=args.provider, priority=args.priority
    )
    asyncio.run(app.run())


if __name__ == "__main__":
    main()
