"""Route planning: the shortest horizontal path between two points that respects the geofence.

The route stays inside the inclusion area shrunk by ``margin_m`` and outside every exclusion zone
that applies at the cruise altitude grown by ``margin_m`` (ArduPilot OA Dijkstra semantics). It is
optimal in the local metric frame (exact up to floating point; see :mod:`flight_plans.visibility`);
its reported length is the geodesic length of the same polyline on WGS84.

The vertical legs at the pads (climb after take-off, descent before landing) pass every altitude
between 0 and the cruise altitude, so the pads themselves are also checked against exclusion zones
that apply anywhere in that band.

A route that does not exist is a :class:`Route` with ``found == False`` and a ``reason`` — not an
exception. Exceptions are for unusable input (bad coordinates, altitude outside the allowed band).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from shapely.geometry import Point

from flight_plans.errors import AltitudeError, InvalidParameterError
from flight_plans.geofence import Geofence, Zone
from flight_plans.projection import check_lat_lon, geodesic_length_m
from flight_plans.visibility import PointVisibility, VisibilityGraph

LatLon = tuple[float, float]

#: ArduPilot's OA_MARGIN_MAX defaults to 5 m; over sea with GNSS drift and gusts we keep more.
DEFAULT_MARGIN_M = 20.0
DEFAULT_ALTITUDE_M = 60.0


class NoRouteReason(enum.StrEnum):
    """Why no route exists (stable codes for programs; ``Route.reason`` has the sentence)."""

    NO_AREA_AT_ALTITUDE = "no_area_at_altitude"
    START_IN_EXCLUSION = "start_in_exclusion"
    GOAL_IN_EXCLUSION = "goal_in_exclusion"
    START_OUTSIDE_AREA = "start_outside_area"
    GOAL_OUTSIDE_AREA = "goal_outside_area"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True, kw_only=True)
class ProfilePoint:
    """A point of the altitude profile: distance along the route (m) and altitude above take-off (m)."""

    along_m: float
    alt_m: float


@dataclass(frozen=True, kw_only=True)
class Route:
    """A planned horizontal route, or the reason none exists.

    Attributes
    ----------
    found: whether a route exists.
    waypoints: ``[(lat_deg, lon_deg), ...]`` from start to goal, both included (empty if not found).
    length_m: geodesic length on WGS84 in metres (``None`` if not found).
    planar_length_m: length in the local metric frame, the quantity minimised (``None`` if not found).
    reason: why no route exists (``None`` if found); ``reason_code`` is the stable code.
    start, goal: the query points (lat_deg, lon_deg); margin_m, altitude_m: the query parameters.
    """

    found: bool
    start: LatLon
    goal: LatLon
    margin_m: float
    altitude_m: float
    waypoints: list[LatLon] = field(default_factory=list)
    length_m: float | None = None
    planar_length_m: float | None = None
    reason: str | None = None
    reason_code: NoRouteReason | None = None

    def altitude_profile(self) -> tuple[ProfilePoint, ...]:
        """Return the altitude profile: vertical climb at the start, cruise, vertical descent at the goal."""
        if not self.found or self.length_m is None:
            return ()
        return (
            ProfilePoint(along_m=0.0, alt_m=0.0),
            ProfilePoint(along_m=0.0, alt_m=self.altitude_m),
            ProfilePoint(along_m=self.length_m, alt_m=self.altitude_m),
            ProfilePoint(along_m=self.length_m, alt_m=0.0),
        )

    def leg_lengths_m(self) -> list[float]:
        """Return the geodesic length (m) of each leg between consecutive waypoints."""
        return [geodesic_length_m(self.waypoints[i : i + 2]) for i in range(len(self.waypoints) - 1)]


def check_altitude(geofence: Geofence, altitude_m: float) -> None:
    """Raise :class:`AltitudeError` unless ``altitude_m`` is within the fence's cruise band."""
    if not (geofence.min_cruise_alt_m <= altitude_m <= geofence.max_alt_m):
        raise AltitudeError(
            altitude_m,
            min_alt_m=geofence.min_cruise_alt_m,
            max_alt_m=geofence.max_alt_m,
            why="cruise must stay below the CAAC 120 m ceiling (or the fence's lower max) and above the"
            " minimum cruise altitude",
        )


