"""Build ArduCopter mission, fence and rally items from a route; check a mission against a fence.

Pure functions over :class:`~flight_plans.mission_item.MissionItem` values; no I/O.

Mission layout (``mission_type`` MISSION)::

    seq 0   NAV_WAYPOINT   home (frame GLOBAL, z = home altitude AMSL); ArduPilot overwrites it
    seq 1   NAV_TAKEOFF    z = cruise altitude (ArduCopter needs it first to start AUTO on the ground)
    seq 2…  NAV_WAYPOINT   each bend of the route and the destination, at cruise altitude
    then, by delivery mode:
      land            NAV_LAND at the destination
      payload_place   NAV_PAYLOAD_PLACE at the destination (descends until thrust drops, releases,
                      climbs back), the route back, NAV_LAND (or RTL) at the start
      gripper_release NAV_WAYPOINT down to the drop height, DO_GRIPPER release, NAV_WAYPOINT back up,
                      the route back, NAV_LAND (or RTL) at the start

The return leg follows the planned route backwards rather than a bare RTL, because RTL flies a
straight line home that may cross a no-fly zone; an RTL is only appended once back above home.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import shapely
from shapely.geometry import LineString, Point

from flight_plans.errors import InvalidParameterError, MissionOutsideFenceError
from flight_plans.geofence import Geofence, ZoneKind
from flight_plans.mav_cmd import MavCmd, MavFrame
from flight_plans.mission_item import MissionItem, MissionType, degrees_to_e7
from flight_plans.route import Route

LatLon = tuple[float, float]


class DeliveryMode(enum.StrEnum):
    """How the parcel is handed over at the destination."""

    LAND = "land"
    PAYLOAD_PLACE = "payload_place"
    GRIPPER_RELEASE = "gripper_release"


class FinishAction(enum.StrEnum):
    """How a round trip ends above the start pad."""

    LAND = "land"
    RTL = "rtl"


def build_mission_items(
    route: Route,
    *,
    delivery: DeliveryMode = DeliveryMode.LAND,
    home_alt_amsl_m: float = 0.0,
    finish: FinishAction = FinishAction.LAND,
    gripper_drop_alt_m: float = 10.0,
    gripper_number: int = 1,
) -> list[MissionItem]:
    """Return the MISSION items for flying ``route`` and delivering at its goal (see module docstring).

    Parameters
    ----------
    route: a found route; its ``altitude_m`` is the cruise altitude (m above home).
    delivery: land at the destination, or payload place / gripper release and return.
    home_alt_amsl_m: home altitude above mean sea level (m), for seq 0.
    finish: for round trips, land at the start or RTL once above it.
    gripper_drop_alt_m: height above the destination (m) at which the gripper opens.
    gripper_number: DO_GRIPPER param1 (1-based gripper instance).

    Raises
    ------
    InvalidParameterError: the route was not found, or the drop height is not below cruise.
    """
    if not route.found or len(route.waypoints) < 2:
        raise InvalidParameterError("route", route.reason, expected="a found route")
    if delivery is DeliveryMode.GRIPPER_RELEASE and not (0 < gripper_drop_alt_m < route.altitude_m):
        raise InvalidParameterError(
            "gripper_drop_alt_m",
            gripper_drop_alt_m,
            expected=f"between 0 and the cruise altitude {route.altitude_m} m",
        )
    alt_m = route.altitude_m
    start, goal = route.waypoints[0], route.waypoints[-1]
    items: list[tuple[int, int, LatLon | None, float, tuple[float, float, float, float]]] = []

    def add(command: MavCmd, frame: MavFrame, at: LatLon | None, z: float, params=(0.0, 0.0, 0.0, 0.0)):
        items.append((int(command), int(frame), at, float(z), tuple(float(p) for p in params)))

    rel = MavFrame.GLOBAL_RELATIVE_ALT
    add(MavCmd.NAV_WAYPOINT, MavFrame.GLOBAL, start, home_alt_amsl_m)
    add(MavCmd.NAV_TAKEOFF, rel, start, alt_m)
    for wp in route.waypoints[1:]:
        add(MavCmd.NAV_WAYPOINT, rel, wp, alt_m)
    if delivery is DeliveryMode.LAND:
        add(MavCmd.NAV_LAND, rel, goal, 0.0)
    else:
        if delivery is DeliveryMode.PAYLOAD_PLACE:
            # param1: maximum descent (m) before giving up; the whole cruise height.
            add(MavCmd.NAV_PAYLOAD_PLACE, rel, goal, alt_m, (alt_m, 0, 0, 0))
        else:
            add(MavCmd.NAV_WAYPOINT, rel, goal, gripper_drop_alt_m)
            # param2 0 = release (1 = grab).
            add(MavCmd.DO_GRIPPER, rel, None, 0.0, (gripper_number, 0, 0, 0))
            add(MavCmd.NAV_WAYPOINT, rel, goal, alt_m)
        for wp in list(reversed(route.waypoints))[1:]:
            add(MavCmd.NAV_WAYPOINT, rel, wp, alt_m)
        if finish is FinishAction.RTL:
            add(MavCmd.NAV_RETURN_TO_LAUNCH, rel, None, 0.0)
        else:
            add(MavCmd.NAV_LAND, rel, start, 0.0)
    return [
        MissionItem(
            seq=seq,
            command=command,
            frame=frame,
            param1=p[0],
            param2=p[1],
            param3=p[2],
            param4=p[3],
            x=degrees_to_e7(at[0]) if at else 0,
            y=degrees_to_e7(at[1]) if at else 0,
            z=z,
            current=1 if seq == 0 else 0,
            autocontinue=1,
            mission_type=MissionType.MISSION,
        )
        for seq, (command, frame, at, z, p) in enumerate(items)
    ]


def build_fence_items(geofence: Geofence, *, altitude_m: float | None = None) -> list[MissionItem]:
    """Return FENCE items for ArduPilot: polygon vertices (5001/5002, param1 = vertex count) and
    circles (5003/5004, param1 = radius m), frame GLOBAL.

    Holes of inclusion polygons become exclusion polygons (ArduPilot has no holes). ArduPilot's
    fence has no per-zone floor/ceiling: with ``altitude_m`` only the exclusion zones applying at
    that cruise altitude are included (a zone the drone legally overflies must not trigger a
    breach); without it every zone is included. Use :func:`recommended_fence_params` for the
    altitude ceiling.
    """
    # Polygons first, then circles: the order a QGC .plan stores them, so files round-trip exactly.
    out: list[tuple[int, float, LatLon]] = []
    circles: list[tuple[int, float, LatLon]] = []
    for zone in geofence.zones:
        if (
            zone.kind is ZoneKind.EXCLUSION
            and altitude_m is not None
            and not zone.applies_between(altitude_m, altitude_m)
        ):
            continue
        inclusion = zone.kind is ZoneKind.INCLUSION
        if zone.circle is not None:
            cmd = MavCmd.NAV_FENCE_CIRCLE_INCLUSION if inclusion else MavCmd.NAV_FENCE_CIRCLE_EXCLUSION
            circles.append(
                (cmd, zone.circle.radius_m, (zone.circle.center_lat_deg, zone.circle.center_lon_deg))
            )
            continue
        for poly in zone.polygons:
            rings = [(poly[0], inclusion)] + ([(h, False) for h in poly[1:]] if inclusion else [])
            for ring, incl in rings:
                vertices = ring[:-1]  # GeoJSON rings repeat the first vertex; ArduPilot's do not
                cmd = (
                    MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION
                    if incl
                    else MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION
                )
                out.extend((cmd, float(len(vertices)), v) for v in vertices)
    out += circles
    return [
        MissionItem(
            seq=seq,
            command=int(cmd),
            frame=int(MavFrame.GLOBAL),
            param1=p1,
            x=degrees_to_e7(at[0]),
            y=degrees_to_e7(at[1]),
            z=0.0,
            mission_type=MissionType.FENCE,
        )
        for seq, (cmd, p1, at) in enumerate(out)
    ]


def recommended_fence_params(geofence: Geofence) -> dict[str, float]:
    """Return ArduPilot fence parameters matching the fence: enabled, max altitude + polygons/circles
    (FENCE_TYPE bits 1 | 4), FENCE_ALT_MAX = the fence's altitude ceiling (m), RTL on breach."""
    return {
        "FENCE_ENABLE": 1.0,
        "FENCE_TYPE": 1.0 + 4.0,
        "FENCE_ALT_MAX": geofence.max_alt_m,
        "FENCE_ACTION": 1.0,
    }


