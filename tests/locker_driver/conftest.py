"""Fixtures: a simulator on a real pseudo-terminal and a bus opened on it with pyserial."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from locker_driver import LockerBus, open_bus
from locker_driver.sim import BoardSimulator

# Per-attempt reply wait for tests, s: well above the 50 ms pulse, short enough for timeout tests.
TIMEOUT_S = 0.4
ATTEMPTS = 3


def wait_until(predicate: Callable[[], bool], timeout_s: float = 3.0, poll_s: float = 0.01) -> bool:
    """Return True as soon as ``predicate()`` is true, False after ``timeout_s`` s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return predicate()


@pytest.fixture
def sim() -> Iterator[BoardSimulator]:
    with BoardSimulator(boards=[1, 2], locks=24, pulse_s=0.05) as simulator:
        yield simulator


@pytest.fixture
def bus(sim: BoardSimulator) -> Iterator[LockerBus]:
    with open_bus(sim.port_path, timeout_s=TIMEOUT_S, attempts=ATTEMPTS) as opened:
        yield opened
