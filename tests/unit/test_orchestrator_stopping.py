"""A stopping orchestrator hands a failing message back instead of retrying it in place."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from services.orchestrator.app import OrchestratorApp
from services.orchestrator.delivery import Delivery, Disposition
from shared.character import load_character
from shared.settings import Settings


class FailingService:
    """An Orchestrator double whose every run fails (asks for a retry)."""

    def __init__(self) -> None:
        self.attempts: list[Delivery] = []
        self.attempted = asyncio.Event()

    async def process(self, delivery: Delivery) -> Disposition:
        self.attempts.append(delivery)
        self.attempted.set()
        return Disposition.NAK


def partition_message() -> SimpleNamespace:
    return SimpleNamespace(data=b"{}", headers={}, metadata=SimpleNamespace(num_delivered=1))


async def test_a_failed_message_is_handed_back_as_soon_as_the_process_stops() -> None:
    app = OrchestratorApp(Settings(), [load_character(None)])
    service = FailingService()
    app.service = service  # type: ignore[assignment]
    handling = asyncio.create_task(app.handle(partition_message()))  # type: ignore[arg-type]
    await asyncio.wait_for(service.attempted.wait(), 10)  # it failed, and waits to retry
    assert not handling.done()
    app.stopping.set()
    # cancelled, not returned: the pull loop must NAK it, never ack it
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(handling, 10)
    assert len(service.attempts) == 1  # no second attempt once stopping


class LoopsDouble:
    """PullLoops double: `stop(deadline)` waits for its runs in flight, until a `stop` with a
    shorter deadline hands them back."""

    def __init__(self) -> None:
        self.deadlines: list[float] = []
        self.stopping = asyncio.Event()
        self.handed_back = asyncio.Event()

    async def stop(self, deadline: float) -> None:
        self.deadlines.append(deadline)
        self.stopping.set()
        if deadline == 0.0:
            self.handed_back.set()
        await self.handed_back.wait()


class BusDouble:
    def __init__(self, connected: bool) -> None:
        self.nc = SimpleNamespace(is_connected=connected)
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self) -> asyncio.Future[None]:
        return self.lost


async def stopping_app(bus: BusDouble) -> tuple[OrchestratorApp, LoopsDouble]:
    app = OrchestratorApp(Settings(), [load_character(None)])
    loops = LoopsDouble()
    app.loops, app.bus = loops, bus  # type: ignore[assignment]
    return app, loops


async def test_runs_in_flight_are_handed_back_when_nats_goes_away_during_the_stop() -> None:
    bus = BusDouble(connected=True)
    app, loops = await stopping_app(bus)
    stopping = asyncio.create_task(app._stop_loops(loops))  # type: ignore[arg-type]
    await asyncio.wait_for(loops.stopping.wait(), 10)
    assert loops.deadlines == [10.0] and not stopping.done()  # waiting for the runs to finish
    bus.lost.set_result(None)  # the stack's NATS stops too
    await asyncio.wait_for(stopping, 10)
    assert loops.deadlines == [10.0, 0.0]


async def test_a_stop_without_nats_hands_the_runs_back_at_once() -> None:
    app, loops = await stopping_app(BusDouble(connected=False))
    await asyncio.wait_for(app._stop_loops(loops), 10)  # type: ignore[arg-type]
    assert loops.deadlines == [0.0]
