"""The bus's speed for the door interlock: an interface, a simulated source and a fixed one.

The interlock treats a missing or stale fix as "moving": a door must never open on a bus whose
speed is unknown.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from locker_driver.agent.clock import Clock

# Above this the bus counts as moving (GPS noise on a parked bus stays well below), km/h.
MOVING_ABOVE_KMH = 1.0
# A fix older than this is not trusted, s.
STALE_AFTER_S = 10.0


@dataclass(frozen=True, kw_only=True)
class Fix:
    """One GPS reading: speed in km/h, position in WGS84 degrees, time of the reading."""

    speed_kmh: float
    lat_deg: float | None
    lon_deg: float | None
    at: datetime


class GpsSource(Protocol):
    """Where the agent reads the bus's latest GPS fix."""

    def latest(self) -> Fix | None:
        """Return the newest fix, or None if there is none."""
        ...


class SimulatedGps:
    """A GPS source set by hand (tests, the simulator console, or a feed process posting fixes)."""

    def __init__(self, clock: Clock, *, speed_kmh: float | None = 0.0, lat_deg: float | None = None,
                 lon_deg: float | None = None) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._fix: Fix | None = None
        self._pinned = True  # a set fix never goes stale: the simulated bus stands where it was put
        if speed_kmh is not None:
            self.set(speed_kmh=speed_kmh, lat_deg=lat_deg, lon_deg=lon_deg)

    def set(self, *, speed_kmh: float, lat_deg: float | None = None, lon_deg: float | None = None) -> None:
        """Record a fix now: speed in km/h, position in degrees."""
        with self._lock:
            self._fix = Fix(speed_kmh=speed_kmh, lat_deg=lat_deg, lon_deg=lon_deg, at=self._clock.now())

    def latest(self) -> Fix | None:
        with self._lock:
            if self._fix is None:
                return None
            # Pinned: re-stamp so the simulated clock jumping days ahead does not make it stale.
            return Fix(speed_kmh=self._fix.speed_kmh, lat_deg=self._fix.lat_deg, lon_deg=self._fix.lon_deg,
                       at=self._clock.now()) if self._pinned else self._fix


class FeedGps(SimulatedGps):
    """Fixes posted by the on-board GPS feed; they go stale after :data:`STALE_AFTER_S`."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock, speed_kmh=None)
        self._pinned = False


def is_moving(fix: Fix | None, now: datetime) -> bool:
    """Return whether the interlock must treat the bus as moving.

    Parameters:
        fix: the latest fix (None: no GPS).
        now: current time, to judge staleness.
    """
    if fix is None or (now - fix.at).total_seconds() > STALE_AFTER_S:
        return True
    return fix.speed_kmh > MOVING_ABOVE_KMH