@dataclass(frozen=True, kw_only=True)
class RallyPoint:
    """A rally (safe landing) point: position (degrees) and altitude above home (m)."""

    lat_deg: float
    lon_deg: float
    alt_m: float = 0.0


def build_rally_items(
    points: Sequence[RallyPoint | tuple[float, float] | tuple[float, float, float]],
) -> list[MissionItem]:
    """Return RALLY items (NAV_RALLY_POINT, frame GLOBAL_RELATIVE_ALT) for the given points (e.g. pads).

    Tuples are ``(lat_deg, lon_deg)`` or ``(lat_deg, lon_deg, alt_m)``.
    """
    rally = [
        p
        if isinstance(p, RallyPoint)
        else RallyPoint(lat_deg=p[0], lon_deg=p[1], alt_m=(p[2] if len(p) > 2 else 0.0))
        for p in points
    ]
    return [
        MissionItem(
            seq=seq,
            command=int(MavCmd.NAV_RALLY_POINT),
            frame=int(MavFrame.GLOBAL_RELATIVE_ALT),
            x=degrees_to_e7(p.lat_deg),
            y=degrees_to_e7(p.lon_deg),
            z=float(p.alt_m),
            mission_type=MissionType.RALLY,
        )
        for seq, p in enumerate(rally)
    ]


