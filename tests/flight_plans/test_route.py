import math
import random

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString

from flight_plans import AltitudeError, CoordinateError, Geofence, NoRouteReason, plan_route
from flight_plans.random_fences import random_fence_geojson
from flight_plans.route import visibility_graph

from .helpers import area, fence, lat_lon, polygon_feature, square
from .reference import reference_length_m


def test_detour_around_a_square_matches_hand_geometry():
    # Square no-fly zone of half-size 500 m centred between start and goal; margin 0.
    g = Geofence.from_geojson(fence(area(), polygon_feature("exclusion", square(0, 0, 500), name="nfz")))
    route = plan_route(g, lat_lon(-2000, 0), lat_lon(2000, 0), margin_m=0, altitude_m=60)
    assert route.found
    # Around two corners: 2 * hypot(1500, 500) + 1000.
    assert route.planar_length_m == pytest.approx(2 * math.hypot(1500, 500) + 1000, rel=1e-9)
    assert route.waypoints[0] == lat_lon(-2000, 0) and route.waypoints[-1] == lat_lon(2000, 0)
    assert len(route.waypoints) == 4
    # The reported length is geodesic and agrees with the local frame to ~1e-5.
    assert route.length_m == pytest.approx(route.planar_length_m, rel=2e-5)


def test_margin_grows_the_zone_like_a_mitre_offset():
    g = Geofence.from_geojson(fence(area(), polygon_feature("exclusion", square(0, 0, 500), name="nfz")))
    route = plan_route(g, lat_lon(-2000, 0), lat_lon(2000, 0), margin_m=50, altitude_m=60)
    assert route.planar_length_m == pytest.approx(2 * math.hypot(1450, 550) + 1100, rel=1e-9)


def test_straight_line_when_nothing_is_in_the_way():
    g = Geofence.from_geojson(fence(area()))
    route = plan_route(g, lat_lon(-1000, -1000), lat_lon(1000, 1200), margin_m=20, altitude_m=60)
    assert len(route.waypoints) == 2
    assert route.planar_length_m == pytest.approx(math.hypot(2000, 2200), rel=1e-9)


def test_zone_above_the_cruise_altitude_does_not_block():
    nfz = polygon_feature("exclusion", square(0, 0, 500), name="high", floor_m=100.0)
    g = Geofence.from_geojson(fence(area(), nfz))
    low = plan_route(g, lat_lon(-2000, 0), lat_lon(2000, 0), margin_m=0, altitude_m=60)
    high = plan_route(g, lat_lon(-2000, 0), lat_lon(2000, 0), margin_m=0, altitude_m=110)
    assert len(low.waypoints) == 2
    assert len(high.waypoints) == 4


def test_no_route_results_carry_the_reason():
    wall = polygon_feature("exclusion", [(-100, -6000), (100, -6000), (100, 6000), (-100, 6000)], name="wall")
    port = polygon_feature("exclusion", square(-3000, 3000, 300), name="port")
    g = Geofence.from_geojson(fence(area(), wall, port))
    unreachable = plan_route(g, lat_lon(-2000, 0), lat_lon(2000, 0), margin_m=10, altitude_m=60)
    assert not unreachable.found and unreachable.reason_code is NoRouteReason.UNREACHABLE
    assert unreachable.waypoints == [] and unreachable.length_m is None
    in_zone = plan_route(g, lat_lon(-3000, 3000), lat_lon(-2000, 0), margin_m=10, altitude_m=60)
    assert in_zone.reason_code is NoRouteReason.START_IN_EXCLUSION and "port" in in_zone.reason
    near = plan_route(g, lat_lon(-2000, 0), lat_lon(-3000, 3305), margin_m=10, altitude_m=60)
    assert near.reason_code is NoRouteReason.GOAL_IN_EXCLUSION and "margin" in near.reason
    outside = plan_route(g, lat_lon(-2000, 0), lat_lon(-9000, 0), margin_m=10, altitude_m=60)
    assert outside.reason_code is NoRouteReason.GOAL_OUTSIDE_AREA


