"""How a long-running service sets CPython's garbage collector once it is ready to serve.

Reference counting frees almost everything a run makes; the cyclic collector is for cycles. Its
default thresholds run a young-generation pass every 700 net allocations of container objects, and
every pass walks everything it holds: in an orchestrator with 20 conversations in flight that was
300 passes per 200 messages, and each full pass also walked the hundreds of thousands of objects a
service makes at start (modules, pydantic models, plugins, the NATS and Postgres clients), pausing
the event loop 70 to 150 ms with every run in flight waiting. Measured in `make bench`'s concurrent
workload (docs/benchmarks.md, "Session 5"): 356 ms of collection per 211 messages with the
defaults, 130 ms with the thresholds below and start-up objects frozen.

`gc.freeze()` moves what exists once the service is ready into a permanent generation the collector
skips (CPython's advice for long-lived processes); `SERVING_THRESHOLDS` make the passes rarer.
"""

from __future__ import annotations

import gc
import logging

__all__ = ["SERVING_THRESHOLDS", "tune_for_serving"]

log = logging.getLogger(__name__)

SERVING_THRESHOLDS = (10_000, 10, 10)
"""gc.set_threshold while serving: a young pass every 10,000 net container allocations (about a
dozen messages' worth), an older one every 10 of those."""


def tune_for_serving() -> int:
    """Collect once, freeze every object alive now, set `SERVING_THRESHOLDS`; returns how many
    objects were frozen."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
    frozen = gc.get_freeze_count()
    log.debug("froze %d start-up objects; collector thresholds %s", frozen, SERVING_THRESHOLDS)
    return frozen
