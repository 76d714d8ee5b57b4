"""Small-distance geodesy for the simulator (flat earth around the current point).

The simulated vehicle moves in steps of at most a few metres, so a local equirectangular
approximation is exact to well below a centimetre per step; distances between far points use the
haversine formula on a sphere of radius 6 378 137 m (the radius ArduPilot's ``Location`` uses for
its own flat-earth maths), which is within about 0.3 % of the WGS84 geodesic here.
"""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_378_137.0
_M_PER_DEG_LAT = math.pi * EARTH_RADIUS_M / 180.0


def distance_m(lat1_deg: float, lon1_deg: float, lat2_deg: float, lon2_deg: float) -> float:
    """Return the great-circle distance in metres between two WGS84 points (haversine).

    >>> round(distance_m(30.0, 122.0, 30.0 + 1 / 111319.49, 122.0), 3)
    1.0
    """
    phi1, phi2 = math.radians(lat1_deg), math.radians(lat2_deg)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2_deg - lon1_deg)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def offset_ne_m(lat1_deg: float, lon1_deg: float, lat2_deg: float, lon2_deg: float) -> tuple[float, float]:
    """Return (north_m, east_m) from point 1 to point 2 in a local flat-earth frame at point 1."""
    north_m = (lat2_deg - lat1_deg) * _M_PER_DEG_LAT
    east_m = (lon2_deg - lon1_deg) * _M_PER_DEG_LAT * math.cos(math.radians(lat1_deg))
    return north_m, east_m


def move_ne(lat_deg: float, lon_deg: float, north_m: float, east_m: float) -> tuple[float, float]:
    """Return the point (lat_deg, lon_deg) reached by moving north_m / east_m from a point."""
    new_lat = lat_deg + north_m / _M_PER_DEG_LAT
    new_lon = lon_deg + east_m / (_M_PER_DEG_LAT * math.cos(math.radians(lat_deg)))
    return new_lat, new_lon


def point_in_polygon(lat_deg: float, lon_deg: float, vertices: list[tuple[float, float]]) -> bool:
    """Return True when a point is inside a polygon given as [(lat_deg, lon_deg), ...] (ray casting)."""
    inside = False
    n = len(vertices)
    for i in range(n):
        lat_i, lon_i = vertices[i]
        lat_j, lon_j = vertices[(i + 1) % n]
        if (lat_i > lat_deg) != (lat_j > lat_deg):
            lon_cross = lon_i + (lat_deg - lat_i) * (lon_j - lon_i) / (lat_j - lat_i)
            if lon_deg < lon_cross:
                inside = not inside
    return inside
