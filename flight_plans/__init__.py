"""Flight planning for the delivery drones: geofence, optimal routes, energy, MAVLink items, files.

Main entry points::

    from flight_plans import Geofence, plan_route, plan_flight, Wind
    fence = Geofence.from_geojson(json.load(open("geofence.geojson")))
    route = plan_route(fence, (30.72, 122.45), (30.667, 122.55), margin_m=20, altitude_m=60)
    plan = plan_flight(fence, start, goal, drone_model="island-courier-2", payload_kg=2.0,
                       wind=Wind(speed_m_s=8, from_deg=45))
    items = plan.mission_items()
"""

from flight_plans.energy import DRONE_MODELS, DroneModel, Wind, get_drone_model
from flight_plans.errors import (
    AltitudeError,
    CoordinateError,
    FlightPlanError,
    GeofenceError,
    InvalidParameterError,
    MissionOutsideFenceError,
    PayloadError,
    PlanFileError,
    UnknownDroneModelError,
)
from flight_plans.flight import FlightPlan, LimitingFactor, plan_flight
from flight_plans.geofence import Circle, Geofence, Zone, ZoneKind
from flight_plans.mission import (
    DeliveryMode,
    FenceCheck,
    FinishAction,
    RallyPoint,
    build_fence_items,
    build_mission_items,
    build_rally_items,
    mission_within_fence,
    require_mission_within_fence,
)
from flight_plans.mission_item import MissionItem, MissionType
from flight_plans.route import NoRouteReason, Route, plan_route, plan_routes_between

__all__ = [
    "DRONE_MODELS",
    "AltitudeError",
    "Circle",
    "CoordinateError",
    "DeliveryMode",
    "DroneModel",
    "FenceCheck",
    "FinishAction",
    "FlightPlan",
    "FlightPlanError",
    "Geofence",
    "GeofenceError",
    "InvalidParameterError",
    "LimitingFactor",
    "MissionItem",
    "MissionOutsideFenceError",
    "MissionType",
    "NoRouteReason",
    "PayloadError",
    "PlanFileError",
    "RallyPoint",
    "Route",
    "UnknownDroneModelError",
    "Wind",
    "Zone",
    "ZoneKind",
    "build_fence_items",
    "build_mission_items",
    "build_rally_items",
    "get_drone_model",
    "mission_within_fence",
    "plan_flight",
    "plan_route",
    "plan_routes_between",
    "require_mission_within_fence",
]
