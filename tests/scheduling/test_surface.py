"""Ferry and bus legs: return runs, and (below) oversize freight and bus + drone journeys."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from controller.scenario import load_scenario
from controller.scheduling import Parcel, SchedulerConfig, Wind, WindForecast, plan_schedule
from controller.scheduling.from_scenario import (
    config_from_scenario,
    drone_specs_from_catalogue,
    problem_from_scenario,
)
from controller.scheduling.planner import Scheduler
from controller.scheduling.straight_line import StraightLineEstimator
from tests.scheduling.helpers import T0, estimator, parcel, problem

CST = ZoneInfo("Asia/Shanghai")


def _local(hh: int, mm: int) -> datetime:
    return datetime(2026, 12, 1, hh, mm, tzinfo=CST)


def test_upward_parcel_rides_the_return_run_after_the_turnaround():
    # ferry-1: hub 0 -> a 30 min -> b 60 min -> far 120 min -> village 150 min, runs at T0+1 h and T0+5 h.
    # Back from b on the first run: 1 h + 150 min + 20 min turnaround + (150 - 60) min = 5 h 20 min.
    heavy_up = parcel("up", origin="sp-b", dest="sp-hub", kg=9.0, litres=20)
    plan = plan_schedule(problem([heavy_up]), estimator())
    (leg,) = plan.surface_legs
    assert (leg.line_id, leg.direction, leg.origin, leg.destination) == ("ferry-1", "return", "sp-b", "sp-hub")
    assert leg.depart_at == T0 + timedelta(hours=5, minutes=20)
    assert leg.arrive_at == T0 + timedelta(hours=6, minutes=20)


def test_turnaround_is_configurable_and_none_makes_lines_one_way():
    heavy_up = parcel("up", origin="sp-b", dest="sp-hub", kg=9.0, litres=20)
    slow = plan_schedule(problem([heavy_up], config=SchedulerConfig(ferry_turnaround_s=3600.0)), estimator())
    assert slow.surface_legs[0].depart_at == T0 + timedelta(hours=6)
    one_way = plan_schedule(problem([heavy_up], config=SchedulerConfig(ferry_turnaround_s=None)), estimator())
    assert not one_way.surface_legs
    assert "no ferry or bus line runs sp-b -> sp-hub" in one_way.unassigned[0].reason


def test_return_runs_have_their_own_capacity():
    # 10 boxes per run and direction: 10 full boxes out and 10 back on the same run.
    down = [parcel(f"d{i}", dest="sp-b", kg=20.0, litres=50) for i in range(10)]
    up = [parcel(f"u{i}", origin="sp-b", dest="sp-hub", kg=20.0, litres=50) for i in range(10)]
    plan = plan_schedule(problem(down + up, horizon_h=12), estimator())
    first = T0 + timedelta(hours=1)
    outbound = [leg for leg in plan.surface_legs if leg.direction == "outbound" and leg.depart_at == first]
    back = [leg for leg in plan.surface_legs if leg.direction == "return"
            and leg.depart_at == first + timedelta(hours=4, minutes=20)]
    assert sum(leg.boxes for leg in outbound) == 10 and sum(leg.boxes for leg in back) == 10


@pytest.fixture(scope="module")
def shengsi():
    return load_scenario("shengsi")


def _grounded_plan(scenario, parcels, start):
    specs = drone_specs_from_catalogue()
    prob = problem_from_scenario(scenario, parcels, start_at=start, horizon_s=12 * 3600,
                                 wind=WindForecast.constant(Wind(speed_m_s=16.0, from_deg=0.0), start_at=start),
                                 drone_specs=specs, config=config_from_scenario(scenario))
    return plan_schedule(prob, StraightLineEstimator(pads=prob.pads))


def test_shengsi_upward_ferry_and_bus_use_return_runs(shengsi):
    start = _local(7, 0)
    parcels = [
        Parcel(parcel_id="fish", origin="shengshan-station", destination="caiyuan-dc", weight_kg=3.0,
               volume_l=20.0, ready_at=start),
        Parcel(parcel_id="tea", origin="dengta-village", destination="huaniao-station", weight_kg=1.0,
               volume_l=5.0, ready_at=start),
    ]
    plan = _grounded_plan(shengsi, parcels, start)
    legs = {leg.parcel_ids[0]: leg for leg in plan.surface_legs}
    assert set(legs) == {"fish", "tea"}, plan.unassigned
    # 06:50 from Xiaocaiyuan reaches Shengshan at 08:10; back at 08:30 via Gouqi, Caiyuan at 09:50.
    fish = legs["fish"]
    assert (fish.mode, fish.line_id, fish.direction) == ("ferry", "xiaocaiyuan-gouqi-shengshan", "return")
    assert (fish.depart_at, fish.arrive_at) == (_local(8, 30), _local(9, 50))
    # Bus huaniao-1 07:30 reaches Dengta at 07:50; back at 07:55, post office at 08:15.
    tea = legs["tea"]
    assert (tea.mode, tea.line_id, tea.direction) == ("bus", "huaniao-1", "return")
    assert (tea.depart_at, tea.arrive_at) == (_local(7, 55), _local(8, 15))


# -- bus + drone journeys --------------------------------------------------------------------------


def test_downward_village_parcel_flies_to_the_hub_then_rides_the_bus_locker():
    p = parcel("down", dest="sp-hamlet", kg=1.0, litres=5)
    plan = plan_schedule(problem([p]), estimator())
    (sortie,) = plan.sorties
    assert sortie.stops == ("a",) and sortie.parcel_ids == ("down",)
    (bus,) = plan.connecting_legs
    assert (bus.mode, bus.line_id, bus.origin, bus.destination) == ("bus", "bus-a", "sp-a", "sp-hamlet")
    assert bus.depart_at >= sortie.arrive_at  # the bus leaves after the drone dropped it
    assert bus.depart_at - sortie.arrive_at < timedelta(hours=2)  # ... on the first bus after that
    assert plan.journeys["down"].drone_destination == "sp-a"
    assert plan.journeys["down"].last_mile_line_id == "bus-a"
    assert not plan.surface_legs and not plan.unassigned


def test_upward_village_parcel_rides_the_bus_first_and_is_flown_after_it_arrives():
    p = parcel("up", origin="sp-hamlet", dest="sp-hub", kg=1.0, litres=5)
    plan = plan_schedule(problem([p], drone_pad="a"), estimator())
    (bus,) = plan.connecting_legs
    # 00:30 run reaches the hamlet at 00:45, turns round 5 min, back at sp-a at 01:05.
    assert (bus.origin, bus.destination, bus.direction) == ("sp-hamlet", "sp-a", "return")
    assert bus.arrive_at == T0 + timedelta(hours=1, minutes=5)
    (sortie,) = plan.sorties
    assert sortie.origin_pad == "a" and sortie.stops == ("hub",)
    assert sortie.depart_at >= bus.arrive_at
    assert plan.journeys["up"].first_mile_line_id == "bus-a"


def test_deadline_of_the_drone_leg_accounts_for_the_bus():
    # Due 02:20 at the hamlet: only the 02:30 bus is too late, the 00:30 bus (arrives 00:45) is early
    # enough only if the drone lands at sp-a before 00:30; with the bus the drone leg is due at 00:30.
    # Perishable seafood ready 00:00 flies at once and makes the 00:30 bus.
    fish = parcel("fish", dest="sp-hamlet", kg=2.0, litres=8, due_h=2 + 20 / 60, perishable=True)
    plan = plan_schedule(problem([fish]), estimator())
    (bus,) = plan.connecting_legs
    assert bus.depart_at == T0 + timedelta(minutes=30) and bus.arrive_at <= fish.due_at
    assert plan.metrics["late_perishables"] == 0
    sched = Scheduler(problem([fish]), estimator())
    sched.run()
    assert sched.drone_parcels["fish"].due_at == T0 + timedelta(minutes=30)


def test_drone_leg_that_cannot_fly_releases_the_bus_and_goes_by_surface():
    # Grounded: the first-mile bus reservation is undone; no single line serves hamlet -> hub.
    p = parcel("up", origin="sp-hamlet", dest="sp-hub", kg=1.0, litres=5)
    plan = plan_schedule(problem([p], wind_ms=14.0), estimator())
    assert not plan.sorties and not plan.connecting_legs and not plan.journeys
    (u,) = plan.unassigned
    assert "no drone pad at sp-hamlet" in u.reason or "grounded" in u.reason


def test_direct_bus_is_preferred_over_a_transfer():
    # sp-a -> sp-hamlet is one bus ride: no drone leg.
    plan = plan_schedule(problem([parcel("x", origin="sp-a", dest="sp-hamlet")]), estimator())
    assert not plan.sorties and plan.surface_legs[0].line_id == "bus-a"


def test_shengsi_village_parcels_are_bus_plus_drone(shengsi):
    start = _local(7, 0)
    parcels = [
        Parcel(parcel_id="up", origin="dengta-village", destination="caiyuan-dc", weight_kg=1.5, volume_l=8.0,
               ready_at=start),
        Parcel(parcel_id="down", origin="caiyuan-dc", destination="daao-village", weight_kg=1.5, volume_l=8.0,
               ready_at=start),
    ]
    specs = drone_specs_from_catalogue()
    prob = problem_from_scenario(shengsi, parcels, start_at=start, horizon_s=12 * 3600,
                                 wind=WindForecast.constant(Wind(speed_m_s=3.0, from_deg=0.0), start_at=start),
                                 drone_specs=specs, config=config_from_scenario(shengsi))
    plan = plan_schedule(prob, StraightLineEstimator(pads=prob.pads))
    assert {p for s in plan.sorties for p in s.parcel_ids} == {"up", "down"}, plan.unassigned
    legs = {leg.parcel_ids[0]: leg for leg in plan.connecting_legs}
    assert (legs["up"].line_id, legs["up"].origin, legs["up"].destination) == (
        "huaniao-1", "dengta-village", "huaniao-station")
    assert (legs["down"].line_id, legs["down"].origin, legs["down"].destination) == (
        "huanglong-1", "huanglong-station", "daao-village")
    up_sortie = next(s for s in plan.sorties if "up" in s.parcel_ids)
    assert up_sortie.origin_pad == "huaniao" and up_sortie.depart_at >= legs["up"].arrive_at
    down_drop = next(leg for s in plan.sorties for leg in s.legs if "down" in leg.drop_parcel_ids)
    assert down_drop.to_pad == "huanglong" and legs["down"].depart_at >= down_drop.arrive_at


# -- oversize freight -------------------------------------------------------------------------------


def test_oversize_parcel_goes_as_loose_ferry_freight_taking_several_box_slots():
    big = parcel("big", dest="sp-b", kg=40.0, litres=130.0)  # 3 slots by volume, 2 by weight
    small = parcel("small", dest="sp-b", kg=9.0, litres=20.0)  # too heavy to fly, shares a box
    plan = plan_schedule(problem([big, small]), estimator())
    legs = {p: leg for leg in plan.surface_legs for p in leg.parcel_ids}
    assert legs["big"].mode == "ferry" and legs["big"] is legs["small"]
    assert legs["big"].boxes == 3 + 1


def test_oversize_freight_respects_run_capacity_and_the_loose_limits():
    # ferry-1 has 10 box slots per run: three 4-slot parcels fill two on the first run, one goes later.
    heavy = [parcel(f"h{i}", dest="sp-a", kg=30.0, litres=200.0) for i in range(3)]
    too_big = parcel("crate", dest="sp-a", kg=60.0, litres=100.0)
    plan = plan_schedule(problem([*heavy, too_big], horizon_h=12), estimator())
    departs = sorted(leg.depart_at for leg in plan.surface_legs for _ in leg.parcel_ids)
    assert departs == [T0 + timedelta(hours=1)] * 2 + [T0 + timedelta(hours=5)]
    (u,) = plan.unassigned
    assert u.parcel_id == "crate" and "too big for ferry/bus" in u.reason


def test_bus_keeps_the_compartment_rule():
    # sp-a -> sp-hamlet is served only by the bus: a 70 l parcel does not fit its L compartment.
    plan = plan_schedule(problem([parcel("bulky", origin="sp-a", dest="sp-hamlet", kg=8.0, litres=70.0)]),
                         estimator())
    (u,) = plan.unassigned
    assert "L compartment" in u.reason and not plan.surface_legs
