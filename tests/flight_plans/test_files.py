import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight_plans import (
    Geofence,
    MissionItem,
    PlanFileError,
    build_fence_items,
    build_mission_items,
    build_rally_items,
    plan_route,
)
from flight_plans.qgc_plan import PlanContents, from_qgc_plan, to_qgc_plan
from flight_plans.wpl import from_wpl, to_wpl

from .helpers import area, fence, lat_lon, polygon_feature, square

finite = st.floats(-1e4, 1e4, allow_nan=False)
items_strategy = st.lists(
    st.builds(
        lambda cmd, frame, p, lat, lon, z, ac: (cmd, frame, p, lat, lon, z, ac),
        st.sampled_from([16, 21, 22, 94, 211]),
        st.sampled_from([0, 3]),
        st.tuples(finite, finite, finite, finite),
        st.integers(-900_000_000, 900_000_000),
        st.integers(-1_800_000_000, 1_800_000_000),
        finite,
        st.integers(0, 1),
    ),
    min_size=2,
    max_size=12,
)


def _items(raw):
    out = []
    for seq, (cmd, frame, p, x, y, z, ac) in enumerate(raw):
        out.append(
            MissionItem(
                seq=seq,
                command=cmd,
                frame=0 if seq == 0 else frame,
                param1=p[0],
                param2=p[1],
                param3=p[2],
                param4=p[3],
                x=x,
                y=y,
                z=z,
                current=1 if seq == 0 else 0,
                autocontinue=ac,
            )
        )
    return out


@settings(max_examples=60, deadline=None)
@given(items_strategy)
def test_wpl_round_trips_exactly(raw):
    items = _items(raw)
    assert from_wpl(to_wpl(items)) == items


@settings(max_examples=60, deadline=None)
@given(items_strategy)
def test_plan_round_trips_mission_items(raw):
    items = [
        i if i.seq else MissionItem(seq=0, command=16, frame=0, x=i.x, y=i.y, z=i.z, current=1)
        for i in _items(raw)
    ]
    contents = PlanContents(mission_items=items)
    assert from_qgc_plan(json.loads(json.dumps(to_qgc_plan(contents)))).mission_items == items


def test_plan_follows_qgc_format_and_round_trips_fence_and_rally():
    circle_lat, circle_lon = lat_lon(3000, 3000)
    g = Geofence.from_geojson(
        fence(
            area(),
            polygon_feature("exclusion", square(0, 0, 500), name="nfz"),
            {
                "type": "Feature",
                "properties": {"kind": "exclusion", "radius_m": 150.5},
                "geometry": {"type": "Point", "coordinates": [circle_lon, circle_lat]},
            },
        )
    )
    route = plan_route(g, lat_lon(-2000, 0), lat_lon(2000, 0), margin_m=20, altitude_m=60)
    contents = PlanContents(
        mission_items=build_mission_items(route, home_alt_amsl_m=12.0),
        fence_items=build_fence_items(g),
        rally_items=build_rally_items([route.waypoints[0] + (0.0,)]),
    )
    obj = json.loads(json.dumps(to_qgc_plan(contents)))
    assert obj["fileType"] == "Plan" and obj["version"] == 1
    mission = obj["mission"]
    assert mission["version"] == 2 and mission["firmwareType"] == 3 and mission["vehicleType"] == 2
    assert mission["plannedHomePosition"][2] == 12.0
    for n, item in enumerate(mission["items"], start=1):
        assert item["type"] == "SimpleItem" and item["doJumpId"] == n and len(item["params"]) == 7
        assert isinstance(item["autoContinue"], bool)
    fence_obj = obj["geoFence"]
    assert fence_obj["version"] == 2
    assert [p["inclusion"] for p in fence_obj["polygons"]] == [True, False]
    assert all(len(p["polygon"]) == 4 and p["version"] == 1 for p in fence_obj["polygons"])
    assert (
        fence_obj["circles"][0]["circle"]["radius"] == 150.5 and fence_obj["circles"][0]["inclusion"] is False
    )
    assert obj["rallyPoints"]["version"] == 2 and len(obj["rallyPoints"]["points"][0]) == 3
    back = from_qgc_plan(obj)
    assert back.mission_items == contents.mission_items
    assert back.fence_items == contents.fence_items
    assert back.rally_items == contents.rally_items


def test_bad_files_are_rejected_with_where():
    with pytest.raises(PlanFileError, match="line 1"):
        from_wpl("QGC WPL 100\n")
    with pytest.raises(PlanFileError, match="line 2"):
        from_wpl("QGC WPL 110\n0\t1\t0\t16\n")
    with pytest.raises(PlanFileError, match="fileType"):
        from_qgc_plan({"fileType": "Mission", "version": 1})
    # Mission Planner writes CRLF line ends.
    assert from_wpl("QGC WPL 110\r\n0 1 0 16 0 0 0 0 30.7 122.4 5 1\r\n")[0].x == 307_000_000
