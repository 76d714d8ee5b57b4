"""Build test fences in local metres around a fixed centre and convert them to GeoJSON."""

from __future__ import annotations

from flight_plans.projection import LocalProjection

CENTRE = LocalProjection(lat0_deg=30.72, lon0_deg=122.55)


def lat_lon(x_m: float, y_m: float) -> tuple[float, float]:
    """Local metres around CENTRE -> (lat_deg, lon_deg)."""
    return CENTRE.to_lat_lon(x_m, y_m)


def polygon_feature(kind: str, pts_xy, *, name: str | None = None, **props) -> dict:
    ring = []
    for x, y in pts_xy:
        lat, lon = lat_lon(x, y)
        ring.append([lon, lat])
    ring.append(ring[0])
    properties = {"kind": kind, **props}
    if name:
        properties["name"] = name
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def square(cx: float, cy: float, half: float) -> list[tuple[float, float]]:
    return [(cx - half, cy - half), (cx + half, cy - half), (cx + half, cy + half), (cx - half, cy + half)]


def fence(*features: dict) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def area(half_m: float = 5000.0) -> dict:
    return polygon_feature("inclusion", square(0, 0, half_m), name="area")
