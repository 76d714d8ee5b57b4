"""Turn a scheduled sortie (pads and legs) into the exact plan a dispatcher approves and a vehicle flies.

Mission layout for a sortie origin -> stop 1 -> … -> stop n::

    seq 0   NAV_WAYPOINT       home = origin pad (frame GLOBAL, z = pad altitude AMSL)
    seq 1   NAV_TAKEOFF        cruise altitude
    …       NAV_WAYPOINT       every bend of the planned route of leg 1, at cruise altitude
    …       NAV_PAYLOAD_PLACE  at each intermediate stop: descend until touchdown, release, climb back
    …       (legs 2…n the same way)
    last    NAV_LAND           at the final stop, where the drone stays (it is scheduled from there)

Intermediate stops use payload place rather than a landing: ArduCopter may disarm after an AUTO
landing, which would end the mission half way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flight_plans import Geofence, MissionItem, MissionType, RallyPoint, build_fence_items, build_rally_items
from flight_plans import mission_within_fence, plan_route
from flight_plans.mav_cmd import MavCmd, MavFrame
from flight_plans.mission_item import degrees_to_e7
from flight_plans.route import Route
from controller.domain.errors import DispatchError
from controller.services.plan_checks import items_to_json

LatLon = tuple[float, float]


class NoRouteForSortie(DispatchError):
    code = "no_route"
    http_status = 422


def route_legs(geofence: Geofence, pads: Mapping[str, LatLon], stops: list[str], *, margin_m: float,
               altitude_m: float) -> list[Route]:
    """The planned route of each leg; raises NoRouteForSortie naming the leg that has none."""
    routes = []
    for a, b in zip(stops, stops[1:]):
        route = plan_route(geofence, pads[a], pads[b], margin_m=margin_m, altitude_m=altitude_m)
        if not route.found:
            raise NoRouteForSortie(f"no route {a} -> {b}: {route.reason}", from_pad=a, to_pad=b)
        routes.append(route)
    return routes


def mission_for_legs(routes: list[Route], *, home_alt_amsl_m: float, altitude_m: float) -> list[MissionItem]:
    """Mission items flying ``routes`` in order (layout in the module docstring)."""
    rel = MavFrame.GLOBAL_RELATIVE_ALT
    rows: list[tuple[MavCmd, MavFrame, LatLon, float, float]] = []
    start = routes[0].waypoints[0]
    rows.append((MavCmd.NAV_WAYPOINT, MavFrame.GLOBAL, start, home_alt_amsl_m, 0.0))
    rows.append((MavCmd.NAV_TAKEOFF, rel, start, altitude_m, 0.0))
    for index, route in enumerate(routes):
        for waypoint in route.waypoints[1:-1]:
            rows.append((MavCmd.NAV_WAYPOINT, rel, waypoint, altitude_m, 0.0))
        goal = route.waypoints[-1]
        if index < len(routes) - 1:
            rows.append((MavCmd.NAV_WAYPOINT, rel, goal, altitude_m, 0.0))
            # param1: the most it may descend looking for the ground (m): the whole cruise height.
            rows.append((MavCmd.NAV_PAYLOAD_PLACE, rel, goal, altitude_m, altitude_m))
        else:
            rows.append((MavCmd.NAV_WAYPOINT, rel, goal, altitude_m, 0.0))
            rows.append((MavCmd.NAV_LAND, rel, goal, 0.0, 0.0))
    return [MissionItem(seq=seq, command=int(cmd), frame=int(frame), param1=p1, x=degrees_to_e7(at[0]),
                        y=degrees_to_e7(at[1]), z=z, current=1 if seq == 0 else 0, mission_type=MissionType.MISSION)
            for seq, (cmd, frame, at, z, p1) in enumerate(rows)]


def build_sortie_plan(*, geofence: Geofence, geofence_version: int, pads: Mapping[str, LatLon],
                      pad_alt_amsl_m: Mapping[str, float], drone_id: str, origin_pad: str, stops: list[str],
                      parcel_ids: list[str], altitude_m: float, margin_m: float, wind: dict[str, Any],
                      payload_kg: float, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full plan of one sortie: routes, mission/fence/rally items, and what the dispatcher reviews.

    Raises NoRouteForSortie, or DispatchError when the built mission would leave the fence (a bug
    guard: the planner's routes keep the margin, so this should never fire).
    """
    path = [origin_pad, *stops]
    routes = route_legs(geofence, pads, path, margin_m=margin_m, altitude_m=altitude_m)
    mission = mission_for_legs(routes, home_alt_amsl_m=pad_alt_amsl_m[origin_pad], altitude_m=altitude_m)
    check = mission_within_fence(mission, geofence)
    if not check.ok:
        raise DispatchError("planned mission leaves the fence: " + "; ".join(map(str, check.violations)))
    route: list[list[float]] = [list(routes[0].waypoints[0])]
    for leg in routes:
        route.extend(list(p) for p in leg.waypoints[1:])
    rally = [RallyPoint(lat_deg=lat, lon_deg=lon, alt_m=0.0) for lat, lon in pads.values()]
    return {
        "drone_id": drone_id, "origin_pad": origin_pad, "stops": list(stops), "parcel_ids": sorted(parcel_ids),
        "route": route, "length_m": sum(r.length_m or 0.0 for r in routes),
        "legs": [{"from": a, "to": b, "length_m": r.length_m} for a, b, r in zip(path, path[1:], routes)],
        "mission_items": items_to_json(mission),
        "fence_items": items_to_json(build_fence_items(geofence)),
        "rally_items": items_to_json(build_rally_items(rally)),
        "wind": wind, "altitude_m": altitude_m, "margin_m": margin_m, "geofence_version": geofence_version,
        "payload_kg": round(payload_kg, 3),
        **(extra or {}),
    }
