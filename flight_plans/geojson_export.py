"""GeoJSON views of a planned flight: the fence zones, the route line and its waypoints."""

from __future__ import annotations

from typing import Any

from flight_plans.flight import FlightPlan
from flight_plans.geofence import Geofence
from flight_plans.route import Route


def route_feature(route: Route) -> dict[str, Any]:
    """Return the route as a GeoJSON LineString Feature (``[lon, lat]``) with its length and altitude."""
    return {
        "type": "Feature",
        "properties": {
            "kind": "route",
            "length_m": route.length_m,
            "altitude_m": route.altitude_m,
            "margin_m": route.margin_m,
        },
        "geometry": {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in route.waypoints]},
    }


def flight_plan_geojson(plan: FlightPlan, geofence: Geofence) -> dict[str, Any]:
    """Return a FeatureCollection: the fence zones (as :meth:`Geofence.to_geojson`), then the route
    with energy, duration and feasibility in its properties. Loading it with
    :meth:`Geofence.from_geojson` is not supported (the route feature has no ``kind`` of a zone);
    use ``geofence.to_geojson()`` for a reusable fence file."""
    route = route_feature(plan.route)
    route["properties"].update(
        energy_wh=plan.energy_wh,
        duration_s=plan.duration_s,
        feasible=plan.feasible,
        reason=plan.reason,
        drone_model=plan.drone_model.id,
        payload_kg=plan.payload_kg,
    )
    features = geofence.to_geojson()["features"] + [route]
    return {"type": "FeatureCollection", "features": features}