def test_low_zone_blocks_the_climb_at_a_pad_but_not_the_cruise():
    mast = polygon_feature("exclusion", square(-2000, 0, 100), name="low", ceiling_m=30.0)
    g = Geofence.from_geojson(fence(area(), mast))
    r = plan_route(g, lat_lon(-2000, 0), lat_lon(2000, 0), margin_m=10, altitude_m=60)
    assert r.reason_code is NoRouteReason.START_IN_EXCLUSION
    over = plan_route(g, lat_lon(-3000, 0), lat_lon(2000, 0), margin_m=10, altitude_m=60)
    assert over.found and len(over.waypoints) == 2


def test_bad_input_raises():
    g = Geofence.from_geojson(fence(area()))
    with pytest.raises(AltitudeError):
        plan_route(g, lat_lon(0, 0), lat_lon(100, 0), altitude_m=150)
    with pytest.raises(CoordinateError):
        plan_route(g, (122.5, 30.7), lat_lon(100, 0))


def test_graph_is_cached_per_fence_margin_and_zone_set():
    g = Geofence.from_geojson(fence(area(), polygon_feature("exclusion", square(0, 0, 500))))
    a = visibility_graph(g, margin_m=20, altitude_m=60)
    assert visibility_graph(g, margin_m=20, altitude_m=80) is a
    assert visibility_graph(g, margin_m=30, altitude_m=60) is not a


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    vertices=st.integers(3, 60),
    margin_m=st.sampled_from([0.0, 15.0, 120.0]),
    ends=st.lists(st.floats(-4900, 4900), min_size=4, max_size=4),
)
def test_route_is_the_exact_optimum(seed, vertices, margin_m, ends):
    g = Geofence.from_geojson(
        random_fence_geojson(seed=seed, total_vertices=vertices, half_size_m=5000, zone_radius_m=(200, 1500))
    )
    sx, sy, gx, gy = ends
    route = plan_route(g, lat_lon(sx, sy), lat_lon(gx, gy), margin_m=margin_m, altitude_m=60)
    free = g.free_space_m(margin_m=margin_m, altitude_m=60)
    expected = reference_length_m(
        free, g.projection.to_xy(*lat_lon(sx, sy)), g.projection.to_xy(*lat_lon(gx, gy))
    )
    if expected is None:
        assert not route.found
    else:
        assert route.found
        assert route.planar_length_m == pytest.approx(expected, rel=1e-9, abs=1e-6)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), vertices=st.integers(3, 120), margin_m=st.sampled_from([0.0, 25.0, 80.0]))
def test_routes_never_cross_a_no_fly_zone(seed, vertices, margin_m):
    """150 random queries per fence: 3000 cases. Checked against the raw zones with a round offset,
    which is independent of the planner's mitre-buffered geometry."""
    g = Geofence.from_geojson(random_fence_geojson(seed=seed, total_vertices=vertices, half_size_m=5000))
    proj = g.projection
    tol_m = 1e-3
    raw_exclusions = shapely.union_all([g.zone_geometry_m(z) for z in g.exclusions])
    forbidden = (
        raw_exclusions.buffer(max(margin_m - tol_m, 0), quad_segs=32)
        if margin_m
        else raw_exclusions.buffer(-tol_m)
    )
    allowed = shapely.union_all([g.zone_geometry_m(z) for z in g.inclusions]).buffer(
        -(margin_m - tol_m) if margin_m else tol_m
    )
    shapely.prepare(forbidden)
    shapely.prepare(allowed)
    rng = random.Random(seed)
    found = 0
    for _ in range(150):
        s = lat_lon(rng.uniform(-5200, 5200), rng.uniform(-5200, 5200))
        t = lat_lon(rng.uniform(-5200, 5200), rng.uniform(-5200, 5200))
        route = plan_route(g, s, t, margin_m=margin_m, altitude_m=60)
        if not route.found:
            assert route.reason and route.reason_code is not None
            continue
        found += 1
        xy = [proj.to_xy(*p) for p in route.waypoints]
        legs = [LineString(xy[i : i + 2]) for i in range(len(xy) - 1) if xy[i] != xy[i + 1]]
        assert not shapely.intersects(forbidden, legs).any()
        assert shapely.covers(allowed, legs).all()
        assert route.length_m >= math.dist(xy[0], xy[-1]) * (1 - 2e-5)
    assert found > 0
