"""`python -m services.model_worker`: run one model worker with settings from the environment."""

from __future__ import annotations

import asyncio
import logging

from services.model_worker.app import run_worker
from shared.settings import Settings


def main() -> None:
    """Start a model worker; it stops cleanly on Ctrl+C or SIGTERM."""
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
