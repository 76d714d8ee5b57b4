"""Agent fixtures: a board simulator on a real pty, the agent's service on it with a manual clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from locker_driver import LockerBus, open_bus
from locker_driver.agent.clock import ManualClock
from locker_driver.agent.gps import SimulatedGps
from locker_driver.agent.notifier import PickupNotice
from locker_driver.agent.service import AgentConfig, LockerService, parse_layout
from locker_driver.agent.store import Store
from locker_driver.sim import BoardSimulator

CODE_KEY = "test-code-key"
# Two boards: the scenario's 24-lock board and a small second one, so one can fail while the other works.
LAYOUT = "1:S*12,M*8,L*4;2:S*2,L*2"
START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


class RecordingNotifier:
    """Keeps the notices (the recipient's SMS) so a test can read the code the recipient got."""

    def __init__(self) -> None:
        self.notices: list[PickupNotice] = []

    def notify(self, notice: PickupNotice) -> None:
        self.notices.append(notice)

    def code_for(self, parcel_id: str) -> str:
        return next(n.code for n in reversed(self.notices) if n.parcel_id == parcel_id and n.code)


async def until(condition: Callable[[], bool], *, step: Callable[[], Awaitable[object]] | None = None,
                timeout_s: float = 5.0, what: str = "condition") -> None:
    """Wait (running ``step`` each round, e.g. a watchdog pass) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout_s
    while True:
        if step is not None:
            await step()
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
def sim() -> Iterator[BoardSimulator]:
    with BoardSimulator(boards=[1, 2], locks=24, pulse_s=0.02) as simulator:
        yield simulator


@pytest.fixture
def bus(sim: BoardSimulator) -> Iterator[LockerBus]:
    with open_bus(sim.port_path, timeout_s=0.25, attempts=2) as opened:
        yield opened


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def gps(clock: ManualClock) -> SimulatedGps:
    return SimulatedGps(clock, speed_kmh=0.0, lat_deg=30.846, lon_deg=122.684)


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "agent.sqlite")
    opened.install_layout(parse_layout(LAYOUT))
    yield opened
    opened.close()


@pytest.fixture
async def service(bus: LockerBus, store: Store, clock: ManualClock, gps: SimulatedGps,
                  notifier: RecordingNotifier) -> AsyncIterator[LockerService]:
    agent = LockerService(config=AgentConfig(locker_id="locker-bus-huaniao-1", code_key=CODE_KEY), bus=bus,
                          store=store, clock=clock, gps=gps, notifier=notifier)
    await agent.reconcile()
    yield agent
