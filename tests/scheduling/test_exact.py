"""Small instances: the heuristic's sortie count equals the CP-SAT optimum (skips without OR-Tools)."""

from __future__ import annotations

import random

import pytest

from controller.scheduling import plan_schedule
from controller.scheduling.planner import Scheduler
from tests.scheduling.helpers import estimator, parcel, problem

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
