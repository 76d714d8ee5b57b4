"""The process-wide clock every persisted controller timestamp is read from.

By default it is real UTC time. A demo or a simulation installs a :class:`ScaledClock` so that
simulated time runs ``speedup`` times faster than the wall clock from a chosen start instant; the
database then holds simulated times throughout (tracking events, transitions, audit entries).

>>> from datetime import UTC, datetime
>>> clock = ScaledClock(start_at=datetime(2026, 12, 1, tzinfo=UTC), speedup=60.0)
>>> previous = set_clock(clock)
>>> now() >= datetime(2026, 12, 1, tzinfo=UTC)
True
>>> _ = set_clock(previous)
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def real_utc_now() -> datetime:
    """The wall-clock time, timezone-aware UTC."""
    return datetime.now(UTC)


_clock: Clock = real_utc_now
_lock = threading.Lock()


def now() -> datetime:
    """The current time of the process clock (timezone-aware UTC)."""
    return _clock()


def set_clock(clock: Clock | None) -> Clock:
    """Install ``clock`` as the process clock (None restores real time); return the previous one."""
    global _clock
    with _lock:
        previous, _clock = _clock, (clock or real_utc_now)
    return previous


@contextlib.contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Install ``clock`` for the duration of the block, then restore the previous clock."""
    previous = set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)


class ScaledClock:
    """Simulated time: ``start_at`` when created, advancing ``speedup`` simulated seconds per wall second.

    Parameters
    ----------
    start_at: the simulated instant at creation (timezone-aware).
    speedup: simulated seconds per wall second (> 0).
    """

    def __init__(self, *, start_at: datetime, speedup: float = 1.0) -> None:
        if start_at.tzinfo is None:
            raise ValueError("start_at must be timezone-aware")
        if speedup <= 0:
            raise ValueError("speedup must be positive")
        self.start_at = start_at.astimezone(UTC)
        self.speedup = float(speedup)
        self._wall0 = time.monotonic()

    def __call__(self) -> datetime:
        return self.start_at + timedelta(seconds=(time.monotonic() - self._wall0) * self.speedup)

    def elapsed_s(self) -> float:
        """Simulated seconds since ``start_at``."""
        return (time.monotonic() - self._wall0) * self.speedup

    def wall_s_until(self, at: datetime) -> float:
        """Wall seconds until the simulated instant ``at`` (0 when it has passed)."""
        return max(0.0, (at - self()).total_seconds() / self.speedup)
