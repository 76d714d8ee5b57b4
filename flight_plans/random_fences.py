"""Random geofences for property tests and benchmarks (deterministic for a given seed).

The fences are what a route planner must cope with, not realistic airspace: a square operating
area around Shengsi with star-shaped no-fly polygons of random size that may overlap each other and
the area's edge.
"""

from __future__ import annotations

import math
import random
from typing import Any

from flight_plans.projection import LocalProjection

SHENGSI_CENTRE_LAT_DEG = 30.72
SHENGSI_CENTRE_LON_DEG = 122.55


def random_fence_geojson(
    *,
    seed: int,
    total_vertices: int,
    half_size_m: float = 10_000.0,
    vertices_per_zone: tuple[int, int] = (3, 10),
    zone_radius_m: tuple[float, float] = (300.0, 2_000.0),
) -> dict[str, Any]:
    """Return a GeoJSON FeatureCollection: one square inclusion and exclusions with ~``total_vertices``.

    Parameters
    ----------
    seed: random seed.
    total_vertices: number of exclusion-polygon vertices to generate (the square adds 4).
    half_size_m: half the side of the square operating area, metres.
    vertices_per_zone: inclusive range of vertices per exclusion polygon.
    zone_radius_m: range of exclusion polygon outer radii, metres.
    """
    rng = random.Random(seed)
    proj = LocalProjection(lat0_deg=SHENGSI_CENTRE_LAT_DEG, lon0_deg=SHENGSI_CENTRE_LON_DEG)

    def ring(points_xy: list[tuple[float, float]]) -> list[list[float]]:
        out = []
        for x, y in points_xy:
            lat, lon = proj.to_lat_lon(x, y)
            out.append([lon, lat])
        out.append(out[0])
        return out

    h = half_size_m
    features = [
        {
            "type": "Feature",
            "properties": {"kind": "inclusion", "name": "area"},
            "geometry": {"type": "Polygon", "coordinates": [ring([(-h, -h), (h, -h), (h, h), (-h, h)])]},
        }
    ]
    remaining = total_vertices
    index = 0
    while remaining >= 3:
        m = min(rng.randint(*vertices_per_zone), remaining)
        if remaining - m in (1, 2):
            m = remaining
        remaining -= m
        cx, cy = rng.uniform(-h, h), rng.uniform(-h, h)
        r = rng.uniform(*zone_radius_m)
        # Strictly increasing angles within one turn make a simple (star-shaped) polygon.
        gaps = [rng.uniform(0.2, 1.0) for _ in range(m)]
        start = rng.uniform(0, 2 * math.pi)
        angles = [start + 2 * math.pi * sum(gaps[:k]) / sum(gaps) for k in range(m)]
        pts = []
        for a in angles:
            rr = r * rng.uniform(0.4, 1.0)
            pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
        features.append(
            {
                "type": "Feature",
                "properties": {"kind": "exclusion", "name": f"nfz-{index}"},
                "geometry": {"type": "Polygon", "coordinates": [ring(pts)]},
            }
        )
        index += 1
    return {"type": "FeatureCollection", "features": features}
