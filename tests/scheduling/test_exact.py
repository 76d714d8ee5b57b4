"""Small instances: the heuristic's sortie count equals the CP-SAT optimum (skips without OR-Tools)."""

from __future__ import annotations

import random

import pytest

from controller.scheduling import plan_schedule
from controller.scheduling.planner import Scheduler
from tests.scheduling.helpers import estimator, fewest_bins, parcel, problem

pytest.importorskip("ortools.sat.python.cp_model", reason="OR-Tools (test extra) not installed")

from controller.scheduling.exact import min_sorties_one_origin  # noqa: E402


@pytest.mark.parametrize("instance_seed", range(20))
def test_small_instance_matches_cp_sat_optimum(instance_seed):
    rng = random.Random(instance_seed)
    n = rng.randint(5, 14)
    parcels = [parcel(f"p{i}", dest=rng.choice(["sp-a", "sp-b", "sp-c"]), kg=round(rng.uniform(0.2, 3.5), 2),
                      litres=round(rng.uniform(1, 25), 1)) for i in range(n)]
    prob = problem(parcels, drones=n, horizon_h=24)  # time is slack: one drone per parcel
    plan = plan_schedule(prob, estimator(), seed=0)
    delivery = [s for s in plan.sorties if s.purpose == "delivery"]
    assert sum(len(s.parcel_ids) for s in delivery) == n
    sched = Scheduler(prob, estimator())
    items = [(p, prob.service_point_pads[p.destination]) for p in parcels]
    exact = min_sorties_one_origin("hub", items, sched.evaluators["hauler"],
                                   budget_wh=sched.budget_wh(sched.p.drone_specs["hauler"]),
                                   max_stops=prob.config.max_stops, upper_bound=len(delivery), time_limit_s=20)
    assert exact.optimal
    assert len(delivery) == exact.sorties


def _fewest_bins(raw):  # type: ignore[no-untyped-def]
    """Brute force over set partitions: fewest bins with a common take-off time and both sizes <= 1, on
    the model's own rounding (windows outwards to whole seconds, sizes down to 1e-4)."""
    import math

    windows = [(math.floor(lo), math.ceil(hi), math.floor(m * 10_000), math.floor(v * 10_000)) for lo, hi, m, v in raw]

    def fits(group):  # type: ignore[no-untyped-def]
        return (max(windows[i][0] for i in group) <= min(windows[i][1] for i in group)
                and sum(windows[i][2] for i in group) <= 10_000 and sum(windows[i][3] for i in group) <= 10_000)

    return fewest_bins(len(windows), fits)


@pytest.mark.parametrize("instance_seed", range(25))
def test_windowed_packing_bound_is_the_fewest_bins_of_its_model_and_never_below_the_cut_bound(instance_seed):
    """On random windows and two-dimensional sizes the CP-SAT model's optimum is the brute-force fewest
    bins (take-off in every window aboard, mass and volume sums <= 1), never below the bound's dynamic
    programme over window cuts."""
    from controller.scheduling.bounds import _packing_bound, _window_dp
    from controller.scheduling.exact import windowed_packing_bound

    rng = random.Random(instance_seed)
    windows = []
    for _ in range(rng.randint(1, 7)):
        lo = rng.uniform(0, 100)
        windows.append((lo, lo + rng.uniform(0, 40), round(rng.uniform(0.05, 0.7), 3), round(rng.uniform(0.05, 0.7), 3)))
    result = windowed_packing_bound(windows, upper_bound=len(windows), time_limit_s=10)
    assert result.optimal
    assert result.sorties == result.lower_bound == _fewest_bins(windows)
    cut_bound = max(_packing_bound([(m, v) for _, _, m, v in windows]), _window_dp(windows, max_cuts=48))
    assert result.lower_bound >= cut_bound


def test_windowed_packing_bound_per_origin_never_exceeds_the_plans_sorties_from_there():
    """The bound holds for real plans: per origin pad, for the parcels the planner flew with the
    perishables it brought in time, it is at most the planner's delivery sorties from that pad."""
    from collections import Counter

    from controller.scheduling.bounds import ModelLimits, departure_windows
    from controller.scheduling.exact import windowed_packing_bound
    from tests.scheduling.test_quality import _instance

    _, parcels, prob, est = _instance(300, drones=40)
    sched = Scheduler(prob, est, seed=0)
    plan = sched.run()
    delivery = [s for s in plan.sorties if s.purpose == "delivery"]
    flown = {pid for s in delivery for pid in s.parcel_ids}
    late = {pid for s in delivery for pid in s.late_parcel_ids}
    legs = [sched.drone_parcels.get(p.parcel_id, p) for p in parcels if p.parcel_id in flown]
    sp = prob.service_point_pads
    models = [ModelLimits(spec=s, routes=sched.evaluators[s.model_id], budget_wh=sched.budget_wh(s))
              for s in sched.fleet_specs if s.model_id in sched.evaluators]
    windows = departure_windows([(p, sp[p.origin], sp[p.destination]) for p in legs], models,
                                max_stops=prob.config.max_stops, stop_service_s=prob.config.stop_service_s,
                                start_s=sched.start_s, end_s=sched.end_s,
                                on_time_ids={p.parcel_id for p in legs if p.perishable and p.parcel_id not in late})
    per_origin = Counter(s.origin_pad for s in delivery)
    proven = 0
    for origin, group in windows.items():
        result = windowed_packing_bound(group, upper_bound=per_origin[origin], time_limit_s=5)
        assert 0 < result.lower_bound <= per_origin[origin]
        proven += result.optimal
    assert proven > 0
