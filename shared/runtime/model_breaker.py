"""Circuit breakers for model candidates: a provider that keeps failing is tried last for a while.

A hung or broken provider costs every call that tries it first its whole attempt timeout. Each
candidate (a model type's provider: its subject, or an in-process handler) has a breaker that
looks at its latest `window` attempts: when `failures` of them failed (not the request's own
fault: a refusal such as a 4xx does not count), it opens. An open candidate is moved behind the
healthy ones for `cooldown` seconds (it is still tried when every healthy one failed, so a breaker
never fails a call that could have been answered); then one call probes it in its usual place
("half-open"): a success closes the breaker, a failure opens it for another cooldown.

Counting failures in a window rather than in a row catches a provider that fails every other
call (a worker with some of its request slots hung), which a run of consecutive failures never
reaches while the other half keeps succeeding; with `window == failures` it is the classic
"N consecutive failures".
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["Breaker", "BreakerPolicy", "Breakers"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class BreakerPolicy:
    """`failures` failed attempts among the latest `window` open a breaker for `cooldown` s."""

    failures: int = 3
    window: int = 6
    cooldown: float = 30.0

    def __post_init__(self) -> None:
        if self.failures < 1 or self.window < self.failures or self.cooldown <= 0:
            raise ValueError(
                f"breaker policy needs 1 <= failures <= window and cooldown > 0, got {self}"
            )


@dataclass
class Breaker:
    """One candidate's recent outcomes and whether it is open (see the module docstring)."""

    policy: BreakerPolicy
    outcomes: deque[bool] = field(default_factory=deque)
    opened_at: float | None = None
    probing: bool = False
    opened: int = 0

    def is_open(self, now: float) -> bool:
        """Whether the candidate should go behind the healthy ones now: open and either still
        cooling down or already being probed by another call."""
        if self.opened_at is None:
            return False
        return self.probing or now - self.opened_at < self.policy.cooldown

    def start_attempt(self, now: float) -> None:
        """An attempt begins: when the cooldown is over, this one is the probe."""
        if self.opened_at is not None and now - self.opened_at >= self.policy.cooldown:
            self.probing = True

    def record(self, ok: bool, now: float) -> bool:
        """Record an attempt's outcome; True when this outcome opened the breaker."""
        if self.opened_at is not None:
            if ok:  # the probe (or a call that tried it anyway) succeeded: closed again
                self.opened_at, self.probing = None, False
                self.outcomes.clear()
                return False
            was_probe, self.probing = self.probing, False
            if was_probe or now - self.opened_at >= self.policy.cooldown:
                self.opened_at = now
                self.opened += 1
                return True
            return False
        self.outcomes.append(ok)
        while len(self.outcomes) > self.policy.window:
            self.outcomes.popleft()
        if self.outcomes.count(False) >= self.policy.failures:
            self.opened_at = now
            self.opened += 1
            self.outcomes.clear()
            return True
        return False


class Breakers:
    """The breakers of a registry's candidates, keyed by whatever names a candidate."""

    def __init__(
        self, policy: BreakerPolicy | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy or BreakerPolicy()
        self.clock = clock
        self._breakers: dict[Hashable, Breaker] = {}

    def breaker(self, key: Hashable) -> Breaker:
        """The breaker of `key`, created closed on first use."""
        found = self._breakers.get(key)
        if found is None:
            found = self._breakers[key] = Breaker(self.policy)
        return found

    def order(self, candidates: Sequence[T], key: Callable[[T], Hashable]) -> list[T]:
        """`candidates` with the open ones moved to the back, each group in its given order."""
        now = self.clock()
        closed = [c for c in candidates if not self._is_open(key(c), now)]
        opened = [c for c in candidates if self._is_open(key(c), now)]
        return [*closed, *opened]

    def is_open(self, key: Hashable) -> bool:
        """Whether `key`'s breaker is open now."""
        return self._is_open(key, self.clock())

    def _is_open(self, key: Hashable, now: float) -> bool:
        found = self._breakers.get(key)
        return found is not None and found.is_open(now)

    def start_attempt(self, key: Hashable) -> None:
        """An attempt on `key` begins (it may be the half-open probe)."""
        self.breaker(key).start_attempt(self.clock())

    def record(self, key: Hashable, ok: bool) -> None:
        """An attempt on `key` ended; logs when it opened or closed the breaker."""
        breaker = self.breaker(key)
        was_open = breaker.opened_at is not None
        if breaker.record(ok, self.clock()):
            log.warning(
                "model candidate %s failed %d of its latest attempts: tried after the others "
                "for %gs (circuit breaker open)", key, self.policy.failures, self.policy.cooldown
            )  # fmt: skip
        elif was_open and breaker.opened_at is None:
            log.info("model candidate %s answered again: circuit breaker closed", key)

    def abandon(self, key: Hashable) -> None:
        """An attempt on `key` ended without saying anything about the candidate (cancelled, or
        refused for the request's own fault): a probe it was is given up, the next call probes."""
        self.breaker(key).probing = False

    def forget(self, key: Hashable) -> None:
        """Drop `key`'s breaker (its candidate is gone)."""
        self._breakers.pop(key, None)
