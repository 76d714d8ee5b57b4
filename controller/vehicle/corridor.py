"""Corridor conformance: how far the vehicle is from its planned route, in metres."""

from __future__ import annotations

import math
from collections.abc import Sequence

_EARTH_RADIUS_M = 6_371_008.8


def _local_xy_m(lat_deg: float, lon_deg: float, lat0_deg: float, lon0_deg: float) -> tuple[float, float]:
    # Equirectangular projection about the route start: error well under 0.1 % over the 40 km
    # inter-island legs here, which is far below any sensible corridor width.
    x = math.radians(lon_deg - lon0_deg) * _EARTH_RADIUS_M * math.cos(math.radians(lat0_deg))
    y = math.radians(lat_deg - lat0_deg) * _EARTH_RADIUS_M
    return x, y


def distance_to_route_m(lat_deg: float, lon_deg: float, route: Sequence[tuple[float, float]]) -> float:
    """Shortest distance in metres from a point to the polyline ``route`` of (lat_deg, lon_deg).

    >>> round(distance_to_route_m(30.0, 122.0005, [(30.0, 122.0), (30.01, 122.0)]), 1)
    48.1
    """
    if not route:
        raise ValueError("route needs at least one point")
    lat0, lon0 = route[0]
    px, py = _local_xy_m(lat_deg, lon_deg, lat0, lon0)
    points = [_local_xy_m(lat, lon, lat0, lon0) for lat, lon in route]
    if len(points) == 1:
        return math.hypot(px - points[0][0], py - points[0][1])
    best = math.inf
    for (ax, ay), (bx, by) in zip(points, points[1:]):
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
        best = min(best, math.hypot(px - (ax + t * dx), py - (ay + t * dy)))
    return best
