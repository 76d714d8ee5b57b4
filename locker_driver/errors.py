"""Errors raised by the lock-board driver.

Every failure is a :class:`LockerError`; subclasses carry the facts (board, lock, attempts, raw
bytes) so callers can map them to HTTP codes or CLI exit codes without parsing messages.
"""

from __future__ import annotations

import enum


class LockerError(Exception):
    """Base class of every error raised by :mod:`locker_driver`."""


class AddressError(LockerError, ValueError):
    """A board or lock number outside what the board family can address."""

    def __init__(self, *, board: int, lock: int | None, reason: str) -> None:
        self.board = board
        self.lock = lock
        self.reason = reason
        where = f"board {board}" if lock is None else f"board {board} lock {lock}"
        super().__init__(f"invalid address {where}: {reason}")


class RejectReason(enum.StrEnum):
    """Why a candidate frame was rejected by a decoder."""

    LENGTH = "length"
    HEAD = "head"
    CHECKSUM = "checksum"
    ADDRESS = "address"
    FUNCTION = "function"
    STATUS = "status"


class BadFrame(LockerError):
    """Bytes that do not form the expected frame.

    Attributes:
        reason: which check failed.
        raw: the candidate bytes.
    """

    def __init__(self, reason: RejectReason, raw: bytes, detail: str = "") -> None:
        self.reason = reason
        self.raw = bytes(raw)
        self.detail = detail
        text = f"bad frame ({reason.value}) {self.raw.hex(' ')}"
        super().__init__(f"{text}: {detail}" if detail else text)


class BoardTimeout(LockerError):
    """No valid reply from a board after every attempt (each attempt waits ``timeout_s``)."""

    def __init__(self, *, board: int, lock: int | None, attempts: int) -> None:
        self.board = board
        self.lock = lock
        self.attempts = attempts
        where = f"board {board}" if lock is None else f"board {board} lock {lock}"
        super().__init__(f"no reply from {where} after {attempts} attempt(s)")


class BadReply(LockerError):
    """Only corrupted or malformed replies came back, after every attempt.

    Attributes:
        last: the last :class:`BadFrame` seen, with its raw bytes.
    """

    def __init__(self, *, board: int, lock: int | None, attempts: int, last: BadFrame) -> None:
        self.board = board
        self.lock = lock
        self.attempts = attempts
        self.last = last
        where = f"board {board}" if lock is None else f"board {board} lock {lock}"
        super().__init__(f"bad reply from {where} after {attempts} attempt(s): {last}")


class DoorDidNotOpen(LockerError):
    """The board reported the unlock failed and a follow-up query found the door closed."""

    def __init__(self, *, board: int, lock: int) -> None:
        self.board = board
        self.lock = lock
        super().__init__(f"board {board} lock {lock} did not open (jammed lock or no power to the coil?)")


class LinkError(LockerError):
    """The serial link itself failed: cannot open the port, I/O error, unsupported setting."""

    def __init__(self, *, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"serial link {url!r}: {reason}")
