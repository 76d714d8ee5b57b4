"""Where ferries and buses are, and when they pass a stop, from the scenario's timetables.

Lines run outbound from their first stop at each departure (local time) and come back in reverse
after a turnaround, the same rule the scheduler plans with (:mod:`controller.scheduling.surface`).
Bus stops are evenly spaced in time over ``trip_minutes``; ferry calls carry their own offsets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from controller.scheduling.model import SchedulerConfig

_CONFIG = SchedulerConfig()
# A bus stands still at each stop for this long either side of its timetabled pass, s: couriers load
# and recipients open the bus locker then (its door interlock refuses while the bus moves).
BUS_DWELL_S = 90.0


@dataclass(frozen=True, kw_only=True)
class Stop:
    service_point: str | None
    lat_deg: float
    lon_deg: float
    offset_s: float  # from the run's first departure, outbound


@dataclass(frozen=True, kw_only=True)
class Line:
    """One bus or ferry line with its stops in outbound order."""

    id: str
    mode: str
    stops: tuple[Stop, ...]
    departures: tuple[str, ...]  # "HH:MM" local, from the first stop
    locker_id: str | None = None

    @classmethod
    def from_definition(cls, *, line_id: str, mode: str, definition: dict) -> "Line":  # type: ignore[type-arg]
        """Build from a ``transport_lines.definition`` (the scenario's JSON)."""
        if mode == "bus":
            raw = definition["stops"]
            trip_s = float(definition["trip_minutes"]) * 60.0
            stops = tuple(Stop(service_point=s.get("service_point"), lat_deg=s["lat_deg"], lon_deg=s["lon_deg"],
                               offset_s=trip_s * i / (len(raw) - 1)) for i, s in enumerate(raw))
        else:
            stops = tuple(Stop(service_point=c["service_point"], lat_deg=c["lat_deg"], lon_deg=c["lon_deg"],
                               offset_s=float(c["minutes_from_start"]) * 60.0) for c in definition["calls"])
        return cls(id=line_id, mode=mode, stops=stops, departures=tuple(definition["departures"]),
                   locker_id=definition.get("locker"))

    @property
    def turnaround_s(self) -> float:
        turn = _CONFIG.bus_turnaround_s if self.mode == "bus" else _CONFIG.ferry_turnaround_s
        return float(turn or 0.0)

    @property
    def trip_s(self) -> float:
        return self.stops[-1].offset_s

    def index_of(self, service_point: str) -> int | None:
        """The position of the stop serving ``service_point``, or None."""
        for i, stop in enumerate(self.stops):
            if stop.service_point == service_point:
                return i
        return None

    def serves(self, origin: str, destination: str) -> bool:
        a, b = self.index_of(origin), self.index_of(destination)
        return a is not None and b is not None and a != b

    def run_starts(self, around: datetime, tz: ZoneInfo) -> list[datetime]:
        """Outbound departure instants (UTC) on the local day of ``around`` and the days either side."""
        local_day = around.astimezone(tz).date()
        out = []
        for delta in (-1, 0, 1):
            day = local_day + timedelta(days=delta)
            for hhmm in self.departures:
                h, m = (int(x) for x in hhmm.split(":"))
                out.append(datetime.combine(day, time(h, m), tzinfo=tz).astimezone(UTC))
        return sorted(out)

    def _passes(self, index: int, start: datetime) -> list[tuple[datetime, str]]:
        """When the run leaving at ``start`` is at stop ``index``: outbound and on the return."""
        out_at = start + timedelta(seconds=self.stops[index].offset_s)
        back_at = start + timedelta(seconds=self.trip_s + self.turnaround_s + self.trip_s - self.stops[index].offset_s)
        return [(out_at, "outbound"), (back_at, "return")]

    def next_ride(self, origin: str, destination: str, earliest: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The first run leaving ``origin`` at or after ``earliest`` that goes on to ``destination``.

        Returns (depart_at, arrive_at). Raises LookupError when the line does not serve both.
        """
        a, b = self.index_of(origin), self.index_of(destination)
        if a is None or b is None or a == b:
            raise LookupError(f"line {self.id} does not run {origin} -> {destination}")
        leg_s = abs(self.stops[b].offset_s - self.stops[a].offset_s)
        pass_index = 0 if b > a else 1  # outbound runs go up the stop list, return runs down it
        for start in self.run_starts(earliest, tz) + self.run_starts(earliest + timedelta(days=2), tz):
            depart = self._passes(a, start)[pass_index][0]
            if depart >= earliest:
                return depart, depart + timedelta(seconds=leg_s)
        raise LookupError(f"line {self.id}: no run found after {earliest}")

    def travel_s(self, origin: str, destination: str) -> float:
        a, b = self.index_of(origin), self.index_of(destination)
        if a is None or b is None:
            raise LookupError(f"line {self.id} does not call at both {origin} and {destination}")
        return abs(self.stops[b].offset_s - self.stops[a].offset_s)

    def next_pass(self, service_point: str, earliest: datetime, tz: ZoneInfo) -> datetime:
        """The first time at or after ``earliest`` that a run (either direction) is at ``service_point``."""
        index = self.index_of(service_point)
        if index is None:
            raise LookupError(f"line {self.id} does not call at {service_point}")
        times = sorted(t for start in self.run_starts(earliest, tz) + self.run_starts(earliest + timedelta(days=2), tz)
                       for t, _ in self._passes(index, start) if t >= earliest)
        return times[0]

    def position(self, at: datetime, tz: ZoneInfo) -> tuple[float, float, float, str]:
        """(lat_deg, lon_deg, speed_m_s, status) of the vehicle at ``at``; parked at the first stop between runs."""
        for start in self.run_starts(at, tz):
            t = (at - start).total_seconds()
            if 0 <= t <= self.trip_s:
                return (*self._along(t), "outbound")
            back = t - self.trip_s - self.turnaround_s
            if self.trip_s < t < self.trip_s + self.turnaround_s:
                last = self.stops[-1]
                return last.lat_deg, last.lon_deg, 0.0, "turnaround"
            if 0 <= back <= self.trip_s:
                return (*self._along(self.trip_s - back), "return")
        first = self.stops[0]
        return first.lat_deg, first.lon_deg, 0.0, "parked"

    def stopped_at(self, at: datetime, tz: ZoneInfo) -> str | None:
        """The service point of the stop where the vehicle stands still at ``at`` (None: moving, or a stop
        without a service point)."""
        lat, lon, speed, _ = self.position(at, tz)
        if speed > 0.0:
            return None
        for stop in self.stops:
            if abs(stop.lat_deg - lat) < 1e-9 and abs(stop.lon_deg - lon) < 1e-9:
                return stop.service_point
        return None

    def _along(self, offset_s: float) -> tuple[float, float, float]:
        if self.mode == "bus":
            for stop in self.stops:
                if abs(offset_s - stop.offset_s) <= BUS_DWELL_S:
                    return stop.lat_deg, stop.lon_deg, 0.0
        for a, b in zip(self.stops, self.stops[1:]):
            if a.offset_s <= offset_s <= b.offset_s:
                span = max(b.offset_s - a.offset_s, 1e-9)
                f = (offset_s - a.offset_s) / span
                lat = a.lat_deg + f * (b.lat_deg - a.lat_deg)
                lon = a.lon_deg + f * (b.lon_deg - a.lon_deg)
                return lat, lon, _distance_m(a, b) / span
        last = self.stops[-1]
        return last.lat_deg, last.lon_deg, 0.0


def _distance_m(a: Stop, b: Stop) -> float:
    mean_lat = math.radians((a.lat_deg + b.lat_deg) / 2)
    dy = (b.lat_deg - a.lat_deg) * 111_320.0
    dx = (b.lon_deg - a.lon_deg) * 111_320.0 * math.cos(mean_lat)
    return math.hypot(dx, dy)
