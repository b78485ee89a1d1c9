"""Test-only fault points (setting `ELIZABUS_FAULT`): the orchestrator exits hard at a named point
of a delivery, so the tests can prove that a crash there has no double effect and loses nothing.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

CRASH_BEFORE_COMMIT = "crash_before_commit"
"""Exit after the run, before its append: nothing is recorded, the message is not acked."""

CRASH_BEFORE_ACK = "crash_before_ack"
"""Exit after the commit and the publish of the outbox, before the ack."""

CRASH_EXIT_CODE = 70


def crash_at(point: str, fault: str | None, what: object) -> None:
    """Exit the process at once (no clean-up, as a crash would) when `fault` names `point`."""
    if fault == point:
        log.error("fault injection: exiting at %s (%s)", point, what)
        os._exit(CRASH_EXIT_CODE)