# ---------------------------------------------------------------------- fence check
@dataclass(frozen=True, kw_only=True)
class FenceViolation:
    """Where a mission breaks the fence: the item ``seq`` whose leg (or point) is at fault."""

    seq: int
    kind: str  # "outside_inclusion" | "in_exclusion" | "above_ceiling"
    zone: str | None
    message: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.message}"


@dataclass(frozen=True, kw_only=True)
class FenceCheck:
    """Result of :func:`mission_within_fence`: ``ok`` and the violations (empty when ok)."""

    ok: bool
    violations: tuple[FenceViolation, ...]

    def __bool__(self) -> bool:
        return self.ok


_POSITIONAL = {
    MavCmd.NAV_WAYPOINT,
    MavCmd.NAV_LOITER_UNLIM,
    MavCmd.NAV_LOITER_TURNS,
    MavCmd.NAV_LOITER_TIME,
    MavCmd.NAV_SPLINE_WAYPOINT,
    MavCmd.NAV_PAYLOAD_PLACE,
}


def _flight_path(items: Sequence[MissionItem]) -> list[tuple[int, LatLon, float]]:
    """Return the 3-D path (seq, (lat, lon), alt above home m) the vehicle flies through the items."""
    mission = sorted((i for i in items if i.mission_type is MissionType.MISSION), key=lambda i: i.seq)
    if not mission:
        return []
    home = mission[0]
    home_ll = (home.lat_deg, home.lon_deg)
    home_amsl = home.z if home.frame in (MavFrame.GLOBAL, MavFrame.GLOBAL_INT) else 0.0
    path = [(home.seq, home_ll, 0.0)]

    def alt_of(item: MissionItem) -> float:
        return item.z - home_amsl if item.frame in (MavFrame.GLOBAL, MavFrame.GLOBAL_INT) else item.z

    for item in mission[1:]:
        here = path[-1][1]
        # ArduPilot: latitude and longitude 0 mean "the current position".
        at = (item.lat_deg, item.lon_deg) if (item.x or item.y) else here
        cmd = item.command
        if cmd == MavCmd.NAV_TAKEOFF:
            path.append((item.seq, here, alt_of(item)))  # ArduCopter climbs vertically
        elif cmd in _POSITIONAL:
            path.append((item.seq, at, alt_of(item)))
            if cmd == MavCmd.NAV_PAYLOAD_PLACE:
                path.append((item.seq, at, 0.0))
                path.append((item.seq, at, alt_of(item)))
        elif cmd == MavCmd.NAV_LAND:
            path.append((item.seq, at, path[-1][2]))
            path.append((item.seq, at, 0.0))
        elif cmd == MavCmd.NAV_RETURN_TO_LAUNCH:
            path.append((item.seq, home_ll, path[-1][2]))
            path.append((item.seq, home_ll, 0.0))
    return path


