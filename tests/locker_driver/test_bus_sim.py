"""Driver against the simulator through a real pseudo-terminal (pyserial on the slave side)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from locker_driver import (
    BadReply,
    BoardTimeout,
    DoorDidNotOpen,
    DoorState,
    LinkError,
    LockerBus,
    RejectReason,
    open_bus,
)
from locker_driver.frames import BoardQuery, DoorQuery, UnlockRequest
from locker_driver.sim import BoardSimulator, Fault

from .conftest import ATTEMPTS, TIMEOUT_S, wait_until

OPERATIONS = {
    "unlock": lambda bus: bus.unlock(1, 4),
    "door_state": lambda bus: bus.door_state(1, 4),
    "door_states": lambda bus: bus.door_states(1),
}


def sent_to(sim: BoardSimulator, board: int) -> list:
    return [r for r in sim.requests if r.board == board]


# -- normal operation ------------------------------------------------------------------------


def test_unlock_opens_the_door_and_it_stays_open_until_a_person_closes_it(sim, bus) -> None:
    assert bus.door_state(1, 4) is DoorState.CLOSED
    bus.unlock(1, 4)
    assert sim.door_is_open(1, 4)
    assert bus.door_state(1, 4) is DoorState.OPEN
    assert bus.door_state(1, 4) is DoorState.OPEN  # still open: nobody closed it
    sim.close_door(1, 4)
    assert bus.door_state(1, 4) is DoorState.CLOSED


def test_door_states_reports_every_lock_from_the_bitmask(sim, bus) -> None:
    for lock in (1, 8, 9, 16, 17, 24):
        bus.unlock(1, lock)
    states = bus.door_states(1)
    assert sorted(states) == list(range(1, 25))
    assert [n for n, s in states.items() if s is DoorState.OPEN] == [1, 8, 9, 16, 17, 24]


def test_boards_on_one_line_are_addressed_independently(sim, bus) -> None:
    bus.unlock(2, 4)
    assert bus.door_state(2, 4) is DoorState.OPEN
    assert bus.door_state(1, 4) is DoorState.CLOSED
    assert not sim.door_is_open(1, 4)


def test_unlock_all_opens_every_working_lock_in_sequence() -> None:
    with BoardSimulator(boards=[3], locks=6, pulse_s=0.02) as sim:
        sim.jam(3, 2)
        with open_bus(sim.port_path, timeout_s=TIMEOUT_S) as bus:
            states = bus.unlock_all(3)
    opened = [n for n, s in states.items() if s is DoorState.OPEN]
    assert opened == [1, 3, 4, 5, 6]  # jammed 2 stays shut; 7-24 do not exist and read closed


def test_confirm_queries_the_door_after_an_opened_reply(sim, bus) -> None:
    bus.unlock(1, 5, confirm=True)
    assert sim.requests[-2:] == [UnlockRequest(board=1, lock=5), DoorQuery(board=1, lock=5)]


def test_auto_close_closes_doors_after_the_set_time() -> None:
    with (
        BoardSimulator(boards=[1], pulse_s=0.01, auto_close_s=0.2) as sim,
        open_bus(sim.port_path, timeout_s=TIMEOUT_S) as bus,
    ):
        bus.unlock(1, 1)
        assert wait_until(lambda: bus.door_state(1, 1) is DoorState.CLOSED, timeout_s=3)


def test_occupancy_sensors_are_simulated_when_enabled() -> None:
    with BoardSimulator(boards=[1], occupancy=True) as sim:
        assert not sim.is_occupied(1, 3)
        sim.set_occupied(1, 3)
        assert sim.is_occupied(1, 3)
    with BoardSimulator(boards=[1]) as sim, pytest.raises(RuntimeError):
        sim.is_occupied(1, 3)


def test_concurrent_callers_are_serialised(sim, bus) -> None:
    for lock in (3, 6):
        bus.unlock(2, lock)

    def worker(board: int, lock: int) -> list[tuple]:
        seen = []
        for _ in range(8):
            seen.append((board, lock, bus.door_state(board, lock)))
            open_locks = tuple(n for n, s in bus.door_states(board).items() if s is DoorState.OPEN)
            seen.append((board, None, open_locks))
        return seen

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(worker, *args) for args in [(1, 3), (2, 3), (2, 6), (1, 6)]]
        results = [item for future in futures for item in future.result(timeout=20)]  # re-raises
    assert len(results) == 4 * 16
    for board, lock, value in results:
        if lock is None:
            assert value == (() if board == 1 else (3, 6))
        else:
            assert value is (DoorState.OPEN if board == 2 else DoorState.CLOSED)
    # Every request got exactly one answer: nothing was retried because of interleaving.
    assert len(sim.requests) == 2 + 4 * 16


# -- faults ----------------------------------------------------------------------------------


def test_no_reply_times_out_after_bounded_retries(sim, bus) -> None:
    sim.set_fault(Fault.NO_REPLY, board=1, times=None)
    started = time.monotonic()
    with pytest.raises(BoardTimeout) as info:
        bus.door_state(1, 7)
    elapsed = time.monotonic() - started
    assert (info.value.board, info.value.lock, info.value.attempts) == (1, 7, ATTEMPTS)
    assert sent_to(sim, 1) == [DoorQuery(board=1, lock=7)] * ATTEMPTS
    assert ATTEMPTS * TIMEOUT_S * 0.9 <= elapsed < ATTEMPTS * TIMEOUT_S + 1.0


def test_unknown_board_times_out(sim, bus) -> None:
    with pytest.raises(BoardTimeout) as info:
        bus.door_states(9)
    assert info.value.lock is None
    assert sent_to(sim, 9) == [BoardQuery(board=9)] * ATTEMPTS


def test_one_lost_reply_is_retried(sim, bus) -> None:
    sim.set_fault(Fault.NO_REPLY, board=1, times=1)
    assert bus.door_state(1, 7) is DoorState.CLOSED
    assert len(sent_to(sim, 1)) == 2


@pytest.mark.parametrize("operation", OPERATIONS)
def test_corrupted_checksum_is_rejected_and_retried_at_once(sim, bus, operation) -> None:
    sim.set_fault(Fault.BAD_CHECKSUM, board=1, times=1)
    started = time.monotonic()
    OPERATIONS[operation](bus)
    assert time.monotonic() - started < TIMEOUT_S  # resent on the reject, not after a timeout
    assert len(sent_to(sim, 1)) == 2
    assert sim.door_is_open(1, 4) is (operation == "unlock")


def test_persistent_corruption_raises_bad_reply_with_the_raw_frame(sim, bus) -> None:
    sim.set_fault(Fault.BAD_CHECKSUM, board=1, times=None)
    with pytest.raises(BadReply) as info:
        bus.door_state(1, 2)
    assert info.value.last.reason is RejectReason.CHECKSUM
    assert info.value.last.raw[:4] == bytes([0x80, 1, 2, 0x11])
    assert len(sent_to(sim, 1)) == ATTEMPTS


@pytest.mark.parametrize("operation", OPERATIONS)
def test_truncated_reply_is_resynchronised_and_retried(sim, bus, operation) -> None:
    sim.set_fault(Fault.TRUNCATED, board=1, times=1)
    OPERATIONS[operation](bus)
    assert len(sent_to(sim, 1)) == 2
    assert sim.door_is_open(1, 4) is (operation == "unlock")


def test_persistent_truncation_is_an_error_not_a_wrong_answer(sim, bus) -> None:
    sim.set_fault(Fault.TRUNCATED, board=1, times=None)
    with pytest.raises((BadReply, BoardTimeout)):
        bus.door_states(1)
    assert len(sent_to(sim, 1)) == ATTEMPTS


@pytest.mark.parametrize("fault", [Fault.GARBAGE_BEFORE, Fault.GARBAGE_AFTER, Fault.SPLIT, Fault.STRAY_FRAME])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_line_noise_needs_no_retry(sim, bus, fault, operation) -> None:
    bus.unlock(1, 9)  # a known open door, so door_states has something to get right
    sim.set_fault(fault, board=1, times=1)
    result = OPERATIONS[operation](bus)
    if operation == "door_state":
        assert result is DoorState.CLOSED
    if operation == "door_states":
        assert [n for n, s in result.items() if s is DoorState.OPEN] == [9]
    assert len(sent_to(sim, 1)) == 2  # the unlock above + one request, no retry
    # And the line is clean for the next exchange.
    assert bus.door_state(1, 9) is DoorState.OPEN


def test_jammed_lock_raises_door_did_not_open_after_a_confirming_query(sim, bus) -> None:
    sim.jam(1, 11)
    with pytest.raises(DoorDidNotOpen) as info:
        bus.unlock(1, 11)
    assert (info.value.board, info.value.lock) == (1, 11)
    assert sim.requests == [UnlockRequest(board=1, lock=11), DoorQuery(board=1, lock=11)]
    assert not sim.door_is_open(1, 11)
    sim.jam(1, 11, jammed=False)
    bus.unlock(1, 11)
    assert sim.door_is_open(1, 11)


def test_power_loss_silences_the_board_then_doors_report_their_real_state(sim, bus) -> None:
    bus.unlock(1, 1)
    bus.unlock(1, 2)
    sim.power_off(1)
    with pytest.raises(BoardTimeout):
        bus.door_state(1, 1)
    with pytest.raises(BoardTimeout):
        bus.unlock(1, 3)
    assert not sim.door_is_open(1, 3)  # no power, no pulse
    assert bus.door_state(2, 1) is DoorState.CLOSED  # board 2 still has power
    sim.close_door(1, 1)  # a person shuts a door during the outage
    sim.power_on(1)
    assert bus.door_state(1, 1) is DoorState.CLOSED
    assert bus.door_state(1, 2) is DoorState.OPEN
    assert [n for n, s in bus.door_states(1).items() if s is DoorState.OPEN] == [2]


# -- RS-485 echo -----------------------------------------------------------------------------


@pytest.fixture
def echo_sim():
    with BoardSimulator(boards=[1], pulse_s=0.05, echo=True) as simulator:
        yield simulator


def test_echo_is_suppressed_by_the_transport(echo_sim) -> None:
    with open_bus(echo_sim.port_path, timeout_s=TIMEOUT_S, echo=True) as bus:
        bus.unlock(1, 6)
        assert bus.door_state(1, 6) is DoorState.OPEN
        assert [n for n, s in bus.door_states(1).items() if s is DoorState.OPEN] == [6]
        echo_sim.jam(1, 7)
        with pytest.raises(DoorDidNotOpen):
            bus.unlock(1, 7)
        assert bus._transport.echo_misses == 0
    assert len(echo_sim.requests) == 5  # no retries


def test_unsuppressed_echo_is_survived(echo_sim) -> None:
    # Without echo=True the decoder skips query echoes; the unlock echo reads as "did not open"
    # and the confirming query finds the door open, so unlock still succeeds.
    with open_bus(echo_sim.port_path, timeout_s=TIMEOUT_S, echo=False) as bus:
        assert bus.door_state(1, 6) is DoorState.CLOSED
        bus.unlock(1, 6)
        assert bus.door_state(1, 6) is DoorState.OPEN
        assert [n for n, s in bus.door_states(1).items() if s is DoorState.OPEN] == [6]


# -- link errors -----------------------------------------------------------------------------


def test_missing_port_is_a_link_error(tmp_path) -> None:
    with pytest.raises(LinkError):
        open_bus(str(tmp_path / "no-such-tty"))


def test_rs485_mode_on_a_pty_is_refused_clearly(sim) -> None:
    with pytest.raises(LinkError) as info:
        open_bus(sim.port_path, rs485=True)
    assert "RS485" in str(info.value) or "rs485" in str(info.value).lower()


def test_address_errors_raise_before_any_io(sim, bus) -> None:
    with pytest.raises(ValueError):
        bus.unlock(1, 25)
    with pytest.raises(ValueError):
        bus.unlock(1, 0)
    assert sim.requests == []


def test_bus_needs_a_positive_attempt_count(sim) -> None:
    from locker_driver.transport import SerialTransport

    transport = SerialTransport.open(sim.port_path)
    try:
        with pytest.raises(ValueError):
            LockerBus(transport, attempts=0)
    finally:
        transport.close()


def test_unread_input_is_dropped_only_after_an_exchange_that_did_not_end_cleanly(sim, bus) -> None:
    """Clean exchanges cost no flush of the port (a system call per request); one that timed out,
    retried or read past its reply makes the next one start from an empty line."""
    transport = bus._transport
    real_discard, flushes = transport.discard_input, []

    def discard_input() -> None:
        flushes.append(len(sim.requests))
        real_discard()

    transport.discard_input = discard_input
    for lock in (1, 2, 3):
        assert bus.door_state(1, lock) is DoorState.CLOSED
    assert flushes == [0]  # the bus's first exchange: whatever was on the line before it
    sim.set_fault(Fault.NO_REPLY, board=1, times=1)
    assert bus.door_state(1, 4) is DoorState.CLOSED  # retried
    assert bus.door_state(1, 5) is DoorState.CLOSED
    assert bus.door_state(1, 6) is DoorState.CLOSED
    assert flushes == [0, 5]  # before the exchange after the retried one only
    sim.set_fault(Fault.GARBAGE_AFTER, board=1, times=1)
    assert bus.door_state(1, 7) is DoorState.CLOSED
    bus.unlock(1, 7)
    assert bus.door_state(1, 7) is DoorState.OPEN  # the noise after a reply is never taken for an answer
