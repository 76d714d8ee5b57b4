"""Typed telemetry snapshots, vehicle events and a decimated track for persistence."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any


class LandedState(enum.IntEnum):
    """MAV_LANDED_STATE."""

    UNDEFINED = 0
    ON_GROUND = 1
    IN_AIR = 2
    TAKEOFF = 3
    LANDING = 4


@dataclass(frozen=True, kw_only=True)
class Telemetry:
    """One snapshot of a vehicle's state as last reported. ``None`` = not reported yet.

    Times: ``time_unix_s`` wall clock of the snapshot. Position WGS84 degrees; ``alt_amsl_m``
    above mean sea level, ``alt_rel_m`` above home. Battery: volts, percent (0-100), amperes.
    """

    sysid: int
    time_unix_s: float
    lat_deg: float | None = None
    lon_deg: float | None = None
    alt_amsl_m: float | None = None
    alt_rel_m: float | None = None
    groundspeed_m_s: float | None = None
    heading_deg: float | None = None
    battery_voltage_v: float | None = None
    battery_remaining_pct: float | None = None
    battery_current_a: float | None = None
    mode: str = "UNKNOWN"
    armed: bool = False
    landed_state: LandedState = LandedState.UNDEFINED
    mission_seq: int | None = None
    mission_total: int | None = None
    gps_fix_type: int = 0
    satellites_visible: int | None = None
    link_ok: bool = True

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (enums as names)."""
        data = dict(vars(self))
        data["landed_state"] = self.landed_state.name
        return data


@dataclass(frozen=True, kw_only=True)
class VehicleEvent:
    """Something that happened, for consoles and the sortie runner.

    kind: "statustext" (data: severity, text), "mission_item_reached" (seq), "mission_current"
    (seq, total), "mode_changed" (mode, previous), "armed_changed" (armed), "link_lost" (silent_s),
    "link_restored" (silent_s), "corridor_deviation" (deviation_m, max_deviation_m).
    """

    kind: str
    sysid: int
    time_unix_s: float
    data: dict[str, Any] = field(default_factory=dict)


def distance_m(lat1_deg: float, lon1_deg: float, lat2_deg: float, lon2_deg: float) -> float:
    """Great-circle distance in metres (haversine, mean Earth radius); fine for track decimation.

    >>> round(distance_m(30.7245, 122.452, 30.7245 + 1e-3, 122.452), 1)
    111.2
    """
    r_m = 6_371_008.8
    p1, p2 = math.radians(lat1_deg), math.radians(lat2_deg)
    dp, dl = p2 - p1, math.radians(lon2_deg - lon1_deg)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r_m * math.asin(min(1.0, math.sqrt(a)))


class DecimatedTrack:
    """Keep a track point when the vehicle moved ``min_distance_m`` or ``max_interval_s`` elapsed.

    Mode/armed/landed changes always keep a point, so the persisted track shows every phase change.
    """

    def __init__(self, *, min_distance_m: float = 10.0, max_interval_s: float = 5.0) -> None:
        self.min_distance_m = min_distance_m
        self.max_interval_s = max_interval_s
        self.points: list[Telemetry] = []

    def offer(self, snapshot: Telemetry) -> bool:
        """Return True (and keep it) when ``snapshot`` is worth persisting."""
        if snapshot.lat_deg is None or snapshot.lon_deg is None:
            return False
        if self.points:
            last = self.points[-1]
            phase_changed = (last.mode, last.armed, last.landed_state) != (
                snapshot.mode, snapshot.armed, snapshot.landed_state)
            moved_m = distance_m(last.lat_deg, last.lon_deg, snapshot.lat_deg, snapshot.lon_deg)  # type: ignore[arg-type]
            climbed_m = abs((snapshot.alt_rel_m or 0.0) - (last.alt_rel_m or 0.0))
            waited_s = snapshot.time_unix_s - last.time_unix_s
            if not (phase_changed or moved_m >= self.min_distance_m or climbed_m >= self.min_distance_m
                    or waited_s >= self.max_interval_s):
                return False
        self.points.append(snapshot)
        return True