def check_margin(margin_m: float) -> None:
    """Raise :class:`InvalidParameterError` unless ``margin_m`` is a finite number >= 0."""
    if not (isinstance(margin_m, (int, float)) and math.isfinite(margin_m) and margin_m >= 0):
        raise InvalidParameterError("margin_m", margin_m, expected="a finite distance >= 0 in metres")


def visibility_graph(geofence: Geofence, *, margin_m: float, altitude_m: float) -> VisibilityGraph:
    """Return the (cached) static visibility graph for this fence, margin and altitude.

    The cache lives on the geofence and is keyed by the margin and the set of zones applying at the
    altitude, so altitudes with the same applicable zones share one graph.
    """
    key = ("graph", margin_m, geofence.applicable_zone_indexes(altitude_m))
    graph = geofence._cache.get(key)
    if graph is None:
        graph = VisibilityGraph.build(geofence.free_space_m(margin_m=margin_m, altitude_m=altitude_m))
        geofence._cache[key] = graph
    return graph


def plan_route(
    geofence: Geofence,
    start: LatLon,
    goal: LatLon,
    margin_m: float = DEFAULT_MARGIN_M,
    altitude_m: float = DEFAULT_ALTITUDE_M,
) -> Route:
    """Plan the shortest route from ``start`` to ``goal`` at cruise altitude ``altitude_m``.

    Parameters
    ----------
    geofence: the operating area and no-fly zones.
    start, goal: (lat_deg, lon_deg) in WGS84.
    margin_m: clearance in metres from the inclusion edge and from every exclusion zone.
    altitude_m: cruise altitude in metres above take-off; selects the applicable zones.

    Returns
    -------
    Route
        ``found`` True with waypoints (start and goal included) and geodesic ``length_m``; or
        ``found`` False with ``reason``/``reason_code``.

    Raises
    ------
    CoordinateError: a point is not a valid latitude/longitude.
    AltitudeError: ``altitude_m`` outside ``[geofence.min_cruise_alt_m, geofence.max_alt_m]``.
    InvalidParameterError: negative or non-finite ``margin_m``.
    """
    return _RoutePlanner(geofence, margin_m=margin_m, altitude_m=altitude_m).route(start, goal)


def plan_routes_between(
    geofence: Geofence,
    points: Mapping[str, LatLon],
    *,
    margin_m: float = DEFAULT_MARGIN_M,
    altitude_m: float = DEFAULT_ALTITUDE_M,
) -> dict[tuple[str, str], Route]:
    """Plan routes between every ordered pair of distinct named points (e.g. all pads).

    Each point's visibility is computed once and reused for all its pairs, so n points cost n
    visibility queries plus n² cheap matrix look-ups. Parameters and errors as :func:`plan_route`.
    """
    planner = _RoutePlanner(geofence, margin_m=margin_m, altitude_m=altitude_m)
    return {(a, b): planner.route(points[a], points[b]) for a in points for b in points if a != b}


