"""Geofence safety: 10 000 random plans never enter a no-fly zone; a tampered plan is never uploaded.

Random start/goal pairs inside the Shengsi operating area, at three cruise altitudes, go through the
planner (``plan_route`` -> ``build_mission_items``). Every found route must pass the controller's own
gate (``mission_within_fence``) *and* an independent check written here with shapely: no leg of the
route touches the interior of an exclusion zone or leaves the operating area. One ``Geofence`` object
is reused, so its visibility graph is built once per altitude.

Then a stored, approved sortie plan is tampered with (a waypoint moved into the Lühua anchorage, or a
leg bent through it) and the last gate before the vehicle, ``check_upload_allowed``, must refuse it.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from shapely.geometry import LineString, Point
from shapely.prepared import prep

from controller.db.engine import transaction
from controller.db.models import Sortie
from controller.db.types import utc_now
from controller.domain.plan_hash import plan_hash
from controller import scenarios
from controller.services import sorties
from controller.services.plan_checks import fence_check_for, geofence_for, items_to_json
from flight_plans import Geofence, build_mission_items, mission_within_fence, plan_route
from flight_plans.mission_item import degrees_to_e7

N_PLANS = 10_000
ALTITUDES_M = (40.0, 60.0, 100.0)
SEED = 20261201
LUHUA_ANCHORAGE = (30.79, 122.56)  # inside the exclusion polygon 绿华山国际锚地


@pytest.fixture(scope="module")
def geofence() -> Geofence:
    path = Path(scenarios.__file__).parent / "shengsi" / "geofence.geojson"
    return Geofence.from_geojson(json.loads(path.read_text("utf-8")))


def test_random_plans_never_enter_an_exclusion_zone(geofence: Geofence, report) -> None:  # type: ignore[no-untyped-def]
    area = geofence.zone_geometry_m(geofence.inclusions[0])
    inside_area = prep(area)
    # Independent oracle: the zones as drawn (no planning margin), in the same metric frame.
    no_fly = [(z.label, prep(geofence.zone_geometry_m(z))) for z in geofence.exclusions]
    assert len(no_fly) == 5
    min_x, min_y, max_x, max_y = area.bounds
    rng = random.Random(SEED)

    def random_point() -> tuple[float, float]:
        while True:
            x, y = rng.uniform(min_x, max_x), rng.uniform(min_y, max_y)
            if inside_area.contains(Point(x, y)):
                return geofence.projection.to_lat_lon(x, y)

    counts: Counter[str] = Counter()
    violations: list[str] = []
    for i in range(N_PLANS):
        start, goal = random_point(), random_point()
        altitude_m = ALTITUDES_M[i % len(ALTITUDES_M)]
        route = plan_route(geofence, start, goal, altitude_m=altitude_m)
        if not route.found:
            counts["no route"] += 1
            counts[f"  {route.reason_code.value}"] += 1
            continue
        counts["found"] += 1
        items = build_mission_items(route)
        check = mission_within_fence(items, geofence)
        if not check.ok:
            violations.append(f"plan {i}: mission_within_fence: {check.violations[:2]}")
        path = LineString([geofence.projection.to_xy(*p) for p in route.waypoints])
        entered = [label for label, zone in no_fly if zone.intersects(path) and not zone.touches(path)]
        if entered:
            violations.append(f"plan {i}: route {start} -> {goal} enters {entered}")
        if not inside_area.covers(path):
            violations.append(f"plan {i}: route {start} -> {goal} leaves the operating area")
    reasons = ", ".join(f"{k.strip()}={v}" for k, v in sorted(counts.items()) if k.startswith("  "))
    report(f"geofence: {N_PLANS} random plans: found={counts['found']} no-route={counts['no route']} "
           f"({reasons}) violations={len(violations)}")
    assert violations == []
    # Endpoints drawn inside the area land in a no-fly zone now and then; most pairs must be flyable.
    assert counts["found"] > 0.8 * N_PLANS
    assert counts["found"] + counts["no route"] == N_PLANS


def test_oracle_sees_a_route_through_a_zone(geofence: Geofence) -> None:
    """The independent check is not vacuous: a straight line across the Lühua anchorage is caught."""
    a, b = (30.79, 122.50), (30.79, 122.62)
    path = LineString([geofence.projection.to_xy(*a), geofence.projection.to_xy(*b)])
    hits = [z.label for z in geofence.exclusions if geofence.zone_geometry_m(z).intersects(path)]
    assert any("Lühua" in label for label in hits)


def _approved_sortie(factory):  # type: ignore[no-untyped-def]
    """A sortie Caiyuan -> Huanglong planned by the planner on the stored geofence, then approved."""
    with transaction(factory) as session:
        geofence, version = geofence_for(session)
        route = plan_route(geofence, (30.7245, 122.452), (30.7500, 122.6300), altitude_m=60.0)
        assert route.found, route.reason
        items = build_mission_items(route)
        plan = {"drone_id": "d01", "origin_pad": "caiyuan", "stops": ["huanglong"],
                "route": [list(p) for p in route.waypoints], "mission_items": items_to_json(items),
                "fence_items": [], "rally_items": [], "altitude_m": 60.0, "geofence_version": version}
        now = utc_now()
        sorties.create_planned(session, sortie_id="S-TAMPER", drone_id="d01", origin_pad="caiyuan",
                               stops=["huanglong"], plan=plan, drops={}, payload_kg=1.0, energy_wh=100.0,
                               battery_wh=800.0, altitude_m=60.0, depart_at=now,
                               arrive_at=now + timedelta(minutes=20), geofence_version=version, actor="test")
        sorties.approve(session, sortie_id="S-TAMPER", seen_plan_hash=plan_hash(plan), actor="dispatcher",
                        ttl_s=600, fence_check=fence_check_for(session))
    return plan


def _tamper(session, *, rehash: bool, edit) -> Sortie:  # type: ignore[no-untyped-def]
    sortie = sorties.get_sortie(session, "S-TAMPER")
    plan = copy.deepcopy(sortie.plan)
    edit(plan["mission_items"])
    sortie.plan = plan
    if rehash:  # as if the hash binding were bypassed too: only the fence check is left to catch it
        sortie.plan_hash = sortie.approved_plan_hash = plan_hash(plan)
    return sortie


def _move_waypoint_into_anchorage(rows) -> None:  # type: ignore[no-untyped-def]
    waypoint = next(r for r in rows if r["command"] == 16 and r["seq"] > 0)
    waypoint["x"], waypoint["y"] = degrees_to_e7(LUHUA_ANCHORAGE[0]), degrees_to_e7(LUHUA_ANCHORAGE[1])


def _bend_leg_through_anchorage(rows) -> None:  # type: ignore[no-untyped-def]
    # Both ends outside the zone, the straight leg between them across it.
    waypoint = next(r for r in rows if r["command"] == 16 and r["seq"] > 0)
    waypoint["x"], waypoint["y"] = degrees_to_e7(30.83), degrees_to_e7(122.50)
    following = next(r for r in rows if r["seq"] == waypoint["seq"] + 1)
    following["x"], following["y"] = degrees_to_e7(30.75), degrees_to_e7(122.62)


def test_upload_gate_refuses_a_tampered_plan(shengsi_factory, report) -> None:  # type: ignore[no-untyped-def]
    _approved_sortie(shengsi_factory)
    with shengsi_factory() as session:
        sortie = sorties.get_sortie(session, "S-TAMPER")
        sorties.check_upload_allowed(sortie, fence_check=fence_check_for(session))  # the honest plan passes
        refusals = []
        for edit in (_move_waypoint_into_anchorage, _bend_leg_through_anchorage):
            with pytest.raises(sorties.UploadNotAllowed, match="not the current plan") as stale:
                sorties.check_upload_allowed(_tamper(session, rehash=False, edit=edit),
                                             fence_check=fence_check_for(session))
            session.rollback()
            with pytest.raises(sorties.UploadNotAllowed, match="fence check") as fenced:
                sorties.check_upload_allowed(_tamper(session, rehash=True, edit=edit),
                                             fence_check=fence_check_for(session))
            assert "Lühua" in str(fenced.value) or "exclusion" in str(fenced.value), fenced.value
            session.rollback()
            refusals += [stale.value.message, fenced.value.message]
    report(f"geofence: tampered approved plan refused {len(refusals)}/4 times; e.g. {refusals[1][:160]}")
