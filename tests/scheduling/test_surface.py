"""Ferry and bus legs: return runs, and (below) oversize freight and bus + drone journeys."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from controller.scenario import load_scenario
from controller.scheduling import Parcel, SchedulerConfig, Wind, WindForecast, plan_schedule
from controller.scheduling.from_scenario import (
    config_from_scenario, drone_specs_from_catalogue, problem_from_scenario,
)
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
