"""A lower bound on delivery sorties: the yardstick of the scheduler benchmark on large instances.

Why this bound is valid (it never exceeds the sorties of any plan that flies the same parcels)
---------------------------------------------------------------------------------------------
A delivery sortie is flown by one model m from one origin pad o to stops s_1..s_k (k <= max_stops),
each a destination of a parcel it carries. The planner (and the CP-SAT reference in `exact.py`)
only accepts it if its payload W <= P_m (kg), its volume <= B_m (l), and its energy under m's route
evaluator (the affine leg model, worst flyable wind of the horizon) is <= budget_m, the full-battery
budget after reserve. Leg energies of that model are never below ell(a, b) = min(base, empty) of the
leg, and a loaded leg costs at least base + per_kg x payload (per_kg >= 0); we require ell >= 0
(true for any physical estimator; if a secant ever extrapolates below zero the bound drops energy
for that origin and keeps only payload and volume).

1. Energy caps the payload. If the sortie carries parcel i to d_i, its first leg o -> s_1 carries
   all of W and the legs from s_1 to d_i form a path of <= max_stops - 1 legs; legs after d_i cost
   >= 0. So budget_m >= base(o, s_1) + per_kg(o, s_1) W + R_m(s_1, d_i), where R_m is the cheapest
   such path under ell. Hence W <= cap_m(o, d_i) = max over s of (budget_m - base(o, s) - R_m(s, d_i))
   / per_kg(o, s) (unbounded where per_kg = 0 and the rest fits).
2. Per parcel capacities. Let M_i be the models that could carry i at all (w_i <= P_m, v_i <= B_m,
   w_i <= cap_m(o, d_i)); c_i = max over M_i of min(P_m, cap_m(o, d_i)) and b_i = max over M_i of
   B_m. The model of a sortie carrying i is in M_i, so its payload is <= c_i and its volume <= b_i
   for every parcel i aboard. Therefore sum_i w_i / c_i <= W / min_i c_i <= 1 and likewise
   sum_i v_i / b_i <= 1 on every sortie. (If M_i is empty no plan flies i; we then use the fleet's
   largest payload and box so that the number stays meaningful.)
3. So the sorties from o are bins of a unit-capacity bin packing with item sizes w_i / c_i, and of
   another with sizes v_i / b_i. Any bin-packing lower bound applies: the continuous one
   ceil(sum of sizes) and Martello and Toth's L2 (items > 1/2 never share a bin; see `_l2`). The
   bound is the sum over origin pads (a sortie has one origin) of the largest of these.

Time (deadlines, drone availability, separation) is left out, so the bound is also below the
CP-SAT optimum of `exact.py`, which leaves time out as well; `tests/scheduling/test_bounds.py`
checks both on random instances.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from controller.scheduling.model import DroneSpec, Parcel
from controller.scheduling.routes import RouteEvaluator

_TOL = 1e-9  # the planner's own tolerance on payload, volume and energy checks


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelLimits:
    """A flyable drone model with the route evaluator and full-battery energy budget (Wh) it plans with."""

    spec: DroneSpec
    routes: RouteEvaluator
    budget_wh: float


def payload_caps(origin: str, dests: Sequence[str], model: ModelLimits, *, max_stops: int
                 ) -> dict[str, float] | None:
    """Return, per destination pad, the largest payload (kg) any sortie of `model` from `origin`
    that visits it can take off with under the energy budget (step 1 of the module proof).

    -inf means no loaded sortie reaches it; None means energy gives no valid cap here (a leg model
    with negative energy), so callers must ignore energy for this origin.
    """
    nodes = sorted({origin, *dests})
    ell: dict[tuple[str, str], float] = {}
    for a in nodes:
        for b in nodes:
            if a == b:
                continue
            leg = model.routes.leg(a, b)
            if not leg.feasible:
                continue
            e = min(leg.energy_base_wh, leg.energy_empty_wh)
            if e < 0.0:
                return None
            ell[a, b] = e
    # R[s][d]: cheapest path s -> d of at most max_stops - 1 legs (Bellman-Ford with a hop limit).
    inf = math.inf
    reach = {s: {d: (0.0 if d == s else inf) for d in nodes} for s in nodes}
    for _ in range(max(0, max_stops - 1)):
        nxt = {s: dict(row) for s, row in reach.items()}
        for s in nodes:
            for (a, b), e in ell.items():
                if reach[s][a] + e < nxt[s][b]:
                    nxt[s][b] = reach[s][a] + e
        reach = nxt
    caps: dict[str, float] = {}
    for d in dests:
        best = -inf
        for s in nodes:
            if s == origin or (origin, s) not in ell or reach[s][d] == inf:
                continue
            leg = model.routes.leg(origin, s)
            slack = model.budget_wh + _TOL - leg.energy_base_wh - reach[s][d]
            if slack < 0.0:
                continue
            cap = inf if leg.energy_per_kg_wh <= 0.0 else slack / leg.energy_per_kg_wh
            best = max(best, cap)
        caps[d] = best
    return caps


def _continuous(sizes: Sequence[float]) -> int:
    return max(0, math.ceil(sum(sizes) - 1e-7))


def _l2(sizes: Sequence[float]) -> int:
    """Martello-Toth L2 for unit bins: max over K <= 1/2 of |J1| + |J2| + ceil((s(J3) - free(J2))+),
    J1 = sizes > 1 - K, J2 = (1/2, 1 - K], J3 = [K, 1/2]: items of J1 and J2 pairwise never share,
    J3 items fit only beside J2 items or in new bins (J1 items leave room for nothing >= K)."""
    s = sorted(sizes)
    n = len(s)
    if n == 0:
        return 0
    prefix = [0.0]
    for x in s:
        prefix.append(prefix[-1] + x)
    half = bisect.bisect_right(s, 0.5 + _TOL)  # s[:half] <= 1/2
    best = n - half  # K = 0: every item > 1/2 needs its own bin
    for K in sorted(set(s[:half])) + [0.0]:
        j3_lo = bisect.bisect_left(s, K)
        j1_lo = bisect.bisect_right(s, 1.0 - K + _TOL)  # sizes > 1 - K
        n_j1 = n - j1_lo
        n_j2 = max(0, j1_lo - half)
        sum_j2 = prefix[j1_lo] - prefix[half] if n_j2 else 0.0
        sum_j3 = prefix[half] - prefix[j3_lo]
        extra = max(0, math.ceil(sum_j3 - (n_j2 - sum_j2) - 1e-7))
        best = max(best, n_j1 + n_j2 + extra)
    return best


def sortie_lower_bound(items: Iterable[tuple[Parcel, str, str]], models: Sequence[ModelLimits], *,
                       max_stops: int) -> int:
    """Return a lower bound on the delivery sorties of any plan flying every (parcel, origin pad,
    destination pad) of `items` with `models`; see the module docstring for the proof."""
    if not models:
        return 0
    by_origin: dict[str, list[tuple[Parcel, str]]] = {}
    for p, o, d in items:
        by_origin.setdefault(o, []).append((p, d))
    total = 0
    for origin, group in sorted(by_origin.items()):
        total += _packing_bound(_sizes(origin, group, models, max_stops=max_stops))
    return total


def _packing_bound(sizes: Sequence[tuple[float, float]]) -> int:
    """The bin-packing lower bound (continuous and Martello-Toth L2, by mass and by volume) of one origin."""
    by_mass = [m for m, _ in sizes]
    by_volume = [v for _, v in sizes]
    return max(_continuous(by_mass), _continuous(by_volume), _l2(by_mass), _l2(by_volume))


# ---------------------------------------------------------------------------------------------
# Time-aware bound: departure windows
# ---------------------------------------------------------------------------------------------


def fastest_arrival_s(origin: str, dests: Sequence[str], models: Sequence[ModelLimits], *, max_stops: int,
                      stop_service_s: float) -> dict[str, float]:
    """Return, per destination pad, the least time (s) from take-off at `origin` to landing there of
    any sortie of any of `models`: a path of at most `max_stops` legs under the route evaluators'
    leg durations, plus `stop_service_s` at each stop passed on the way (inf if none reaches it).

    The planner times every sortie with these evaluators (arrival offsets of `RouteEvaluator.evaluate`),
    so no sortie reaches a stop sooner after take-off.
    """
    nodes = sorted({origin, *dests})
    out = {d: math.inf for d in dests}
    for model in models:
        dur: dict[tuple[str, str], float] = {}
        for a in nodes:
            for b in nodes:
                if a != b:
                    leg = model.routes.leg(a, b)
                    if leg.feasible:
                        dur[a, b] = leg.duration_s
        best = {n: math.inf for n in nodes}
        frontier = {origin: 0.0}
        for hop in range(max(1, max_stops)):
            nxt: dict[str, float] = {}
            for a, t in frontier.items():
                for b in nodes:
                    if (a, b) in dur and b != origin:
                        tb = t + dur[a, b] + (stop_service_s if hop > 0 else 0.0)
                        if tb < nxt.get(b, math.inf):
                            nxt[b] = tb
            for b, t in nxt.items():
                best[b] = min(best[b], t)
            frontier = nxt
        for d in dests:
            out[d] = min(out[d], best[d])
    return out


def windowed_sortie_lower_bound(items: Iterable[tuple[Parcel, str, str]], models: Sequence[ModelLimits], *,
                                max_stops: int, stop_service_s: float, start_s: float, end_s: float,
                                on_time_ids: frozenset[str] | set[str], max_cuts: int = 48) -> int:
    """Return a lower bound on the delivery sorties of any plan that flies every (parcel, origin pad,
    destination pad) of `items` with `models` within [start_s, end_s] and delivers the parcels of
    `on_time_ids` by their deadlines. Never below `sortie_lower_bound` of the same items.

    Why it is valid
    ---------------
    A sortie takes off from its origin once, at some time t, and every parcel aboard is loaded then:
    t >= ready_i (and >= start_s). It reaches parcel i's stop no sooner than t + delta_i, delta_i from
    `fastest_arrival_s` (the least time over every model and path of <= max_stops legs, stop service
    included), and it must land by end_s, after that stop: t <= end_s - delta_i. If i must arrive by
    due_i, also t <= due_i - delta_i. So every parcel i has a departure window [lo_i, hi_i] that
    contains the take-off time of the sortie carrying it.

    Pick cut times c_0 < c_1 < ... < c_k at one origin and let S_j be the parcels whose whole window
    lies in [c_j, c_{j+1}) (c_{k+1} = +inf); the rest are dropped. A sortie carrying a parcel of S_j
    takes off in [c_j, c_{j+1}), so it carries no parcel of another S_j': the sorties from this origin
    split into disjoint groups, one per S_j, and each group is a packing of S_j. Dropping parcels never
    needs more sorties. Hence sorties from the origin >= sum_j LB(S_j) for any bin-packing lower bound
    LB; we use the continuous one on the per-parcel sizes of `sortie_lower_bound` (w_i / c_i and
    v_i / b_i, valid per its steps 1-2), ceil(max(sum of mass sizes, sum of volume sizes)). The best
    cut set over the candidate cuts (window starts of deadline parcels, at most `max_cuts` of them,
    evenly chosen: any subset of cuts still gives a valid partition) is found by dynamic programming:
    best[j] = max over i < j of best[i] + LB(windows inside [c_i, c_j)). Rounding up each group
    separately is what makes this exceed the timeless bound: deadline parcels ready hours apart
    cannot fill one sortie. Origins add up as in `sortie_lower_bound` (a sortie has one origin), and
    each origin takes the larger of this and the timeless bound.

    Returns the bound; with no models, 0.
    """
    if not models:
        return 0
    windows = departure_windows(items, models, max_stops=max_stops, stop_service_s=stop_service_s,
                                start_s=start_s, end_s=end_s, on_time_ids=on_time_ids)
    return sum(max(_packing_bound([(m, v) for _, _, m, v in group]), _window_dp(group, max_cuts=max_cuts))
               for group in windows.values())


def departure_windows(items: Iterable[tuple[Parcel, str, str]], models: Sequence[ModelLimits], *,
                      max_stops: int, stop_service_s: float, start_s: float, end_s: float,
                      on_time_ids: frozenset[str] | set[str]) -> dict[str, list[tuple[float, float, float, float]]]:
    """Return, per origin pad, each parcel's (earliest take-off s, latest take-off s, mass size, volume
    size) as `windowed_sortie_lower_bound` proves them: the sortie carrying the parcel takes off in the
    window, and on every sortie the mass sizes and the volume sizes each add up to at most 1."""
    by_origin: dict[str, list[tuple[Parcel, str]]] = {}
    for p, o, d in items:
        by_origin.setdefault(o, []).append((p, d))
    out = {}
    for origin, group in sorted(by_origin.items()):
        dests = sorted({d for _, d in group})
        delta = fastest_arrival_s(origin, dests, models, max_stops=max_stops, stop_service_s=stop_service_s)
        windows = []
        for (p, d), (m_size, v_size) in zip(group, _sizes(origin, group, models, max_stops=max_stops)):
            lo = max(p.ready_at.timestamp(), start_s)
            hi = end_s - delta[d]
            if p.parcel_id in on_time_ids and p.due_at is not None:
                hi = min(hi, p.due_at.timestamp() - delta[d])
            # hi < lo: no plan delivers it so (the statement is then vacuous); keep the window non-empty.
            windows.append((lo, max(hi, lo), m_size, v_size))
        out[origin] = windows
    return out


def _sizes(origin: str, group: list[tuple[Parcel, str]], models: Sequence[ModelLimits], *, max_stops: int
           ) -> list[tuple[float, float]]:
    """Return (w_i / c_i, v_i / b_i) per parcel of one origin: its mass and volume as fractions of the
    most any model can carry it that far (payload limited by energy, see `payload_caps`) and of that
    model's box; the item sizes of the module docstring's bin-packing argument."""
    max_kg = max(m.spec.max_payload_kg for m in models)
    max_l = max(m.spec.max_box_volume_l for m in models)
    dests = sorted({d for _, d in group})
    caps = [payload_caps(origin, dests, m, max_stops=max_stops) for m in models]
    out = []
    for p, d in group:
        c_i = b_i = 0.0
        for m, cap in zip(models, caps):
            s = m.spec
            if p.weight_kg > s.max_payload_kg + _TOL or p.volume_l > s.max_box_volume_l + _TOL:
                continue
            reach = math.inf if cap is None or p.weight_kg <= 0.0 else cap[d]
            if reach < p.weight_kg - 1e-6:
                continue  # this model cannot lift i that far, alone or in company
            c_i = max(c_i, min(s.max_payload_kg, reach))
            b_i = max(b_i, s.max_box_volume_l)
        if c_i <= 0.0:
            c_i, b_i = max_kg, max_l  # no model flies it: no plan exists; stay meaningful
        out.append((p.weight_kg / c_i, p.volume_l / b_i))
    return out


def _window_dp(windows: list[tuple[float, float, float, float]], *, max_cuts: int) -> int:
    """Return max over cut sets of sum over groups of ceil(max(mass, volume)) (see the caller's proof)."""
    if not windows:
        return 0
    starts = sorted({lo for lo, _, _, _ in windows})
    if len(starts) > max_cuts:
        starts = [starts[round(k * (len(starts) - 1) / (max_cuts - 1))] for k in range(max_cuts)]
    cuts = [-math.inf] + starts  # group j: windows inside [cuts[j], cuts[j + 1]), the last one open
    k = len(cuts)
    # hi_bucket: the first cut index j with hi < cuts[j] (k: only the open last group holds it).
    prepared = []
    for lo, hi, m, v in windows:
        first = bisect.bisect_right(cuts, lo) - 1  # the latest cut <= lo: groups may start at cuts[<= first]
        hb = bisect.bisect_right(cuts, hi)  # windows with hi < cuts[j] for j >= hb
        prepared.append((first, hb, m, v))
    # best[j]: the most sorties a cut set forces before cuts[j] (j == k: all groups, the last open-ended).
    best = [-math.inf] * (k + 1)
    best[0] = 0
    for i in range(k):
        if best[i] == -math.inf:
            continue
        mass = [0.0] * (k + 1)
        vol = [0.0] * (k + 1)
        for first, hb, m, v in prepared:
            if first >= i:  # lo >= cuts[i]
                mass[hb] += m
                vol[hb] += v
        cm = cv = 0.0
        for j in range(i + 1, k + 1):  # windows with hi < cuts[j] (all of them for the open group j == k)
            cm += mass[j]
            cv += vol[j]
            lb = max(0, math.ceil(max(cm, cv) - 1e-7))
            if best[i] + lb > best[j]:
                best[j] = best[i] + lb
    return int(best[k])
