"""Blocking, thread-safe bus serving several lock boards by address on one serial line.

One request is on the line at a time: a lock serialises request/response pairs, so threads (or
asyncio code via ``asyncio.to_thread``) may share one bus.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Protocol, Self

from locker_driver.errors import BadFrame, BadReply, BoardTimeout, DoorDidNotOpen, RejectReason
from locker_driver.frames import (
    BoardQuery,
    BoardReply,
    DoorQuery,
    DoorReply,
    DoorState,
    FrameCodec,
    FrameDecoder,
    Reply,
    Request,
    UnlockReply,
    UnlockRequest,
)
from locker_driver.protocol import GenericBoardCodec

DEFAULT_TIMEOUT_S = 1.0
DEFAULT_ATTEMPTS = 3
# Time a board may take per lock when opening all in sequence (pulse + pause), in s.
UNLOCK_ALL_PER_LOCK_S = 0.5


class Transport(Protocol):
    """What the bus needs from a byte link (see :class:`locker_driver.transport.SerialTransport`)."""

    def write(self, frame: bytes) -> None:
        """Send ``frame`` and drop any echo of it."""
        ...

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        """Return up to ``max_bytes`` bytes, waiting up to ``timeout_s`` s; ``b""`` on timeout."""
        ...

    def discard_input(self) -> None:
        """Drop unread input."""
        ...

    def close(self) -> None:
        """Release the link."""
        ...


class LockerBus:
    """Lock boards on one line, addressed by board number (DIP switch) and lock number (1-24).

    Parameters:
        transport: the byte link; the bus owns it and closes it in :meth:`close`.
        codec: board family wire format (default: generic 24-channel board).
        timeout_s: how long each attempt waits for a reply, in s. Must exceed the board's unlock
            pulse, since boards reply after pulsing.
        attempts: how many times a request is sent before giving up (>= 1). Unlock is retried
            too: pulsing an open lock again is harmless.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        codec: FrameCodec | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        attempts: int = DEFAULT_ATTEMPTS,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        self._transport = transport
        self._codec: FrameCodec = codec or GenericBoardCodec()
        self.timeout_s = timeout_s
        self.attempts = attempts
        self._lock = threading.RLock()
        # Whether bytes of an earlier exchange may still come (it timed out, retried or read more than
        # its reply): the next exchange then drops unread input first. After a clean exchange it does
        # not: that is a system call per request, and in the locker agent each one waits to get the GIL
        # back from the busy event loop; stray bytes are resynchronised over by the decoder anyway.
        self._line_unsettled = True

    # -- public API -------------------------------------------------------------------------

    def unlock(self, board: int, lock: int, *, confirm: bool = False) -> None:
        """Pulse ``lock`` on ``board`` open.

        A "did not open" reply is always checked with a door query: only a closed door raises
        (an open one means the reply was an echo, or the door was already open).

        Parameters:
            confirm: also query the door after an "opened" reply and raise if it reads closed.

        Raises:
            DoorDidNotOpen: the board says it did not open and the door reads closed.
            BoardTimeout, BadReply, LinkError, AddressError.
        """
        if lock == 0:
            raise ValueError("use unlock_all() to open every lock")
        with self._lock:
            reply = self._exchange(UnlockRequest(board=board, lock=lock))
            assert isinstance(reply, UnlockReply)
            if (not reply.opened or confirm) and self.door_state(board, lock) is DoorState.CLOSED:
                raise DoorDidNotOpen(board=board, lock=lock)

    def unlock_all(self, board: int) -> dict[int, DoorState]:
        """Open every lock of ``board`` in sequence, then return every door's state.

        The board answers only after the whole sequence, so this waits up to
        ``timeout_s + 24 * 0.5`` s per attempt.
        """
        with self._lock:
            timeout_s = self.timeout_s + self._codec.max_lock * UNLOCK_ALL_PER_LOCK_S
            self._exchange(UnlockRequest(board=board, lock=0), timeout_s=timeout_s)
            return self.door_states(board)

    def door_state(self, board: int, lock: int) -> DoorState:
        """Return the state of one door.

        Raises:
            BoardTimeout, BadReply, LinkError, AddressError.
        """
        reply = self._exchange(DoorQuery(board=board, lock=lock))
        assert isinstance(reply, DoorReply)
        return reply.state

    def door_states(self, board: int) -> dict[int, DoorState]:
        """Return ``{lock: state}`` for locks 1-24 of ``board`` in one query.

        Raises:
            BoardTimeout, BadReply, LinkError, AddressError.
        """
        reply = self._exchange(BoardQuery(board=board))
        assert isinstance(reply, BoardReply)
        return reply.states(self._codec.max_lock)

    def close(self) -> None:
        """Close the transport."""
        with self._lock:
            self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- request/response -------------------------------------------------------------------

    def _exchange(self, request: Request, *, timeout_s: float | None = None) -> Reply:
        """Send ``request`` until its reply arrives or attempts run out."""
        frame = self._codec.encode_request(request)  # validates the address before any I/O
        wait_s = self.timeout_s if timeout_s is None else timeout_s
        board = request.board
        lock = getattr(request, "lock", None)
        with self._lock:
            if self._line_unsettled:
                self._transport.discard_input()
            self._line_unsettled = True  # until this exchange ends cleanly
            # The buffer outlives an attempt: a late or truncated reply is resynchronised over,
            # not thrown away blindly.
            buffer = bytearray()
            last_bad: BadFrame | None = None
            for attempt in range(self.attempts):
                decoder = self._codec.reply_decoder(request)
                self._transport.write(frame)
                reply = self._await_reply(decoder, buffer, wait_s)
                if decoder.rejects:
                    last_bad = decoder.rejects[-1]
                if reply is not None:
                    self._line_unsettled = attempt > 0 or bool(buffer) or last_bad is not None
                    return reply
            if last_bad is not None and last_bad.reason is not RejectReason.ADDRESS:
                raise BadReply(board=board, lock=lock, attempts=self.attempts, last=last_bad)
            raise BoardTimeout(board=board, lock=lock, attempts=self.attempts)

    def _await_reply(self, decoder: FrameDecoder, buffer: bytearray, wait_s: float) -> Reply | None:
        deadline = time.monotonic() + wait_s
        while True:
            while True:
                consumed, frame = decoder.feed(bytes(buffer))
                del buffer[:consumed]
                if frame is not None:
                    return frame  # type: ignore[return-value]
                if consumed == 0 or not buffer:
                    break
            # A corrupted frame that left nothing pending means our reply is lost: resend now
            # instead of idling until the deadline.
            if not buffer and any(r.reason is RejectReason.CHECKSUM for r in decoder.rejects):
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            buffer += self._transport.read(64, remaining)
