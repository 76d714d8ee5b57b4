"""Exact minimum sortie count of the consolidation problem, with OR-Tools CP-SAT (optional dependency).

Reference for tests and benchmarks, not used by the planner: `min_sorties_one_origin` on small
instances, and `windowed_packing_bound`, a lower bound for plans of any size. The model is the
packing core of the problem: parcels leaving one pad, loads limited by payload (g), box volume (ml),
at most `max_stops` destinations, and energy with reserve under the same conservative affine leg
model the planner packs with. It leaves out time (drone availability, deadlines, separation), so its
optimum is a lower bound on the delivery sorties of any full plan, and equal to it when time is slack.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from controller.scheduling.model import DroneSpec, Parcel
from controller.scheduling.routes import RouteEvaluator

_ENERGY_SCALE = 1000  # mWh, integer for CP-SAT


@dataclass(frozen=True, kw_only=True, slots=True)
class ExactResult:
    """CP-SAT outcome: sorties in the best solution, whether proven optimal, and the proven bound."""

    sorties: int
    optimal: bool
    lower_bound: int


def min_sorties_one_origin(origin: str, items: list[tuple[Parcel, str]], routes: RouteEvaluator, *,
                           budget_wh: float, max_stops: int, upper_bound: int, time_limit_s: float = 10.0,
                           windows: dict[str, tuple[float, float]] | None = None) -> ExactResult:
    """Return the minimum number of loads covering `items` (parcel, destination pad) from `origin`.

    `windows` (optional): parcel id -> (earliest, latest) take-off time (epoch s) of the load carrying
    it; each load then has one take-off time inside the window of every parcel aboard (rounded
    outwards to whole seconds, so the model stays a relaxation).

    Raises ImportError when OR-Tools is not installed.
    """
    from ortools.sat.python import cp_model

    spec: DroneSpec = routes.spec
    dests = sorted({d for _, d in items})
    orders = [o for k in range(1, min(max_stops, len(dests)) + 1) for o in itertools.permutations(dests, k)]
    # Affine energy: E = sum_l base_l + sum_i w_i * (sum of per_kg over legs flown with parcel i aboard).
    base: dict[tuple, float] = {}
    per_kg_to: dict[tuple, dict[str, float]] = {}
    for order in orders:
        here, b, cum = origin, 0.0, 0.0
        acc: dict[str, float] = {}
        ok = True
        for stop in order:
            leg = routes.leg(here, stop)
            if not leg.feasible:
                ok = False
                break
            b += leg.energy_base_wh
            cum += leg.energy_per_kg_wh
            acc[stop] = cum
            here = stop
        if ok:
            base[order] = b
            per_kg_to[order] = acc
    orders = [o for o in orders if o in base]
    m = cp_model.CpModel()
    n, K = len(items), upper_bound
    x = {(i, k): m.NewBoolVar(f"x{i}_{k}") for i in range(n) for k in range(K)}
    y = {(r, k): m.NewBoolVar(f"y{r}_{k}") for r in range(len(orders)) for k in range(K)}
    used = [m.NewBoolVar(f"u{k}") for k in range(K)]
    grams = [round(p.weight_kg * 1000) for p, _ in items]
    ml = [round(p.volume_l * 1000) for p, _ in items]
    for i in range(n):
        m.AddExactlyOne(x[i, k] for k in range(K))
    for k in range(K):
        m.Add(sum(y[r, k] for r in range(len(orders))) == used[k])
        m.Add(sum(grams[i] * x[i, k] for i in range(n)) <= round(spec.max_payload_kg * 1000) * used[k])
        m.Add(sum(ml[i] * x[i, k] for i in range(n)) <= round(spec.max_box_volume_l * 1000) * used[k])
        for i, (_, d) in enumerate(items):
            m.Add(x[i, k] <= sum(y[r, k] for r, o in enumerate(orders) if d in o))
        for r, o in enumerate(orders):
            coef = [round(items[i][0].weight_kg * per_kg_to[o].get(items[i][1], 0.0) * _ENERGY_SCALE)
                    for i in range(n)]
            m.Add(sum(coef[i] * x[i, k] for i in range(n)) + round(base[o] * _ENERGY_SCALE)
                  <= int(budget_wh * _ENERGY_SCALE)).OnlyEnforceIf(y[r, k])
        if k + 1 < K:
            m.Add(used[k] >= used[k + 1])  # symmetry breaking
    if windows:
        lo = {i: math.floor(windows[p.parcel_id][0]) for i, (p, _) in enumerate(items) if p.parcel_id in windows}
        hi = {i: math.ceil(windows[p.parcel_id][1]) for i, (p, _) in enumerate(items) if p.parcel_id in windows}
        if lo:
            t_min, t_max = min(lo.values()), max(max(hi.values()), max(lo.values()))
            for k in range(K):
                t_k = m.NewIntVar(t_min, t_max, f"t{k}")
                for i in lo:
                    m.Add(t_k >= lo[i]).OnlyEnforceIf(x[i, k])
                    m.Add(t_k <= hi[i]).OnlyEnforceIf(x[i, k])
    return _minimise_bins(m, used, time_limit_s=time_limit_s)


def _minimise_bins(m, used: list, *, time_limit_s: float) -> ExactResult:  # type: ignore[no-untyped-def]
    """Minimise the bins `used` of CP-SAT model `m`; return the best count (the model's bin count if none
    was found), whether it is proven optimal, and the proven lower bound (one more than the bins the
    model has if it is infeasible)."""
    from ortools.sat.python import cp_model

    m.Minimize(sum(used))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = 2
    solver.parameters.random_seed = 0
    status = solver.Solve(m)
    if status == cp_model.INFEASIBLE:
        return ExactResult(sorties=len(used) + 1, optimal=False, lower_bound=len(used) + 1)
    bound = max(0, math.ceil(solver.BestObjectiveBound() - 1e-6))
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return ExactResult(sorties=len(used), optimal=False, lower_bound=bound)
    return ExactResult(sorties=round(solver.ObjectiveValue()), optimal=status == cp_model.OPTIMAL,
                       lower_bound=bound)


def windowed_packing_bound(windows: list[tuple[float, float, float, float]], *, upper_bound: int,
                           time_limit_s: float = 10.0) -> ExactResult:
    """Return CP-SAT's proven lower bound (and best count) on the sorties from one origin pad that carry
    parcels with these departure windows and sizes (`bounds.departure_windows`: earliest and latest
    take-off, epoch s; mass and volume sizes).

    Why it is a lower bound: `bounds.windowed_sortie_lower_bound` proves that the sortie carrying a
    parcel takes off inside its window and that on every sortie the parcels' mass sizes and volume sizes
    each add up to at most 1. So the sorties from the origin of any plan that flies these parcels (with
    the same deadlines kept) are a solution of this model: bins with one take-off time each, inside the
    window of every parcel aboard, and both size sums at most 1 (sizes are rounded down to 1e-4 and
    windows outwards to whole seconds, which only admits more solutions). Its optimum is therefore at
    most the plan's count, and CP-SAT's proven objective bound is at most its optimum. Unlike the
    bound's dynamic programme over window cuts it packs the parcels as they are (two-dimensional, whole
    parcels, overlapping windows), so it is never weaker once solved; within `time_limit_s` it may prove
    less. `upper_bound`: bins in the model (at least the optimum, e.g. the plan's count from the origin).

    Raises ImportError when OR-Tools is not installed.
    """
    from ortools.sat.python import cp_model

    scale = 10_000
    n, k_max = len(windows), max(upper_bound, 1)
    if n == 0:
        return ExactResult(sorties=0, optimal=True, lower_bound=0)
    m = cp_model.CpModel()
    mass = [math.floor(w[2] * scale) for w in windows]
    volume = [math.floor(w[3] * scale) for w in windows]
    lo = [math.floor(w[0]) for w in windows]
    hi = [math.ceil(w[1]) for w in windows]
    x = {(i, k): m.NewBoolVar(f"x{i}_{k}") for i in range(n) for k in range(k_max)}
    used = [m.NewBoolVar(f"u{k}") for k in range(k_max)]
    take_off = [m.NewIntVar(min(lo), max(max(hi), max(lo)), f"t{k}") for k in range(k_max)]
    for i in range(n):
        m.AddExactlyOne(x[i, k] for k in range(k_max))
    for k in range(k_max):
        m.Add(sum(mass[i] * x[i, k] for i in range(n)) <= scale * used[k])
        m.Add(sum(volume[i] * x[i, k] for i in range(n)) <= scale * used[k])
        for i in range(n):
            m.Add(take_off[k] >= lo[i]).OnlyEnforceIf(x[i, k])
            m.Add(take_off[k] <= hi[i]).OnlyEnforceIf(x[i, k])
        if k + 1 < k_max:  # symmetry breaking: used bins first, by take-off time
            m.Add(used[k] >= used[k + 1])
            m.Add(take_off[k] <= take_off[k + 1]).OnlyEnforceIf(used[k + 1])
    return _minimise_bins(m, used, time_limit_s=time_limit_s)  # infeasible: more bins needed, or no plan at all
