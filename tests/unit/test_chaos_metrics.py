"""The chaos table's figures, on made-up timelines."""

from __future__ import annotations

import math
import uuid

from tests.chaos.load import Sent
from tests.chaos.metrics import Fault, figures, longest_stall, recovery
from tests.chaos.observe import Observed, Reply


def sent(room: str, at: float, sequence: int, expect: str = "reply") -> Sent:
    key = str(uuid.uuid4()) if expect == "reply" else f"bad-{sequence}"
    return Sent(key, b"", expect, room=room, published_at=at, sequence=sequence)  # type: ignore[arg-type]


def answer(observed: Observed, message: Sent, *at: float) -> None:
    observed.replies[message.message_id] = [
        Reply(uuid.uuid4(), uuid.uuid4(), t, message.room or "", "hi") for t in at
    ]


def test_recovery_is_the_slowest_waiting_room_after_the_fault_clears() -> None:
    a1, a2, b1, c1 = sent("a", 1, 1), sent("a", 2, 2), sent("b", 3, 3), sent("c", 12, 4)
    seen = Observed()
    answer(seen, a1, 1.5)  # answered before the fault: not waiting
    answer(seen, a2, 13.0)  # waiting in room a when the fault cleared at 10
    answer(seen, b1, 16.0)  # waiting in room b
    answer(seen, c1, 12.5)  # published after the fault cleared: not counted
    fault = Fault("kill", 5.0, 10.0)
    assert recovery(fault, [a1, a2, b1, c1], seen) == 6.0
    assert recovery(Fault("late", 20.0, 20.0), [a1, a2, b1, c1], seen) == 0.0
    never = sent("d", 4, 5)
    assert math.isinf(recovery(fault, [a1, never], seen))


def test_a_silent_run_is_not_waited_for_and_resolves_a_stall() -> None:
    quiet = sent("a", 1, 1)
    seen = Observed(silent={quiet.message_id: 2.0})
    assert recovery(Fault("kill", 1.5, 1.5), [quiet], seen) == 0.0
    assert longest_stall([quiet], seen) == 1.0


def test_longest_stall_counts_only_time_with_something_waiting() -> None:
    m1, m2, m3 = sent("a", 0, 1), sent("b", 1, 2), sent("a", 20, 3)
    seen = Observed()
    answer(seen, m1, 2.0)
    answer(seen, m2, 7.0)  # nothing answered from 2 to 7 while m2 waited: 5 s
    answer(seen, m3, 21.0)  # idle from 7 to 20 is no stall
    assert longest_stall([m1, m2, m3], seen) == 5.0


def test_figures_count_duplicates_losses_and_dead_letters() -> None:
    ok, twice, lost, bad, dead_valid = (
        sent("a", 0, 1), sent("b", 0, 2), sent("c", 0, 3), sent("d", 0, 4, "dlq"),
        sent("e", 0, 5),
    )  # fmt: skip
    seen = Observed(dead_letters={4: [0.4], 5: [9.0]})
    answer(seen, ok, 1.0)
    answer(seen, twice, 1.0, 2.0)
    f = figures([ok, twice, lost, bad, dead_valid], seen, [])
    assert (f.sent, f.refused_sent, f.answered, f.duplicated) == (4, 1, 2, 1)
    assert (f.lost, f.dead_letters, f.valid_dead, f.refused_missing) == (1, 2, 1, 0)
    assert f.dlq_max_s == 0.4 and f.max_latency_s == 1.0 and f.recovery_s is None
