"""Generic 24-channel lock-control-board protocol (the "8A/80" family), pure bytes <-> values.

Many parcel-locker boards sold for 12/16/24 locks speak this over RS-485 or RS-232, 9600 baud 8N1.
Every frame is a head byte, the board address (DIP switch), a lock number, a function/status byte
and an XOR of all preceding bytes::

    request, 5 bytes                         reply, 5 bytes
    +------+-------+------+------+------+    +------+-------+------+--------+------+
    | head | board | lock |  fn  | xor  |    | head | board | lock | status | xor  |
    +------+-------+------+------+------+    +------+-------+------+--------+------+

    unlock       8A bb ll 11 cs   ->  8A bb ll ss cs   ss 00 = opened, 11 = did not open
    unlock all   8A bb 00 11 cs   ->  8A bb 00 11 cs   after every lock has been pulsed in turn
    query door   80 bb ll 33 cs   ->  80 bb ll ss cs   ss 00 = open,   11 = closed
    query all    80 bb 00 33 cs   ->  80 bb m3 m2 m1 33 cs          (7 bytes)
                                      m3 = locks 17-24, m2 = locks 9-16, m1 = locks 1-8;
                                      bit k of each byte = lowest lock of its group + k; 1 = closed

    cs = XOR of every byte before it, e.g. unlock board 1 lock 1 = 8A 01 01 11 9B.

Sources (public drivers, read 2025; no code copied): amilcarrey/pickapp-station
``src/modules/master-interface`` (heads 0x8A/0x80, functions 0x11/0x33, XOR of the first four
bytes, 7-byte query-all read) and a second public Python RS-485 driver whose constants give
``8A 01 00 11 9A`` (open all), ``80 01 00 33 B2`` (query all), the 5-byte reply layout
``[head, board, lock, status, xor]``, status 0x00 open / 0x11 closed or failed unlock, the
7-byte query-all reply ``80 01 [17-24] [9-16] [1-8] 33 B3`` with 1 = closed, and the echoed
``8A bb 00 11`` reply to "open all". Unsure (not stated by either source, chosen here): the bit
order inside a mask byte (LSB = lowest lock) and what unused channels of a smaller board report
(the simulator says closed).

Known ambiguity: the "did not open" unlock reply is byte-identical to the unlock request, so on an
adapter that echoes what it sends the echo must be removed by the transport (``echo=True``); the bus
also confirms every "did not open" with a door query before raising.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce

from locker_driver.errors import AddressError, BadFrame, RejectReason
from locker_driver.frames import (
    BoardQuery,
    BoardReply,
    DoorQuery,
    DoorReply,
    DoorState,
    Frame,
    Reply,
    Request,
    UnlockReply,
    UnlockRequest,
)

HEAD_UNLOCK = 0x8A
HEAD_QUERY = 0x80
FN_UNLOCK = 0x11
FN_QUERY = 0x33
STATUS_OPEN = 0x00
STATUS_CLOSED = 0x11
MAX_LOCK = 24
FRAME_LEN = 5
BOARD_REPLY_LEN = 7
MASK_ALL = (1 << MAX_LOCK) - 1


def xor(data: bytes) -> int:
    """Return the XOR of every byte of ``data`` (the frame checksum).

    >>> hex(xor(bytes([0x8A, 0x01, 0x01, 0x11])))
    '0x9b'
    """
    return reduce(lambda acc, b: acc ^ b, data, 0)


def _seal(body: bytes) -> bytes:
    return body + bytes([xor(body)])


def _check_board(board: int) -> None:
    if not 0 <= board <= 0xFF:
        raise AddressError(board=board, lock=None, reason="board address must fit one byte (0-255)")


def _check_lock(board: int, lock: int, *, allow_all: bool) -> None:
    _check_board(board)
    low = 0 if allow_all else 1
    if not low <= lock <= MAX_LOCK:
        raise AddressError(board=board, lock=lock, reason=f"lock must be {low}-{MAX_LOCK}")


def encode_unlock(board: int, lock: int) -> bytes:
    """Return the unlock frame; ``lock`` 0 opens every lock in sequence.

    >>> encode_unlock(1, 1).hex(' ')
    '8a 01 01 11 9b'
    """
    _check_lock(board, lock, allow_all=True)
    return _seal(bytes([HEAD_UNLOCK, board, lock, FN_UNLOCK]))


def encode_query(board: int, lock: int) -> bytes:
    """Return the query-one-door frame (``lock`` 1-24)."""
    _check_lock(board, lock, allow_all=False)
    return _seal(bytes([HEAD_QUERY, board, lock, FN_QUERY]))


def encode_query_all(board: int) -> bytes:
    """Return the query-all-doors frame.

    >>> encode_query_all(1).hex(' ')
    '80 01 00 33 b2'
    """
    _check_board(board)
    return _seal(bytes([HEAD_QUERY, board, 0, FN_QUERY]))


def encode_request(request: Request) -> bytes:
    """Return the frame for any request value."""
    match request:
        case UnlockRequest(board=b, lock=lock):
            return encode_unlock(b, lock)
        case DoorQuery(board=b, lock=lock):
            return encode_query(b, lock)
        case BoardQuery(board=b):
            return encode_query_all(b)
    raise TypeError(f"not a request: {request!r}")


def encode_reply(reply: Reply) -> bytes:
    """Return the frame a board sends for ``reply``.

    The reply to "unlock all" (lock 0) is always ``8A bb 00 11 cs`` whatever ``opened`` says,
    as observed in the public driver.
    """
    match reply:
        case UnlockReply(board=b, lock=lock, opened=opened):
            _check_lock(b, lock, allow_all=True)
            status = STATUS_CLOSED if lock == 0 or not opened else STATUS_OPEN
            return _seal(bytes([HEAD_UNLOCK, b, lock, status]))
        case DoorReply(board=b, lock=lock, state=state):
            _check_lock(b, lock, allow_all=False)
            status = STATUS_OPEN if state is DoorState.OPEN else STATUS_CLOSED
            return _seal(bytes([HEAD_QUERY, b, lock, status]))
        case BoardReply(board=b, closed_mask=mask):
            _check_board(b)
            if not 0 <= mask <= MASK_ALL:
                raise ValueError(f"closed_mask must fit {MAX_LOCK} bits, got {mask:#x}")
            return _seal(bytes([HEAD_QUERY, b, mask >> 16 & 0xFF, mask >> 8 & 0xFF, mask & 0xFF, FN_QUERY]))
    raise TypeError(f"not a reply: {reply!r}")


def _expect(raw: bytes, length: int, head: int) -> None:
    if len(raw) != length:
        raise BadFrame(RejectReason.LENGTH, raw, f"expected {length} bytes, got {len(raw)}")
    if raw[0] != head:
        raise BadFrame(RejectReason.HEAD, raw, f"expected head {head:#04x}")
    if xor(raw[:-1]) != raw[-1]:
        raise BadFrame(RejectReason.CHECKSUM, raw, f"xor is {xor(raw[:-1]):#04x}")


def _status(raw: bytes, byte: int) -> int:
    if byte not in (STATUS_OPEN, STATUS_CLOSED):
        raise BadFrame(RejectReason.STATUS, raw, f"status {byte:#04x} is neither 0x00 nor 0x11")
    return byte


def decode_reply(request: Request, raw: bytes) -> Reply:
    """Decode the reply to ``request`` from exactly one frame.

    Raises:
        BadFrame: wrong length, head, checksum, address (board or lock differs from the
            request's), or status byte.
    """
    raw = bytes(raw)
    match request:
        case UnlockRequest() | DoorQuery():
            head = HEAD_UNLOCK if isinstance(request, UnlockRequest) else HEAD_QUERY
            _expect(raw, FRAME_LEN, head)
            if (raw[1], raw[2]) != (request.board, request.lock):
                raise BadFrame(RejectReason.ADDRESS, raw, f"for board {raw[1]} lock {raw[2]}")
            status = _status(raw, raw[3])
            if isinstance(request, UnlockRequest):
                return UnlockReply(board=raw[1], lock=raw[2], opened=status == STATUS_OPEN and raw[2] != 0)
            state = DoorState.OPEN if status == STATUS_OPEN else DoorState.CLOSED
            return DoorReply(board=raw[1], lock=raw[2], state=state)
        case BoardQuery():
            _expect(raw, BOARD_REPLY_LEN, HEAD_QUERY)
            if raw[1] != request.board:
                raise BadFrame(RejectReason.ADDRESS, raw, f"for board {raw[1]}")
            if raw[5] != FN_QUERY:
                raise BadFrame(RejectReason.FUNCTION, raw, f"byte 5 is {raw[5]:#04x}, expected 0x33")
            return BoardReply(board=raw[1], closed_mask=raw[2] << 16 | raw[3] << 8 | raw[4])
    raise TypeError(f"not a request: {request!r}")


def decode_request(raw: bytes) -> Request:
    """Decode one request frame (device side).

    Raises:
        BadFrame: wrong length, unknown head, checksum, function byte not matching the head,
            or lock out of range.
    """
    raw = bytes(raw)
    if len(raw) != FRAME_LEN:
        raise BadFrame(RejectReason.LENGTH, raw, f"expected {FRAME_LEN} bytes, got {len(raw)}")
    if raw[0] not in (HEAD_UNLOCK, HEAD_QUERY):
        raise BadFrame(RejectReason.HEAD, raw)
    if xor(raw[:-1]) != raw[-1]:
        raise BadFrame(RejectReason.CHECKSUM, raw)
    board, lock, fn = raw[1], raw[2], raw[3]
    if fn != (FN_UNLOCK if raw[0] == HEAD_UNLOCK else FN_QUERY):
        raise BadFrame(RejectReason.FUNCTION, raw, f"function {fn:#04x} does not match head")
    if lock > MAX_LOCK:
        raise BadFrame(RejectReason.ADDRESS, raw, f"lock {lock} > {MAX_LOCK}")
    if raw[0] == HEAD_UNLOCK:
        return UnlockRequest(board=board, lock=lock)
    return BoardQuery(board=board) if lock == 0 else DoorQuery(board=board, lock=lock)


# A decoder keeps at most this many rejects: they are diagnostics, not a log.
_MAX_REJECTS = 64


@dataclass(kw_only=True)
class ReplyDecoder:
    """Incremental decoder of the reply to one request (host side); see :class:`FrameDecoder`.

    Skips garbage up to the expected head byte, rejects candidates failing any check (one byte at
    a time, so a frame hidden after a false head is still found), skips well-formed frames for
    another address whole, and skips an exact echo of ``request`` where it cannot be a reply.
    """

    request: Request
    rejects: list[BadFrame] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sent = encode_request(self.request)
        if isinstance(self.request, BoardQuery):
            self._head, self._length = HEAD_QUERY, BOARD_REPLY_LEN
        else:
            self._head = HEAD_UNLOCK if isinstance(self.request, UnlockRequest) else HEAD_QUERY
            self._length = FRAME_LEN

    def _reject(self, error: BadFrame) -> None:
        if len(self.rejects) < _MAX_REJECTS:
            self.rejects.append(error)

    def feed(self, data: bytes) -> tuple[int, Frame | None]:
        """Scan ``data``; return ``(consumed, reply or None)``."""
        data = bytes(data)
        start = 0
        while True:
            at = data.find(self._head, start)
            if at < 0:
                return len(data), None
            candidate = data[at : at + self._length]
            if len(candidate) < self._length:
                # A 5-byte echo of a query-all cannot be told from the first 5 bytes of its reply
                # until 7 bytes are here, so wait rather than guess.
                return at, None
            try:
                return at + self._length, decode_reply(self.request, candidate)
            except BadFrame as error:
                if data[at : at + FRAME_LEN] == self._sent:
                    # Echo of our own request (a query: its status byte 0x33 is no valid reply).
                    start = at + FRAME_LEN
                    if start == len(data):
                        return start, None
                    continue
                self._reject(error)
                if error.reason is RejectReason.ADDRESS:
                    start = at + self._length  # a whole, valid frame for someone else
                else:
                    start = at + 1
                if start >= len(data):
                    return len(data), None


@dataclass(kw_only=True)
class RequestDecoder:
    """Incremental decoder of requests (device side); see :class:`FrameDecoder`.

    Replies from other boards on a shared line fail the function check and are skipped.
    """

    rejects: list[BadFrame] = field(default_factory=list)

    def feed(self, data: bytes) -> tuple[int, Frame | None]:
        """Scan ``data``; return ``(consumed, request or None)``."""
        data = bytes(data)
        start = 0
        while start < len(data):
            at = next((i for i in range(start, len(data)) if data[i] in (HEAD_UNLOCK, HEAD_QUERY)), -1)
            if at < 0:
                return len(data), None
            candidate = data[at : at + FRAME_LEN]
            if len(candidate) < FRAME_LEN:
                return at, None
            try:
                return at + FRAME_LEN, decode_request(candidate)
            except BadFrame as error:
                if len(self.rejects) < _MAX_REJECTS:
                    self.rejects.append(error)
                start = at + 1
        return len(data), None


@dataclass(frozen=True, kw_only=True)
class GenericBoardCodec:
    """:class:`~locker_driver.frames.FrameCodec` for the generic 24-channel board."""

    name: str = "generic-24"
    max_lock: int = MAX_LOCK

    def encode_request(self, request: Request) -> bytes:
        """Return the frame for ``request``."""
        return encode_request(request)

    def reply_decoder(self, request: Request) -> ReplyDecoder:
        """Return a decoder yielding only the reply to ``request``."""
        return ReplyDecoder(request=request)

    def encode_reply(self, reply: Reply) -> bytes:
        """Return the board's frame for ``reply``."""
        return encode_reply(reply)

    def request_decoder(self) -> RequestDecoder:
        """Return a device-side request decoder."""
        return RequestDecoder()

    def wire_bytes(self, request: Request) -> int:
        """Return request + reply length in bytes (5 + 5, or 5 + 7 for query-all)."""
        return FRAME_LEN + (BOARD_REPLY_LEN if isinstance(request, BoardQuery) else FRAME_LEN)
