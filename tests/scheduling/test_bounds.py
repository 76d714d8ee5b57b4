"""The sortie lower bound: valid (never above the CP-SAT optimum or a plan), and tight where energy binds."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest

from controller.scheduling import plan_schedule
from controller.scheduling.bounds import ModelLimits, _l2, sortie_lower_bound
from controller.scheduling.planner import Scheduler
from tests.scheduling.helpers import HAULER, estimator, fewest_bins, parcel, problem

# A smaller pack: 8-9 km legs then cost a large part of the budget, so energy caps the payload.
SHORT_RANGE = dataclasses.replace(HAULER, battery_wh=520.0)


def _naive(parcels, spec):
    """The old bound: total mass and volume over the largest payload and box."""
    return max(math.ceil(sum(p.weight_kg for p in parcels) / spec.max_payload_kg - 1e-9),
               math.ceil(sum(p.volume_l for p in parcels) / spec.max_box_volume_l - 1e-9))


def _instance(seed: int, spec):
    rng = random.Random(seed)
    n = rng.randint(5, 13)
    parcels = [parcel(f"p{i}", dest=rng.choice(["sp-a", "sp-b", "sp-c"]), kg=round(rng.uniform(0.2, 3.5), 2),
                      litres=round(rng.uniform(1, 30), 1)) for i in range(n)]
    prob = problem(parcels, drones=n, horizon_h=24, wind_ms=rng.choice([0.0, 4.0, 8.0]))
    return parcels, dataclasses.replace(prob, drone_specs={"hauler": spec})


def test_l2_counts_items_that_cannot_share():
    assert _l2([0.6, 0.6, 0.6]) == 3  # the continuous bound says 2
    assert _l2([0.6, 0.4, 0.6, 0.4]) == 2
    assert _l2([0.7, 0.35, 0.35, 0.35]) == 3  # no 0.35 fits beside the 0.7
    assert _l2([0.6, 0.35, 0.35, 0.35]) == 2
    assert _l2([]) == 0


def _min_bins(sizes):
    """Exact bin packing of unit bins by brute force (tiny inputs)."""
    return fewest_bins(len(sizes), lambda group: sum(sizes[i] for i in group) <= 1.0 + 1e-12)


@pytest.mark.parametrize("seed", range(40))
def test_l2_never_exceeds_the_optimal_bin_count(seed):
    rng = random.Random(seed)
    sizes = [round(rng.uniform(0.05, 0.8), 2) for _ in range(rng.randint(1, 9))]
    assert max(math.ceil(sum(sizes) - 1e-7), _l2(sizes)) <= _min_bins(sizes)


@pytest.mark.parametrize("spec", [HAULER, SHORT_RANGE], ids=["hauler", "short-range"])
@pytest.mark.parametrize("instance_seed", range(12))
def test_bound_never_exceeds_cp_sat_optimum_nor_the_plan(spec, instance_seed):
    pytest.importorskip("ortools.sat.python.cp_model", reason="OR-Tools (test extra) not installed")
    from controller.scheduling.exact import min_sorties_one_origin

    parcels, prob = _instance(instance_seed, spec)
    sched = Scheduler(prob, estimator())
    plan = plan_schedule(prob, estimator(), seed=0)
    delivery = [s for s in plan.sorties if s.purpose == "delivery"]
    flown = {pid for s in delivery for pid in s.parcel_ids}
    items = [(p, prob.service_point_pads[p.destination]) for p in parcels if p.parcel_id in flown]
    bound = sched.lower_bound([p for p in parcels if p.parcel_id in flown])
    assert bound == plan.metrics["sortie_lower_bound"]
    assert bound <= len(delivery)
    if not items:
        return
    exact = min_sorties_one_origin("hub", items, sched.evaluators["hauler"], budget_wh=sched.budget_wh(spec),
                                   max_stops=prob.config.max_stops, upper_bound=max(len(delivery), 1),
                                   time_limit_s=20)
    assert exact.optimal
    assert bound <= exact.sorties


def test_energy_caps_make_the_bound_tighter_than_mass_and_volume():
    # Short range, head wind: the bound must see that a sortie cannot lift a full 5 kg that far.
    tighter = 0
    for seed in range(12):
        parcels, prob = _instance(seed, SHORT_RANGE)
        sched = Scheduler(prob, estimator())
        flyable = [p for p in parcels
                   if sched._packer(SHORT_RANGE).single_reason("hub", p, prob.service_point_pads[p.destination]) is None]
        bound = sched.lower_bound(flyable)
        assert bound >= _naive(flyable, SHORT_RANGE)
        tighter += bound > _naive(flyable, SHORT_RANGE)
    assert tighter >= 3


def test_a_parcel_no_model_can_fly_far_enough_keeps_the_bound_meaningful():
    parcels, prob = _instance(0, SHORT_RANGE)
    sched = Scheduler(prob, estimator())
    models = [ModelLimits(spec=SHORT_RANGE, routes=sched.evaluators["hauler"], budget_wh=0.0)]
    items = [(p, "hub", prob.service_point_pads[p.destination]) for p in parcels]
    # With no energy at all nothing flies: the bound falls back to payload and box, never raises.
    assert sortie_lower_bound(items, models, max_stops=3) == max(
        _naive(parcels, SHORT_RANGE), _l2([p.volume_l / 40 for p in parcels]), _l2([p.weight_kg / 5 for p in parcels]))


def _deadline_instance(seed: int):
    """Perishables leaving spoke a for the hub, ready over 6 h with 1-3 h to their deadline."""
    rng = random.Random(seed)
    n = rng.randint(5, 12)
    parcels = []
    for i in range(n):
        ready = round(rng.uniform(0.0, 6.0), 2)
        parcels.append(parcel(f"p{i}", origin=rng.choice(["sp-a", "sp-b"]), dest="sp-hub",
                              kg=round(rng.uniform(0.2, 3.0), 2), litres=round(rng.uniform(2, 30), 1),
                              ready_h=ready, due_h=round(ready + rng.uniform(1.0, 3.0), 2), perishable=True))
    return parcels, problem(parcels, drones=n, horizon_h=12, wind_ms=rng.choice([0.0, 4.0]))


@pytest.mark.parametrize("instance_seed", range(12))
def test_windowed_bound_never_exceeds_cp_sat_optimum_with_departure_windows_nor_the_plan(instance_seed):
    """The time-aware bound, for plans delivering the same perishables on time, against CP-SAT's
    optimum of the packing with one take-off time per load inside every parcel's window."""
    pytest.importorskip("ortools.sat.python.cp_model", reason="OR-Tools (test extra) not installed")
    from controller.scheduling.bounds import fastest_arrival_s
    from controller.scheduling.exact import min_sorties_one_origin

    parcels, prob = _deadline_instance(instance_seed)
    sched = Scheduler(prob, estimator())
    plan = plan_schedule(prob, estimator(), seed=0)
    delivery = [s for s in plan.sorties if s.purpose == "delivery"]
    late = {p for s in delivery for p in s.late_parcel_ids}
    flown = [p for p in parcels if any(p.parcel_id in s.parcel_ids for s in delivery)]
    on_time = {p.parcel_id for p in flown if p.parcel_id not in late}
    bound = sched.time_aware_lower_bound(flown, on_time)
    assert sched.lower_bound(flown) <= bound <= len(delivery)
    sp, exact_total = prob.service_point_pads, 0
    models = [ModelLimits(spec=HAULER, routes=sched.evaluators["hauler"], budget_wh=sched.budget_wh(HAULER))]
    for origin in sorted({sp[p.origin] for p in flown}):
        group = [p for p in flown if sp[p.origin] == origin]
        delta = fastest_arrival_s(origin, ["hub"], models, max_stops=3, stop_service_s=prob.config.stop_service_s)
        windows = {p.parcel_id: (max(p.ready_at.timestamp(), sched.start_s),
                                 min(sched.end_s, p.due_at.timestamp() if p.parcel_id in on_time else math.inf)
                                 - delta["hub"]) for p in group}
        exact = min_sorties_one_origin(origin, [(p, "hub") for p in group], sched.evaluators["hauler"],
                                       budget_wh=sched.budget_wh(HAULER), max_stops=3, upper_bound=len(group),
                                       time_limit_s=20, windows=windows)
        assert exact.optimal
        exact_total += exact.sorties
    assert bound <= exact_total


def test_windowed_bound_counts_perishables_whose_windows_do_not_meet():
    """Two small perishables ready 4 h apart, each due 1 h after it is ready, fit one box but never
    one sortie: the timeless bound says 1, the windowed bound 2 (and 1 again if neither must be on time)."""
    parcels = [parcel("early", origin="sp-a", dest="sp-hub", kg=0.5, litres=5.0, ready_h=0.0, due_h=1.0,
                      perishable=True),
               parcel("late", origin="sp-a", dest="sp-hub", kg=0.5, litres=5.0, ready_h=4.0, due_h=5.0,
                      perishable=True)]
    sched = Scheduler(problem(parcels, drones=2, horizon_h=12), estimator())
    assert sched.lower_bound(parcels) == 1
    assert sched.time_aware_lower_bound(parcels, {"early", "late"}) == 2
    assert sched.time_aware_lower_bound(parcels, {"late"}) == 1  # "early" may wait for the later sortie