def mission_within_fence(
    items: Sequence[MissionItem], geofence: Geofence, *, tolerance_m: float = 0.05
) -> FenceCheck:
    """Check that every mission position and every leg between them is inside the fence.

    Legs are straight in the local metric frame (ArduCopter flies straight lines; over a few km the
    difference to a geodesic is millimetres). A leg must lie inside the inclusion zones that apply
    at its highest altitude, stay out of every exclusion zone whose floor/ceiling band overlaps the
    leg's altitude band, and stay below the fence ceiling. ``tolerance_m`` absorbs the 1e-7° (~1 cm)
    rounding of MISSION_ITEM_INT coordinates.

    Returns
    -------
    FenceCheck with ``ok`` and the violations; truthy when ok.
    """
    proj = geofence.projection
    path = _flight_path(items)
    violations: list[FenceViolation] = []
    for k, (seq, ll, alt_m) in enumerate(path):
        if alt_m > geofence.max_alt_m + 1e-9:
            violations.append(
                FenceViolation(
                    seq=seq,
                    kind="above_ceiling",
                    zone=None,
                    message=f"altitude {alt_m:g} m above {geofence.max_alt_m:g} m",
                )
            )
        if k == 0:
            prev = (seq, ll, alt_m)
            geom = Point(proj.to_xy(*ll))
            low, high = alt_m, alt_m
        else:
            prev = path[k - 1]
            a, b = proj.to_xy(*prev[1]), proj.to_xy(*ll)
            geom = Point(a) if a == b else LineString([a, b])
            low, high = min(prev[2], alt_m), max(prev[2], alt_m)
        inc = [geofence.zone_geometry_m(z) for z in geofence.inclusions if z.applies_between(high, high)]
        if not inc or not shapely.union_all(inc).buffer(tolerance_m).covers(geom):
            violations.append(
                FenceViolation(
                    seq=seq, kind="outside_inclusion", zone=None, message="leg leaves the operating area"
                )
            )
        for zone in geofence.exclusions:
            if zone.applies_between(low, high) and geofence.zone_geometry_m(zone).buffer(
                -tolerance_m
            ).intersects(geom):
                violations.append(
                    FenceViolation(
                        seq=seq,
                        kind="in_exclusion",
                        zone=zone.label,
                        message=f"leg enters no-fly zone {zone.label!r}",
                    )
                )
    return FenceCheck(ok=not violations, violations=tuple(violations))


def require_mission_within_fence(
    items: Sequence[MissionItem], geofence: Geofence, *, tolerance_m: float = 0.05
) -> None:
    """Raise :class:`MissionOutsideFenceError` unless :func:`mission_within_fence` passes."""
    check = mission_within_fence(items, geofence, tolerance_m=tolerance_m)
    if not check.ok:
        raise MissionOutsideFenceError(check.violations)
