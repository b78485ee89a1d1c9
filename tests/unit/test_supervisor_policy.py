"""`elizabus up`'s restart policy and supervision loop, on a double clock and double children."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from services.cli.services import SERVICE_STOP_TIMEOUT
from services.cli.supervisor import (
    CrashHistory,
    GiveUp,
    Restart,
    RestartPolicy,
    Supervisor,
    describe_exit,
)


class DoubleClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_back_off_doubles_from_the_first_delay_up_to_the_maximum() -> None:
    policy = RestartPolicy(first_delay=0.5, max_delay=10.0)
    assert [policy.delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_the_fifth_crash_within_the_window_gives_up() -> None:
    clock = DoubleClock()
    history = CrashHistory(RestartPolicy(), clock)
    decisions = []
    for _ in range(5):
        decisions.append(history.record_crash())
        clock.now += 5.0
    assert decisions == [
        Restart(0.5, 1),
        Restart(1.0, 2),
        Restart(2.0, 3),
        Restart(4.0, 4),
        GiveUp(5),
    ]


def test_crashes_older_than_the_window_are_forgotten() -> None:
    clock = DoubleClock()
    history = CrashHistory(RestartPolicy(max_crashes=3, window=60.0), clock)
    assert history.record_crash() == Restart(0.5, 1)
    clock.now += 30.0
    assert history.record_crash() == Restart(1.0, 2)
    clock.now += 31.0  # the first crash is now 61 s old
    assert history.record_crash() == Restart(1.0, 2)
    clock.now += 61.0  # both older ones gone: the back-off starts again from the first delay
    assert history.record_crash() == Restart(0.5, 1)


def test_a_slow_crash_loop_never_gives_up() -> None:
    clock = DoubleClock()
    history = CrashHistory(RestartPolicy(max_crashes=2, window=60.0), clock)
    for _ in range(20):
        assert isinstance(history.record_crash(), Restart)
        clock.now += 61.0


def test_exit_statuses_in_words() -> None:
    assert describe_exit(-9) == "was killed by SIGKILL"
    assert describe_exit(3) == "exited with code 3"
    assert "exited with code 0" in describe_exit(0)


def test_up_waits_longer_than_the_services_own_stop_deadlines() -> None:
    from faststream.nats import NatsBroker

    from services.orchestrator.app import STOP_DEADLINE_SECONDS

    # the model worker keeps FastStream's default grace for the requests in flight
    worker_grace = inspect.signature(NatsBroker.__init__).parameters["graceful_timeout"].default
    assert STOP_DEADLINE_SECONDS < SERVICE_STOP_TIMEOUT
    assert worker_grace is not None and worker_grace < SERVICE_STOP_TIMEOUT


class DoubleChild:
    """A supervised child double: the test makes it exit; restarts are counted or fail."""

    def __init__(self, name: str, failing_restarts: int = 0) -> None:
        self.name = name
        self.pid: int | None = 100
        self.restarts = 0
        self.stopped = 0
        self.failing_restarts = failing_restarts
        self._exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waiting = asyncio.Event()

    def exit(self, status: int) -> None:
        self.pid = None
        self._exit.set_result(status)

    async def wait(self) -> int:
        self.waiting.set()
        try:
            return await asyncio.shield(self._exit)
        finally:
            self.waiting.clear()

    async def restart(self) -> None:
        if self.failing_restarts:
            self.failing_restarts -= 1
            raise OSError("port taken")
        self.restarts += 1
        self.pid = 100 + self.restarts
        self._exit = asyncio.get_running_loop().create_future()

    async def stop(self) -> None:
        self.stopped += 1


NO_DELAY = RestartPolicy(first_delay=0.0, max_delay=0.0, max_crashes=3, window=60.0)


async def wait_until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    """Let the event loop run until `condition()` holds (bounded: no wall clock involved)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never: {what}")


async def test_a_crashed_child_is_restarted_and_watched_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    child, other = DoubleChild("orchestrator"), DoubleChild("model worker")
    stop = asyncio.Event()
    running = asyncio.create_task(Supervisor([child, other], NO_DELAY, DoubleClock()).run(stop))
    await wait_until(child.waiting.is_set, "watched")
    child.exit(-9)
    await wait_until(lambda: child.restarts == 1 and child.waiting.is_set(), "restarted")
    child.exit(0)  # exiting 0 unasked is a crash too
    await wait_until(lambda: child.restarts == 2 and child.waiting.is_set(), "restarted twice")
    assert other.restarts == 0
    stop.set()
    assert await running == 0
    assert "the orchestrator (pid 100) was killed by SIGKILL; restarting it in 0 s" in caplog.text
    assert "the orchestrator (pid 101) exited with code 0" in caplog.text


async def test_too_many_crashes_give_up_and_stop_the_stack(
    caplog: pytest.LogCaptureFixture,
) -> None:
    child = DoubleChild("orchestrator", failing_restarts=1)
    stop = asyncio.Event()
    supervisor = Supervisor([child, DoubleChild("model worker")], NO_DELAY, DoubleClock())
    running = asyncio.create_task(supervisor.run(stop))
    await wait_until(child.waiting.is_set, "watched")
    child.exit(3)  # crash 1; its restart fails: crash 2; the next restart works
    await wait_until(lambda: child.restarts == 1 and child.waiting.is_set(), "restarted")
    child.exit(3)  # crash 3 of 3: give up
    assert await running == 1
    assert stop.is_set()
    assert supervisor.gave_up is not None
    assert "orchestrator (pid 101) exited with code 3" in supervisor.gave_up
    assert "crash number 3 within 60 s: giving up" in supervisor.gave_up
    assert "failed to restart (port taken)" in caplog.text
    assert child.restarts == 1


async def test_a_child_exiting_while_the_stack_stops_is_not_restarted() -> None:
    child = DoubleChild("model worker")
    stop = asyncio.Event()
    running = asyncio.create_task(Supervisor([child], NO_DELAY, DoubleClock()).run(stop))
    await wait_until(child.waiting.is_set, "watched")
    stop.set()
    child.exit(-15)
    assert await running == 0
    assert child.restarts == 0


async def test_a_stop_during_the_back_off_cancels_the_restart() -> None:
    child = DoubleChild("orchestrator")
    stop = asyncio.Event()
    slow = RestartPolicy(first_delay=3600.0, max_delay=3600.0)
    running = asyncio.create_task(Supervisor([child], slow, DoubleClock()).run(stop))
    await wait_until(child.waiting.is_set, "watched")
    child.exit(1)
    await wait_until(lambda: not child.waiting.is_set(), "backing off")
    stop.set()
    assert await asyncio.wait_for(running, 30) == 0
    assert child.restarts == 0
