"""The figures of one scenario, computed from what was published and what was observed.

Pure functions of the records (no I/O), so they are unit-tested on made-up timelines
(tests/unit/test_chaos_metrics.py).

- answered: valid messages with at least one reply in the stream;
- duplicated: replies in the stream beyond the first for the same message (all of `message.sent`);
- lost: valid messages with no reply, no completed run (a silent agent) and no dead letter;
- recovery: after a fault clears, for each room that had a message waiting then, the time until
  that room's next reply; the longest of them (0 when no room was waiting);
- longest stall: the longest time during which some message was waiting and nothing at all was
  answered;
- DLQ latency: from publishing a body built to be refused to its dead letter being stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tests.chaos.load import Sent
from tests.chaos.observe import Observed


@dataclass(frozen=True)
class Fault:
    """A fault injected from `started` until `cleared` (wall clock; equal for a kill)."""

    label: str
    started: float
    cleared: float


@dataclass
class Figures:
    """One table row's numbers."""

    sent: int
    refused_sent: int
    answered: int
    silent: int
    duplicated: int
    lost: int
    dead_letters: int
    valid_dead: int
    refused_missing: int
    dlq_max_s: float | None
    recovery_s: float | None
    longest_stall_s: float
    max_latency_s: float | None


def first_reply(observed: Observed, sent: Sent) -> float | None:
    """When the first reply to valid message `sent` was stored, if any."""
    replies = observed.replies.get(sent.message_id)
    return min(r.stored_at for r in replies) if replies else None


def resolved_at(observed: Observed, sent: Sent) -> float | None:
    """When a valid message got its outcome: its first reply, its silent run's end, or its
    dead letter."""
    if (reply := first_reply(observed, sent)) is not None:
        return reply
    if sent.message_id in observed.silent:
        return observed.silent[sent.message_id]
    letters = observed.dead_letters.get(sent.sequence)
    return min(letters) if letters else None


def recovery(fault: Fault, valid: list[Sent], observed: Observed) -> float:
    """Seconds from `fault.cleared` until every room that had a message waiting then had its
    next reply (inf when one of them never had it)."""
    waiting: dict[str | None, float] = {}
    for sent in valid:
        if sent.published_at >= fault.cleared:
            continue
        reply = first_reply(observed, sent)
        if reply is not None and reply <= fault.cleared:
            continue
        if sent.message_id in observed.silent:
            continue  # no reply to wait for
        at = math.inf if reply is None else reply
        waiting[sent.room] = min(waiting.get(sent.room, math.inf), at)
    return max((at - fault.cleared for at in waiting.values()), default=0.0)


def longest_stall(valid: list[Sent], observed: Observed) -> float:
    """The longest time some valid message was waiting while nothing got its outcome."""
    events: list[tuple[float, int]] = []
    for sent in valid:
        events.append((sent.published_at, +1))
        done = resolved_at(observed, sent)
        if done is not None:
            events.append((max(done, sent.published_at), -1))
    events.sort(key=lambda e: (e[0], e[1]))
    pending, since, stall = 0, 0.0, 0.0
    for at, delta in events:
        if delta > 0:
            if pending == 0:
                since = at
            pending += 1
        else:
            stall = max(stall, at - since)
            since = at
            pending -= 1
    return stall


def figures(published: list[Sent], observed: Observed, faults: list[Fault]) -> Figures:
    """The numbers of one scenario."""
    valid = [s for s in published if s.expect == "reply"]
    refused = [s for s in published if s.expect == "dlq"]
    answered = [s for s in valid if first_reply(observed, s) is not None]
    dead = {seq for seq in observed.dead_letters}
    valid_dead = [s for s in valid if s.sequence in dead]
    lost = [
        s
        for s in valid
        if first_reply(observed, s) is None
        and s.message_id not in observed.silent
        and s.sequence not in dead
    ]
    dlq_delays = [
        min(observed.dead_letters[s.sequence]) - s.published_at
        for s in refused
        if s.sequence in dead
    ]
    latencies = [r - s.published_at for s in answered if (r := first_reply(observed, s))]
    return Figures(
        sent=len(valid),
        refused_sent=len(refused),
        answered=len(answered),
        silent=sum(1 for s in valid if s.message_id in observed.silent),
        duplicated=sum(len(r) - 1 for r in observed.replies.values()),
        lost=len(lost),
        dead_letters=sum(len(v) for v in observed.dead_letters.values()),
        valid_dead=len(valid_dead),
        refused_missing=sum(1 for s in refused if s.sequence not in dead),
        dlq_max_s=max(dlq_delays) if dlq_delays else None,
        recovery_s=max((recovery(f, valid, observed) for f in faults), default=None),
        longest_stall_s=longest_stall(valid, observed),
        max_latency_s=max(latencies) if latencies else None,
    )
