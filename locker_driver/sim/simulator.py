"""Lock-board simulator on a pseudo-terminal: plays the device side of a board family's protocol.

The host opens :attr:`BoardSimulator.port_path` with pyserial exactly as it would a USB adapter.
A reader thread on the pty master decodes requests with the same codec the driver uses and
answers for every simulated board address, like boards daisy-chained on one RS-485 line.

Doors: an unlock pulse (``pulse_s``) opens a door, which then stays open until "a person" closes
it (:meth:`BoardSimulator.close_door`), or after ``auto_close_s`` if set. Faults, jammed locks,
power loss and an echoing adapter can be injected to exercise the driver's error paths.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import select
import threading
import time
import tty
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from locker_driver.frames import (
    BoardQuery,
    BoardReply,
    DoorQuery,
    DoorReply,
    DoorState,
    FrameCodec,
    Reply,
    Request,
    UnlockReply,
    UnlockRequest,
)
from locker_driver.protocol import GenericBoardCodec

# Garbage the GARBAGE_* faults add: includes both head bytes, so the driver must resynchronise
# past false starts rather than just skip non-head bytes.
GARBAGE_BEFORE = bytes([0x00, 0xFF, 0x80, 0x13, 0x8A])
GARBAGE_AFTER = bytes([0x8A, 0x00, 0x80])
# Pause between the halves of a SPLIT reply, in s: long enough that the host reads them apart.
SPLIT_PAUSE_S = 0.005


class Fault(enum.Enum):
    """Faults applied to a board's next replies (see :meth:`BoardSimulator.set_fault`).

    NO_REPLY: the board acts but its reply is lost. BAD_CHECKSUM: last byte wrong.
    TRUNCATED: reply cut 2 bytes short. GARBAGE_BEFORE / GARBAGE_AFTER: noise around the reply.
    SPLIT: reply sent in two writes 5 ms apart. STRAY_FRAME: a valid reply for another board
    address is sent right before the real reply, in the same write.
    """

    NO_REPLY = "no_reply"
    BAD_CHECKSUM = "bad_checksum"
    TRUNCATED = "truncated"
    GARBAGE_BEFORE = "garbage_before"
    GARBAGE_AFTER = "garbage_after"
    SPLIT = "split"
    STRAY_FRAME = "stray_frame"


@dataclass
class _FaultRule:
    fault: Fault
    board: int | None
    remaining: int | None  # None: until cleared


@dataclass
class _DelayRule:
    request: type[Request]
    delay_s: float
    remaining: int


@dataclass
class _Board:
    address: int
    locks: int
    powered: bool = True
    opened_at: dict[int, float] = field(default_factory=dict)  # lock -> monotonic time opened
    jammed: set[int] = field(default_factory=set)
    occupied: set[int] = field(default_factory=set)


class BoardSimulator:
    """Simulated lock boards behind one pseudo-terminal.

    Parameters:
        boards: board addresses on the line.
        locks: locks per board (1-24); channels above report closed in a query-all.
        pulse_s: unlock pulse duration in s; boards reply after it.
        echo: echo every byte the host sends, like an RS-485 adapter without echo suppression
            (done on the line, so it happens even while boards are powered off).
        occupancy: simulate parcel-presence sensors (simulator API only: the generic protocol
            has no frame to read them).
        auto_close_s: if set, an opened door closes by itself after this many s (demos).
        codec: board family to play (default generic 24-channel).

    Example::

        with BoardSimulator(boards=[1]) as sim:
            bus = open_bus(sim.port_path)
    """

    def __init__(
        self,
        boards: list[int] | tuple[int, ...] = (1,),
        locks: int = 24,
        *,
        pulse_s: float = 0.05,
        echo: bool = False,
        occupancy: bool = False,
        auto_close_s: float | None = None,
        codec: FrameCodec | None = None,
    ) -> None:
        self._codec: FrameCodec = codec or GenericBoardCodec()
        if not 1 <= locks <= self._codec.max_lock:
            raise ValueError(f"locks must be 1-{self._codec.max_lock}")
        self._boards = {address: _Board(address=address, locks=locks) for address in boards}
        self.locks = locks
        self.pulse_s = pulse_s
        self.echo = echo
        self.occupancy = occupancy
        self.auto_close_s = auto_close_s
        self._faults: list[_FaultRule] = []
        self._delays: list[_DelayRule] = []
        self._state = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._master = self._slave = -1
        self._wake_r = self._wake_w = -1
        self.port_path = ""
        self.requests: list[Request] = []  # every request decoded, for any address, in order

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Create the pty and start answering; return self."""
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # binary frames: no line discipline, no local echo
        self.port_path = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, name=f"board-sim {self.port_path}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering and close the pty."""
        self._stop.set()
        if self._thread is not None:
            os.write(self._wake_w, b"x")
            self._thread.join(timeout=5)
            self._thread = None
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = self._wake_r = self._wake_w = -1

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the physical world -----------------------------------------------------------------

    def _board(self, board: int) -> _Board:
        try:
            return self._boards[board]
        except KeyError:
            raise ValueError(f"no simulated board {board}") from None

    def _lock_of(self, board: int, lock: int) -> _Board:
        sim_board = self._board(board)
        if not 1 <= lock <= sim_board.locks:
            raise ValueError(f"board {board} has locks 1-{sim_board.locks}")
        return sim_board

    def door_is_open(self, board: int, lock: int) -> bool:
        """Return whether the door is physically open now."""
        with self._state:
            sim_board = self._lock_of(board, lock)
            opened_at = sim_board.opened_at.get(lock)
            if opened_at is None:
                return False
            if self.auto_close_s is not None and time.monotonic() - opened_at >= self.auto_close_s:
                del sim_board.opened_at[lock]
                return False
            return True

    def close_door(self, board: int, lock: int) -> None:
        """A person pushes the door shut."""
        with self._state:
            self._lock_of(board, lock).opened_at.pop(lock, None)

    def open_door(self, board: int, lock: int) -> None:
        """A person pulls the door open (e.g. it was never latched)."""
        with self._state:
            self._lock_of(board, lock).opened_at.setdefault(lock, time.monotonic())

    def jam(self, board: int, lock: int, jammed: bool = True) -> None:
        """Make the lock fail to open on unlock (or work again with ``jammed=False``)."""
        with self._state:
            sim_board = self._lock_of(board, lock)
            (sim_board.jammed.add if jammed else sim_board.jammed.discard)(lock)

    def set_occupied(self, board: int, lock: int, occupied: bool = True) -> None:
        """Put a parcel in (or take it out of) a compartment."""
        if not self.occupancy:
            raise RuntimeError("simulator started without occupancy sensors")
        with self._state:
            sim_board = self._lock_of(board, lock)
            (sim_board.occupied.add if occupied else sim_board.occupied.discard)(lock)

    def is_occupied(self, board: int, lock: int) -> bool:
        """Return the occupancy sensor reading."""
        if not self.occupancy:
            raise RuntimeError("simulator started without occupancy sensors")
        with self._state:
            return lock in self._lock_of(board, lock).occupied

    def power_off(self, board: int | None = None) -> None:
        """Cut power to one board (or all): it stops answering and pulsing; doors stay as they are."""
        with self._state:
            for sim_board in self._select(board):
                sim_board.powered = False

    def power_on(self, board: int | None = None) -> None:
        """Restore power: the board answers again, reading its doors' real state."""
        with self._state:
            for sim_board in self._select(board):
                sim_board.powered = True

    def is_powered(self, board: int) -> bool:
        """Return whether ``board`` has power."""
        with self._state:
            return self._board(board).powered

    def _select(self, board: int | None) -> list[_Board]:
        return list(self._boards.values()) if board is None else [self._board(board)]

    def set_fault(self, fault: Fault, *, board: int | None = None, times: int | None = 1) -> None:
        """Apply ``fault`` to the next ``times`` replies of ``board`` (any board if None).

        ``times=None`` keeps it until :meth:`clear_faults`.
        """
        with self._state:
            self._faults.append(_FaultRule(fault=fault, board=board, remaining=times))

    def clear_faults(self) -> None:
        """Remove every pending fault and reply delay (jams and power are separate)."""
        with self._state:
            self._faults.clear()
            self._delays.clear()

    def delay_replies(self, request: type[Request], delay_s: float, *, times: int = 1) -> None:
        """Hold the replies to the next ``times`` requests of type ``request`` for ``delay_s`` s.

        The board acts at once (an unlock pulses, a query reads the doors) and answers late: with
        ``DoorQuery``, the door is open before the driver's confirming query is answered — the moment
        a host crash leaves an opening unrecorded. The line is busy meanwhile, as on a real bus.
        """
        with self._state:
            self._delays.append(_DelayRule(request=request, delay_s=delay_s, remaining=times))

    def _take_delay(self, request: Request) -> float:
        with self._state:
            for rule in self._delays:
                if isinstance(request, rule.request) and rule.remaining > 0:
                    rule.remaining -= 1
                    return rule.delay_s
        return 0.0

    def door_states(self, board: int) -> dict[int, bool]:
        """Return ``{lock: is_open}`` for every lock of ``board``."""
        return {lock: self.door_is_open(board, lock) for lock in range(1, self._board(board).locks + 1)}

    # -- the device side of the line --------------------------------------------------------

    def _serve(self) -> None:
        decoder = self._codec.request_decoder()
        buffer = bytearray()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master, self._wake_r], [], [])
            if self._wake_r in ready or self._stop.is_set():
                return
            try:
                chunk = os.read(self._master, 256)
            except OSError:
                return  # pty gone
            if self.echo:
                self._write(chunk)
            buffer += chunk
            while True:
                consumed, request = decoder.feed(bytes(buffer))
                del buffer[:consumed]
                if request is not None:
                    self._handle(request)  # type: ignore[arg-type]
                elif consumed == 0 or not buffer:
                    break

    def _handle(self, request: Request) -> None:
        with self._state:
            self.requests.append(request)
            sim_board = self._boards.get(request.board)
            if sim_board is None or not sim_board.powered:
                return  # nobody at that address, or no power: silence on the line
        reply = self._act(sim_board, request)
        if reply is not None:
            delay_s = self._take_delay(request)
            if delay_s and self._stop.wait(delay_s):
                return
            self._send(sim_board.address, reply)

    def _act(self, sim_board: _Board, request: Request) -> Reply | None:
        match request:
            case UnlockRequest(lock=0):
                for lock in range(1, sim_board.locks + 1):
                    if not self._pulse(sim_board, lock):
                        return None
                return UnlockReply(board=sim_board.address, lock=0, opened=True)
            case UnlockRequest(lock=lock):
                if lock > sim_board.locks:
                    return None  # no such channel: real boards stay silent
                if not self._pulse(sim_board, lock):
                    return None
                return UnlockReply(
                    board=sim_board.address, lock=lock, opened=self.door_is_open(sim_board.address, lock)
                )
            case DoorQuery(lock=lock):
                if lock > sim_board.locks:
                    return None
                state = DoorState.OPEN if self.door_is_open(sim_board.address, lock) else DoorState.CLOSED
                return DoorReply(board=sim_board.address, lock=lock, state=state)
            case BoardQuery():
                mask = (1 << self._codec.max_lock) - 1  # unused channels read closed
                for lock, is_open in self.door_states(sim_board.address).items():
                    if is_open:
                        mask &= ~(1 << (lock - 1))
                return BoardReply(board=sim_board.address, closed_mask=mask)
        return None

    def _pulse(self, sim_board: _Board, lock: int) -> bool:
        """Energise one lock for ``pulse_s``; return False if power was lost meanwhile."""
        with self._state:
            if lock not in sim_board.jammed:
                sim_board.opened_at.setdefault(lock, time.monotonic())
        if self._stop.wait(self.pulse_s):
            return False
        with self._state:
            return sim_board.powered

    def _take_fault(self, board: int) -> Fault | None:
        with self._state:
            for rule in self._faults:
                if rule.board in (None, board) and rule.remaining != 0:
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule.fault
        return None

    def _send(self, board: int, reply: Reply) -> None:
        frame = self._codec.encode_reply(reply)
        match self._take_fault(board):
            case None:
                self._write(frame)
            case Fault.NO_REPLY:
                pass
            case Fault.BAD_CHECKSUM:
                bad = (frame[-1] + 1) & 0xFF
                # Keep the corrupted byte from posing as a head byte, so the host sees a clean reject.
                while bad in (0x80, 0x8A):
                    bad = (bad + 1) & 0xFF
                self._write(frame[:-1] + bytes([bad]))
            case Fault.TRUNCATED:
                self._write(frame[:-2])
            case Fault.GARBAGE_BEFORE:
                self._write(GARBAGE_BEFORE + frame)
            case Fault.GARBAGE_AFTER:
                self._write(frame + GARBAGE_AFTER)
            case Fault.SPLIT:
                half = len(frame) // 2
                self._write(frame[:half])
                self._stop.wait(SPLIT_PAUSE_S)
                self._write(frame[half:])
            case Fault.STRAY_FRAME:
                stray = dataclasses.replace(reply, board=board ^ 0x40)
                self._write(self._codec.encode_reply(stray) + frame)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._master, view)
            except OSError:
                return  # pty closed under us during stop()
            view = view[written:]
