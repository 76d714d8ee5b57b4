import dataclasses

from flight_plans import (
    DeliveryMode,
    Geofence,
    MissionType,
    build_fence_items,
    build_mission_items,
    build_rally_items,
    mission_within_fence,
    plan_route,
)
from flight_plans.mav_cmd import MavCmd

from .helpers import area, fence, lat_lon, polygon_feature, square


def _setup():
    lat, lon = lat_lon(0, 2500)
    circle = {
        "type": "Feature",
        "properties": {"kind": "exclusion", "radius_m": 200, "name": "c"},
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
    }
    g = Geofence.from_geojson(
        fence(area(), polygon_feature("exclusion", square(0, 0, 500), name="nfz"), circle)
    )
    route = plan_route(g, lat_lon(-2000, 0), lat_lon(2000, 0), margin_m=20, altitude_m=60)
    return g, route


def test_land_mission_layout():
    g, route = _setup()
    items = build_mission_items(route, home_alt_amsl_m=18.0)
    assert [i.seq for i in items] == list(range(len(items)))
    assert items[0].command == MavCmd.NAV_WAYPOINT and items[0].frame == 0 and items[0].z == 18.0
    assert items[1].command == MavCmd.NAV_TAKEOFF and items[1].z == 60
    wps = items[2:-1]
    assert all(i.command == MavCmd.NAV_WAYPOINT and i.z == 60 for i in wps)
    assert [(round(i.lat_deg, 7), round(i.lon_deg, 7)) for i in wps] == [
        (round(a, 7), round(b, 7)) for a, b in route.waypoints[1:]
    ]
    assert items[-1].command == MavCmd.NAV_LAND
    assert mission_within_fence(items, g).ok


def test_payload_place_and_gripper_return_along_the_route():
    g, route = _setup()
    place = build_mission_items(route, delivery=DeliveryMode.PAYLOAD_PLACE)
    cmds = [i.command for i in place]
    assert MavCmd.NAV_PAYLOAD_PLACE in cmds and cmds[-1] == MavCmd.NAV_LAND
    assert (place[-1].x, place[-1].y) == (place[0].x, place[0].y)
    grip = build_mission_items(route, delivery=DeliveryMode.GRIPPER_RELEASE, gripper_drop_alt_m=8)
    k = [i.command for i in grip].index(MavCmd.DO_GRIPPER)
    assert grip[k].param2 == 0 and grip[k - 1].z == 8 and grip[k + 1].z == 60
    assert mission_within_fence(place, g) and mission_within_fence(grip, g)


def test_fence_check_catches_a_waypoint_moved_into_a_zone():
    g, route = _setup()
    items = build_mission_items(route)
    lat, lon = lat_lon(0, 0)
    moved = dataclasses.replace(items[2], x=round(lat * 1e7), y=round(lon * 1e7))
    check = mission_within_fence(items[:2] + [moved] + items[3:], g)
    assert not check.ok and any(v.zone == "nfz" for v in check.violations)
    # A straight leg across the zone (both ends outside) is caught too.
    straight = [
        items[0],
        items[1],
        dataclasses.replace(items[-2], seq=2),
        dataclasses.replace(items[-1], seq=3),
    ]
    assert not mission_within_fence(straight, g).ok


def test_fence_and_rally_items():
    g, _ = _setup()
    items = build_fence_items(g)
    assert all(i.mission_type is MissionType.FENCE for i in items)
    inc = [i for i in items if i.command == MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION]
    exc = [i for i in items if i.command == MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION]
    circles = [i for i in items if i.command == MavCmd.NAV_FENCE_CIRCLE_EXCLUSION]
    assert len(inc) == 4 and {i.param1 for i in inc} == {4.0}
    assert len(exc) == 4 and len(circles) == 1 and circles[0].param1 == 200
    rally = build_rally_items([(30.7, 122.4), (30.8, 122.5, 15.0)])
    assert [r.mission_type for r in rally] == [MissionType.RALLY] * 2 and rally[1].z == 15.0
    assert rally[0].command == MavCmd.NAV_RALLY_POINT
