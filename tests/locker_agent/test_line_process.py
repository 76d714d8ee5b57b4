"""The door line in a child process (``locker_driver/agent/line.py``) against the board simulator's pty:
what crosses the process boundary, and that the child never outlives its agent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from locker_driver import BadReply, BoardTimeout, DoorDidNotOpen, DoorState, LinkError
from locker_driver.agent.line import NOT_SENT, LineDown, LineProcess
from locker_driver.errors import RejectReason
from locker_driver.frames import DoorQuery
from locker_driver.sim import BoardSimulator, Fault

TIMEOUT_S = 0.3
ATTEMPTS = 2


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def _gone_within(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def sim() -> Iterator[BoardSimulator]:
    with BoardSimulator(boards=[1, 2], locks=24, pulse_s=0.0) as simulator:
        yield simulator


@pytest.fixture
def line(sim: BoardSimulator, tmp_path: Path) -> Iterator[LineProcess]:
    opened = LineProcess(sim.port_path, inter_frame_gap_s=0.0, timeout_s=TIMEOUT_S, attempts=ATTEMPTS,
                         wal_path=str(tmp_path / "agent.sqlite-wal"), unlock_tries=2)
    try:
        yield opened
    finally:
        opened.close()


def test_doors_open_and_read_through_the_child(sim: BoardSimulator, line: LineProcess) -> None:
    assert line.pid is not None and line.pid != os.getpid()
    assert line.open_doors([(1, 3), (2, 5)]) == [None, None]
    assert sim.door_is_open(1, 3) and sim.door_is_open(2, 5)
    states = line.door_states(1)
    assert states[3] is DoorState.OPEN and [n for n, s in states.items() if s is DoorState.OPEN] == [3]


def test_the_drivers_errors_come_back_with_their_facts(sim: BoardSimulator, line: LineProcess) -> None:
    sim.jam(1, 7)
    outcomes = line.open_doors([(1, 7), (9, 1), (9, 2), (2, 1)])
    jammed, silent, skipped, opened = outcomes
    assert isinstance(jammed, DoorDidNotOpen) and (jammed.board, jammed.lock) == (1, 7)
    assert isinstance(silent, BoardTimeout)
    assert (silent.board, silent.lock, silent.attempts) == (9, 1, ATTEMPTS)
    assert skipped == NOT_SENT  # the board went silent earlier in the batch: no frame went out
    assert opened is None and sim.door_is_open(2, 1)
    with pytest.raises(BoardTimeout) as info:
        line.door_states(9)
    assert (info.value.board, info.value.lock) == (9, None)
    sim.set_fault(Fault.BAD_CHECKSUM, board=2, times=None)
    with pytest.raises(BadReply) as bad:
        line.door_states(2)
    assert bad.value.last.reason is RejectReason.CHECKSUM and bad.value.last.raw


def test_a_child_that_dies_mid_batch_leaves_the_batch_in_doubt_and_the_next_request_starts_a_new_one(
        sim: BoardSimulator, line: LineProcess) -> None:
    first = line.pid
    assert first is not None
    sim.delay_replies(DoorQuery, 0.5)  # door 1/1 opens, its confirming query answers late: kill in between
    killer = threading.Timer(0.2, os.kill, (first, signal.SIGKILL))
    killer.start()
    outcomes = line.open_doors([(1, 1), (1, 2)])
    killer.join()
    assert len(outcomes) == 2 and all(isinstance(o, LineDown) and o.sent for o in outcomes)
    assert sim.door_is_open(1, 1) and not sim.door_is_open(1, 2)  # hence "in doubt": the watchdog reads them
    assert line.open_doors([(1, 4)]) == [None]
    assert line.pid not in (None, first) and sim.door_is_open(1, 4)


def test_a_child_that_cannot_start_again_sends_nothing(tmp_path: Path) -> None:
    with BoardSimulator(boards=[1], locks=24, pulse_s=0.0) as sim:
        line = LineProcess(sim.port_path, inter_frame_gap_s=0.0, timeout_s=TIMEOUT_S, attempts=ATTEMPTS,
                           wal_path=str(tmp_path / "wal"), unlock_tries=1)
        first = line.pid
        assert first is not None
    try:
        os.kill(first, signal.SIGKILL)  # and the port is gone with the simulator: no new child can open it
        assert _gone_within(first, 5)
        # The first request finds the child dead: the socket refused it (not sent) or took it and then
        # reset (in doubt: it cannot tell). Never "opened".
        first_try = line.open_doors([(1, 1), (1, 2)])
        assert first_try == [NOT_SENT, NOT_SENT] or all(isinstance(o, LineDown) for o in first_try), first_try
        # Then no new child can open the port: nothing is sent.
        assert line.open_doors([(1, 3)]) == [NOT_SENT]
        with pytest.raises(LinkError):
            line.door_states(1)
    finally:
        line.close()


def test_a_port_that_cannot_be_opened_fails_the_start(tmp_path: Path) -> None:
    with pytest.raises(LinkError) as info:
        LineProcess(str(tmp_path / "no-such-port"), wal_path=str(tmp_path / "wal"), unlock_tries=1)
    assert "no-such-port" in info.value.url


def test_the_child_exits_when_its_agent_is_killed(sim: BoardSimulator, tmp_path: Path) -> None:
    """kill -9 of the agent: the child must not go on opening doors, nor hold the line against the agent
    started after it."""
    script = (
        "import sys, time\n"
        "from locker_driver.agent.line import LineProcess\n"
        f"line = LineProcess({sim.port_path!r}, wal_path={str(tmp_path / 'wal')!r}, unlock_tries=1)\n"
        "print(line.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    agent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert agent.stdout is not None
        child = int(agent.stdout.readline())
        assert _alive(child)
        agent.kill()
        agent.wait(10)
        assert _gone_within(child, 5)
    finally:
        agent.kill()


def test_closing_the_line_stops_the_child(line: LineProcess) -> None:
    pid = line.pid
    assert pid is not None
    line.close()
    assert line.pid is None and _gone_within(pid, 5)
