"""A stopping model worker withdraws its KV announcements all at once, in one bounded wait: a
JetStream that does not answer costs `withdraw_seconds` once, not a timeout per model type."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.model_worker.announce import Announcer
from shared.model_types import ModelType

TYPES = [t.value for t in ModelType][:8]


class SilentKV:
    """A KV bucket double whose deletes are never answered (JetStream silent); it records the
    keys whose deletion was asked and how many were waiting at once."""

    def __init__(self, answered: set[str] | None = None) -> None:
        self.asked: list[str] = []
        self.waiting = 0
        self.most_waiting = 0
        self.answered = answered or set()

    async def delete(self, key: str) -> bool:
        self.asked.append(key)
        if key in self.answered:
            return True
        self.waiting += 1
        self.most_waiting = max(self.most_waiting, self.waiting)
        try:
            await asyncio.Event().wait()
        finally:
            self.waiting -= 1
        return True


def announcer_with(kv: Any) -> Announcer:
    announcer = Announcer(TYPES, "p", 0, worker_id="w", withdraw_seconds=0.2)
    announcer._kv = kv  # as after start(): the bucket is open
    return announcer


async def test_every_deletion_is_asked_at_once_and_the_stop_is_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kv = SilentKV(answered={announcer_with(None).keys[0]})
    announcer = announcer_with(kv)
    # far under one wait per type (8 x 0.2 s); a sequential withdrawal never returns at all
    await asyncio.wait_for(announcer.stop(), 1.0)
    assert sorted(kv.asked) == sorted(announcer.keys)
    assert kv.most_waiting == len(TYPES) - 1  # all the unanswered ones waited together
    assert kv.waiting == 0  # and none is left behind
    assert f"could not delete {len(TYPES) - 1} of {len(TYPES)} model announcements" in caplog.text


async def test_a_stop_whose_deletions_are_answered_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kv = SilentKV(answered=set(announcer_with(None).keys))
    await announcer_with(kv).stop()
    assert len(kv.asked) == len(TYPES)
    assert "could not delete" not in caplog.text
