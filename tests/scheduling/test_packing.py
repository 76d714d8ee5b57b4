"""Consolidation on a large pad: best fit keeps every open load a candidate, so loads meet the bound."""

from __future__ import annotations

import random
import time

from controller.scheduling.planner import Scheduler
from tests.scheduling.helpers import estimator, parcel, problem

# Written at 3.6 % over the bound (318 loads, bound 307; volume binds: 306.65 boxes of parcels, so
# 307 would need every box 99.9 % full). CP-SAT with 40 s on one destination's 303 parcels finds 101
# loads (bound 98), we pack them in 102. The former first fit over the 12 newest open loads needed
# 407 loads here (+33 %), so a regression to it fails.
MAX_OVER_BOUND = 0.05


def test_hub_with_hundreds_of_parcels_packs_at_the_lower_bound_quickly():
    rng = random.Random(11)
    parcels = [parcel(f"p{i:04d}", dest=rng.choice(["sp-a", "sp-b", "sp-c"]),
                      kg=round(min(4.9, rng.lognormvariate(0.0, 0.7)), 2), litres=round(rng.uniform(1, 30), 1))
               for i in range(800)]
    sched = Scheduler(problem(parcels, drones=4, horizon_h=24), estimator(), seed=0)
    items = [(p, sched.p.service_point_pads[p.destination]) for p in parcels]
    packer = sched._packer(sched.fleet_specs[0])
    t = time.perf_counter()
    loads = packer.pack("hub", items, next_id=0)
    elapsed = time.perf_counter() - t
    bound = sched.lower_bound(parcels)
    assert sorted(p.parcel_id for ld in loads for p, _ in ld.parcels) == sorted(p.parcel_id for p in parcels)
    spec = packer.spec
    for ld in loads:
        assert ld.weight_kg <= spec.max_payload_kg + 1e-9 and ld.volume_l <= spec.max_box_volume_l + 1e-9
        assert ld.route is not None and ld.route.energy_wh <= packer.budget_wh + 1e-9
    assert bound <= len(loads) <= bound * (1 + MAX_OVER_BOUND)
    assert elapsed < 1.0  # ~0.03 s here: the index keeps the work per parcel logarithmic