class _RoutePlanner:
    """Answers many queries for one fence, margin and altitude; memoises point visibility."""

    def __init__(self, geofence: Geofence, *, margin_m: float, altitude_m: float):
        check_margin(margin_m)
        check_altitude(geofence, altitude_m)
        self.geofence = geofence
        self.margin_m = float(margin_m)
        self.altitude_m = float(altitude_m)
        self.graph = visibility_graph(geofence, margin_m=self.margin_m, altitude_m=self.altitude_m)
        self._vis: dict[LatLon, PointVisibility] = {}
        # Zones the climb/descent at a pad crosses although the cruise does not (e.g. a low ceiling).
        self._below_cruise_only = [
            z
            for z in geofence.exclusions
            if z.applies_between(0.0, self.altitude_m)
            and not z.applies_between(self.altitude_m, self.altitude_m)
        ]

    def _visibility(self, p: LatLon) -> PointVisibility:
        hit = self._vis.get(p)
        if hit is None:
            hit = self.graph.visibility(self.geofence.projection.to_xy(*p))
            self._vis[p] = hit
        return hit

    def route(self, start: LatLon, goal: LatLon) -> Route:
        check_lat_lon("start", *start)
        check_lat_lon("goal", *goal)
        start = (float(start[0]), float(start[1]))
        goal = (float(goal[0]), float(goal[1]))
        common = {"start": start, "goal": goal, "margin_m": self.margin_m, "altitude_m": self.altitude_m}
        sv, gv = self._visibility(start), self._visibility(goal)
        problem = self._endpoint_problem(start, sv, "start") or self._endpoint_problem(goal, gv, "goal")
        if problem is not None:
            code, reason = problem
            return Route(found=False, reason=reason, reason_code=code, **common)
        found = self.graph.shortest_path(sv, gv)
        if found is None:
            return Route(
                found=False,
                reason_code=NoRouteReason.UNREACHABLE,
                reason=(
                    f"goal unreachable from start: no path stays inside the operating area and"
                    f" {self.margin_m:g} m clear of the no-fly zones at {self.altitude_m:g} m"
                ),
                **common,
            )
        path_xy, planar_m = found
        proj = self.geofence.projection
        # Keep the caller's exact endpoints; only the bends come back through the projection.
        waypoints = [start, *(proj.to_lat_lon(x, y) for x, y in path_xy[1:-1]), goal]
        return Route(
            found=True,
            waypoints=waypoints,
            length_m=geodesic_length_m(waypoints),
            planar_length_m=planar_m,
            **common,
        )

    def _endpoint_problem(
        self, p: LatLon, vis: PointVisibility, which: str
    ) -> tuple[NoRouteReason, str] | None:
        fence = self.geofence
        in_zone = NoRouteReason.START_IN_EXCLUSION if which == "start" else NoRouteReason.GOAL_IN_EXCLUSION
        outside = NoRouteReason.START_OUTSIDE_AREA if which == "start" else NoRouteReason.GOAL_OUTSIDE_AREA
        if not any(z.applies_between(self.altitude_m, self.altitude_m) for z in fence.inclusions):
            return NoRouteReason.NO_AREA_AT_ALTITUDE, f"no inclusion zone applies at {self.altitude_m:g} m"
        # In the free space exactly when some free-space polygon covers it (computed with visibility).
        if vis.components and not any(
            fence.zone_geometry_m(z, grow_m=self.margin_m).covers(Point(vis.xy))
            for z in self._below_cruise_only
        ):
            return None
        # Diagnose. The vertical leg at a pad passes every altitude from 0 to cruise.
        raw = fence.zones_at_point(*p, low_alt_m=0.0, high_alt_m=self.altitude_m)
        if raw:
            return in_zone, f"{which} is inside no-fly zone {_names(raw)}"
        near = fence.zones_at_point(*p, low_alt_m=0.0, high_alt_m=self.altitude_m, grow_m=self.margin_m)
        if near:
            return in_zone, f"{which} is within the {self.margin_m:g} m margin of no-fly zone {_names(near)}"
        if not any(
            fence.zone_geometry_m(z).covers(_point(fence, p))
            for z in fence.inclusions
            if z.applies_between(self.altitude_m, self.altitude_m)
        ):
            return outside, f"{which} is outside the operating area (inclusion zones)"
        return outside, f"{which} is within {self.margin_m:g} m of the operating area's edge"


def _names(zones: tuple[Zone, ...]) -> str:
    return ", ".join(repr(z.label) for z in zones)


def _point(fence: Geofence, p: LatLon) -> Point:
    return Point(fence.projection.to_xy(*p))
