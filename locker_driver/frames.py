"""Typed lock-board requests and replies, and the codec interface every board family implements.

These values know nothing of bytes: a :class:`FrameCodec` turns them into frames for one board
family (see :mod:`locker_driver.protocol` for the generic 24-channel board). The bus and the
simulator only talk in these types, so adding a family (e.g. Kerong KR-CU) means adding a codec.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from locker_driver.errors import BadFrame


class DoorState(enum.StrEnum):
    """Door sensor reading."""

    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, kw_only=True)
class UnlockRequest:
    """Pulse the lock of one door (``lock`` 0 = every lock in sequence, if the family supports it)."""

    board: int
    lock: int


@dataclass(frozen=True, kw_only=True)
class DoorQuery:
    """Ask for the state of one door."""

    board: int
    lock: int


@dataclass(frozen=True, kw_only=True)
class BoardQuery:
    """Ask for the state of every door on a board."""

    board: int


Request = UnlockRequest | DoorQuery | BoardQuery


@dataclass(frozen=True, kw_only=True)
class UnlockReply:
    """Board's answer to an unlock: ``opened`` False means the board says the door did not open."""

    board: int
    lock: int
    opened: bool


@dataclass(frozen=True, kw_only=True)
class DoorReply:
    """Board's answer to a door query."""

    board: int
    lock: int
    state: DoorState


@dataclass(frozen=True, kw_only=True)
class BoardReply:
    """Board's answer to a query of all doors.

    ``closed_mask`` bit ``n - 1`` is set when lock ``n`` is closed (locks 1..24).
    """

    board: int
    closed_mask: int

    def state(self, lock: int) -> DoorState:
        """Return the state of ``lock`` (1-based)."""
        return DoorState.CLOSED if self.closed_mask >> (lock - 1) & 1 else DoorState.OPEN

    def states(self, locks: int = 24) -> dict[int, DoorState]:
        """Return ``{lock: state}`` for locks ``1..locks``."""
        return {lock: self.state(lock) for lock in range(1, locks + 1)}


Reply = UnlockReply | DoorReply | BoardReply
Frame = Request | Reply


class FrameDecoder(Protocol):
    """Incremental, pure decoder: scans a byte buffer the caller owns.

    ``feed(data)`` returns ``(consumed, frame)``: the caller drops ``consumed`` bytes from the front
    of its buffer. ``frame`` is None when more bytes are needed (``consumed`` is then the garbage
    skipped) or when only an echo/stray frame was skipped; call again while ``consumed > 0``.
    Candidates that fail a check are appended to ``rejects`` and skipped (resynchronisation), never
    raised.
    """

    rejects: list[BadFrame]

    def feed(self, data: bytes) -> tuple[int, Frame | None]: ...


class FrameCodec(Protocol):
    """One board family's wire format, for both sides of the line."""

    name: str
    max_lock: int

    def encode_request(self, request: Request) -> bytes:
        """Return the frame the host sends for ``request``."""
        ...

    def reply_decoder(self, request: Request) -> FrameDecoder:
        """Return a decoder that yields only the reply to ``request``."""
        ...

    def encode_reply(self, reply: Reply) -> bytes:
        """Return the frame a board sends for ``reply`` (device side)."""
        ...

    def request_decoder(self) -> FrameDecoder:
        """Return a decoder of requests (device side)."""
        ...

    def wire_bytes(self, request: Request) -> int:
        """Return how many bytes ``request`` and its reply put on the line."""
        ...
