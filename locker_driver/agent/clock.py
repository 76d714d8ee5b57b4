"""Injected time: every agent module reads the time from a :class:`Clock` so tests can simulate
days offline without waiting."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of timezone-aware UTC time."""

    def now(self) -> datetime:
        """Return the current time (timezone-aware UTC)."""
        ...


class SystemClock:
    """Wall-clock UTC time."""

    def now(self) -> datetime:
        """Return ``datetime.now(UTC)``."""
        return datetime.now(UTC)


class ManualClock:
    """Simulated time that moves only when told to (tests, simulations).

    >>> clock = ManualClock(datetime(2026, 12, 1, tzinfo=UTC))
    >>> clock.advance(3600).hour
    1
    """

    def __init__(self, start_at: datetime) -> None:
        if start_at.tzinfo is None:
            raise ValueError("start_at must be timezone-aware")
        self._now = start_at.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the simulated time."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        """Move simulated time forward by ``seconds`` s and return the new time."""
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now
