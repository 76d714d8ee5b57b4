"""Hand-built test missions near Caiyuan (until the planner's builders are used)."""

from __future__ import annotations

from flight_plans.mission_item import MissionItem, MissionType, degrees_to_e7

HOME_LAT_DEG = 30.7245
HOME_LON_DEG = 122.452


def sortie_items(n_waypoints: int = 3, *, step_deg: float = 0.0004, alt_m: float = 30.0) -> list[MissionItem]:
    """Home, NAV_TAKEOFF, ``n_waypoints`` NAV_WAYPOINTs heading north-east, NAV_LAND."""
    items = [MissionItem(seq=0, command=16, frame=0, x=degrees_to_e7(HOME_LAT_DEG),
                         y=degrees_to_e7(HOME_LON_DEG), z=10.0, current=1)]
    items.append(MissionItem(seq=1, command=22, frame=3, x=degrees_to_e7(HOME_LAT_DEG),
                             y=degrees_to_e7(HOME_LON_DEG), z=alt_m))
    for i in range(n_waypoints):
        items.append(MissionItem(seq=len(items), command=16, frame=3, param2=2.0,
                                 x=degrees_to_e7(HOME_LAT_DEG + step_deg * (i + 1)),
                                 y=degrees_to_e7(HOME_LON_DEG + step_deg * (i + 1) / 2), z=alt_m + 0.1 * i))
    last = items[-1]
    items.append(MissionItem(seq=len(items), command=21, frame=3, x=last.x, y=last.y, z=0.0))
    return items


def fence_items() -> list[MissionItem]:
    """One 4-vertex inclusion polygon (5001, param1 = vertex count) around the route."""
    corners = [(30.7235, 122.4505), (30.7235, 122.4560), (30.7300, 122.4560), (30.7300, 122.4505)]
    return [MissionItem(seq=i, command=5001, frame=0, param1=4.0, x=degrees_to_e7(lat), y=degrees_to_e7(lon),
                        mission_type=MissionType.FENCE) for i, (lat, lon) in enumerate(corners)]


def rally_items() -> list[MissionItem]:
    """Two rally points (NAV_RALLY_POINT 5100) at 25 m relative."""
    points = [(30.7250, 122.4525), (30.7280, 122.4540)]
    return [MissionItem(seq=i, command=5100, frame=3, x=degrees_to_e7(lat), y=degrees_to_e7(lon), z=25.0,
                        mission_type=MissionType.RALLY) for i, (lat, lon) in enumerate(points)]
