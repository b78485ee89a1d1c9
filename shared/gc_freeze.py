"""Keep a long-running service's start-up objects out of the garbage collector's full passes.

A service imports pydantic models, plugins, characters and the NATS and Postgres clients at start:
hundreds of thousands of objects that live as long as the process. Each full (generation 2)
collection walks them all; measured in a busy orchestrator (20 conversations at once) that was a
70 to 100 ms pause of the event loop a few times a minute, every run in flight waiting through it.
`gc.freeze()` moves what exists once the service is ready into a permanent generation the
collector skips (CPython's advice for long-lived processes), so later passes see only the
objects made while serving.
"""

from __future__ import annotations

import gc
import logging

__all__ = ["freeze_startup_objects"]

log = logging.getLogger(__name__)


def freeze_startup_objects() -> int:
    """Collect once, then freeze every object alive now; returns how many were frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("froze %d start-up objects out of the collector's passes", frozen)
    return frozen
