"""A time-indexed lower bound on delivery sorties: an LP over drone positions in time (needs OR-Tools).

On the 10 000-parcel bench (391 delivery sorties, windowed bound 358) its LP optimum is 355.76 with or
without couriers and 358 with the per-origin cuts (120 s slots ~20 s of GLOP, 60 s slots ~80 s, same
value): in the relaxation the haulers' time and positions carry every flown parcel with the same
perishables on time, so it cannot show that the plan's courier sorties are needed. Its weakness is
the usual one of LP relaxations: a fractional sortie uses a fraction of a drone's time. (Measured
once, not a bound: the haulers-only LP optimum with least drone time still flies the haulers
~135 h loaded + ~69 h empty, turnarounds included, of 240 h, so hauler time is close to binding;
an integer version - x integer, SCIP - found no root bound in 240 s even with 300 s slots.)

Only the benchmark and the tests use it; the core install has no OR-Tools, so `ortools` is imported
inside `time_indexed_sortie_bound`.

The problem it bounds
---------------------
Plans of the planner's kind for one `SchedulingProblem`'s fleet, horizon and wind that

* fly every item (parcel, origin pad, destination pad) of `items` (drone legs, pad to pad), and
* deliver every parcel of `on_time_ids` by its deadline (others may be late),

where a drone flies one flight at a time: a *delivery sortie* loads at its origin pad, visits at most
`max_stops` stops (each the destination of a parcel aboard), ends at its last stop, and carries at
most the model's payload (kg) and box (l) within its energy budget; an *empty flight* is one leg
between two pads. Every flight is timed with the route evaluators' leg durations (plus
`stop_service_s` at each intermediate stop), takes off at or after the drone is free and at or after
every parcel aboard is ready, lands by the horizon end, and the drone's next take-off is at least
`turnaround_s` after it lands (battery swap and loading). A drone starts at its pad at `available_at`.
Pad capacity, separation and wind changes only remove plans, so the bound also holds with them.
The bound is on the number of delivery sorties; empty flights are free but use drone time.

The LP (a relaxation of every such plan)
----------------------------------------
Time is cut into slots of `slot_s` from the horizon start; a take-off at t is in slot
floor((t - start) / slot_s). Per model m there is a flow of drones over (pad, slot) nodes:
supply where and when drones start, waiting arcs to the next slot, and flight arcs:

* delivery arcs (m, o, S, e, k): take off from o in slot k with stop set S (|S| <= max_stops) ending
  at e in S. Its duration is D = the least duration of any stop order of S ending at e whose
  lower-estimate energy (sum of min(base, empty) per leg, <= any loaded energy) fits the budget;
  it lands in slot k + floor((D + turnaround_s) / slot_s) and exists only if k * slot_s + D <= H
  (the horizon length). Its arrival offset at d in S is off(d) = least offset of d over those
  orders. Cost 1.
* empty arcs (m, a, b, k) for single legs whose lower-estimate energy fits. Cost 0.

Parcels are aggregated per (o, d, class), class = the set of models that could carry the parcel
at all (payload, box, energy cap of `bounds.payload_caps`). z[arc, d, class] litres (and, with
`include_mass`, kg) of that aggregate ride delivery arc `arc` (models in the class only), with

* box:      sum over d, class of litres <= B_m * x[arc]
* payload:  sum over d, class of kg / cap_m(o, d) <= x[arc]   (cap_m = min(payload, energy cap);
            every parcel aboard has w_i <= cap of the sortie's weakest stop, step 1-2 of `bounds`)
* ready:    litres departing in slots <= j <= litres of parcels with floor(ready) slot <= j
* deadline: litres with arrival key k + floor(off(d) / slot_s) <= j >= litres of on-time parcels
            with floor((due - start) / slot_s) <= j
* all:      litres carried in total = litres of the aggregate (likewise kg).
* linking:  z[arc at slot k, d, class] <= U x[arc at slot k], U = litres (kg) of the aggregate ready
            by slot k and, if on-time, with due slot >= the arrival key (`strong_linking`).

Objective: minimise the sum of x over delivery arcs. Optional per-origin cuts force the delivery
arcs from o to sum to at least a known valid bound for that origin (`bounds`), so the LP never
falls below the windowed bound and adds to it only what time and positions force.

Why it is a lower bound (proof)
-------------------------------
Take any plan of the class. Map each flight taking off at t to its slot k = floor((t - start)/slot_s)
and, for a delivery sortie with stops S ending at e, to arc (m, o, S, e, k); set x to the number of
such sorties and z to the litres (kg) of each aggregate they carry. Then:

1. Drone flow: a drone landing from a flight that took off at t takes off next at
   t' >= t + dur + turnaround_s with dur >= D (D is a minimum over orders and estimates), so its
   slot is floor(t'/s) >= floor(t/s + (D + turnaround_s)/s) >= k + floor((D + turnaround_s)/s):
   the drone is at the arc's head node by its next take-off slot and can wait there. Each flight
   lands by the horizon end, so k * s <= t - start <= H - dur <= H - D: the arc exists. A drone
   starting in slot floor(available) is supplied there. So x (with waits) is a feasible flow.
2. Capacity: the sortie's box holds its litres <= B_m; its payload W satisfies W <= cap_m(o, d) for
   each of its stops d (`bounds` step 1), so sum of kg_i / cap_m(o, d_i) <= W / min cap <= 1 per
   sortie; summing over the x sorties of one arc gives the two capacity rows. A parcel rides only
   models of its class, by the definition of the class.
3. Ready: a parcel aboard a take-off at t has ready <= t, so its ready slot <= its take-off slot;
   any prefix of take-off slots carries no more than what is ready by then.
4. Deadline: parcel i reaches d at t + (its order's offset) >= k * s + off(d), so
   floor(k + off(d)/s) <= floor(arrival / s) <= floor(due_i / s) when it is on time; hence every
   on-time parcel with due slot <= j has arrival key <= j, and the prefix rows hold.
5. Every item is flown, once: the totals hold.
6. Linking: what the x sorties of one arc and slot carry of an aggregate are parcels eligible there
   by 3-4, so at most U; x is 0 (nothing carried) or >= 1 (U <= U x).
So the plan gives a feasible LP point of objective = its delivery sorties, the LP optimum is <= it,
and since that count is an integer, ceil(LP optimum - tolerance) is a lower bound. Rounding slots
down (take-off slot, durations, arrival key) is what keeps every real plan feasible: each rounding
makes the LP's timing at most as strict as the real one. The per-origin cuts are valid because each
is a bound every plan of the class meets. Aggregating parcels and letting litres and kg ride
separately only relaxes per-parcel constraints further.

With no feasible LP point (a deadline no plan meets, say) the class is empty and any number is a
"bound"; the function then falls back to the cuts' total so the number stays meaningful.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from controller.scheduling.bounds import ModelLimits, fastest_arrival_s, payload_caps
from controller.scheduling.model import Parcel

_TOL = 1e-9


@dataclass(frozen=True, kw_only=True, slots=True)
class FleetModel:
    """A drone model of the fleet with its drones: (start pad, available from, s since the epoch)."""

    limits: ModelLimits
    drones: tuple[tuple[str, float], ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class LpBoundResult:
    """The bound and how it was obtained."""

    bound: int  # ceil(LP optimum - tolerance): a lower bound on delivery sorties
    lp_value: float  # LP optimum (with the cuts)
    cuts_total: int  # sum of the per-origin cuts given (0 if none)
    status: str  # "optimal" or why the LP gave no value
    variables: int
    constraints: int
    build_s: float
    solve_s: float
    # Per model: delivery sorties, and drone-hours (flight + turnaround) in delivery and empty flights,
    # of the LP solution (empty when the LP gave no value): shows whether drone time binds.
    sorties_by_model: dict[str, float] = field(default_factory=dict)
    hours_by_model: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Arc:
    model: str
    origin: str
    end: str
    stops: frozenset[str]
    duration_s: float
    offsets_s: tuple[tuple[str, float], ...]  # least arrival offset per stop


def _lower_energy(model: ModelLimits, a: str, b: str) -> float | None:
    leg = model.routes.leg(a, b)
    if not leg.feasible:
        return None
    return min(leg.energy_base_wh, leg.energy_empty_wh)


def _delivery_arcs(model: ModelLimits, origin: str, dests: Sequence[str], *, max_stops: int,
                   stop_service_s: float) -> list[_Arc]:
    """Return one arc per (stop set, last stop) with the least duration and offsets over flyable orders."""
    arcs: list[_Arc] = []
    for k in range(1, max_stops + 1):
        for subset in itertools.combinations(sorted(dests), k):
            by_end: dict[str, tuple[float, dict[str, float]]] = {}
            for order in itertools.permutations(subset):
                here, t, energy, offs, ok = origin, 0.0, 0.0, {}, True
                for i, stop in enumerate(order):
                    e = _lower_energy(model, here, stop)
                    if e is None:
                        ok = False
                        break
                    t += model.routes.leg(here, stop).duration_s + (stop_service_s if i > 0 else 0.0)
                    energy += e
                    offs[stop] = t
                    here = stop
                if not ok or energy > model.budget_wh + _TOL:
                    continue
                best = by_end.get(order[-1])
                if best is None:
                    by_end[order[-1]] = (t, dict(offs))
                else:
                    merged = {s: min(best[1][s], offs[s]) for s in subset}
                    by_end[order[-1]] = (min(best[0], t), merged)
            for end, (dur, offs) in by_end.items():
                arcs.append(_Arc(model=model.spec.model_id, origin=origin, end=end, stops=frozenset(subset),
                                 duration_s=dur, offsets_s=tuple(sorted(offs.items()))))
    return arcs


def time_indexed_sortie_bound(items: Iterable[tuple[Parcel, str, str]], fleet: Sequence[FleetModel], *,
                              on_time_ids: frozenset[str] | set[str], start_s: float, end_s: float,
                              turnaround_s: float, stop_service_s: float, max_stops: int, slot_s: float = 60.0,
                              origin_cuts: Mapping[str, int] | None = None, include_mass: bool = True,
                              strong_linking: bool = True, time_limit_s: float | None = None) -> LpBoundResult:
    """Return a lower bound on the delivery sorties of any plan of the class in the module docstring.

    Parameters
    ----------
    items: (parcel, origin pad, destination pad) triples the plan must fly (drone legs).
    fleet: the drone models with their drones' start pads and availability (s since the epoch).
    on_time_ids: parcels that must arrive by their `due_at`.
    start_s, end_s: the horizon (s since the epoch).
    turnaround_s: least time (s) between a drone's landing and its next take-off.
    stop_service_s: time (s) spent at each intermediate stop.
    max_stops: the most stops of one sortie.
    slot_s: slot length (s); shorter is tighter and slower.
    origin_cuts: valid lower bounds on sorties per origin pad (e.g. `windowed_sortie_lower_bound`).
    include_mass: add the payload rows (kg) besides the box rows (litres).
    strong_linking: add z <= U x per aggregate, arc and slot (U: what of the aggregate is eligible
        there), so a sortie carrying one small perishable costs a whole sortie, not a fraction.
    time_limit_s: GLOP time limit; if hit, the cuts' total is returned (status says so).

    Returns
    -------
    The bound with LP value, size and build/solve times (s).

    Raises
    ------
    ImportError if OR-Tools is not installed.
    """
    from ortools.linear_solver import pywraplp

    t0 = time.perf_counter()
    items = list(items)
    cuts = dict(origin_cuts or {})
    cuts_total = sum(cuts.values())
    limits = [fm.limits for fm in fleet]
    horizon = end_s - start_s
    n_slots = max(1, math.ceil(horizon / slot_s))

    def slot(t: float) -> int:
        """The slot of time t, clipped into the horizon (floor, no epsilon: never a later slot)."""
        return min(n_slots - 1, max(0, math.floor((t - start_s) / slot_s)))

    # Aggregates per (origin, destination, class): list of (ready slot, due slot or None, litres, kg).
    groups: dict[tuple[str, str, frozenset[str]], list[tuple[int, int | None, float, float]]] = defaultdict(list)
    by_origin: dict[str, list[tuple[Parcel, str]]] = defaultdict(list)
    for p, o, d in items:
        by_origin[o].append((p, d))
    caps: dict[tuple[str, str, str], float] = {}  # (model, origin, dest) -> payload cap (kg)
    dests_of: dict[str, list[str]] = {}
    for o, group in by_origin.items():
        dests = sorted({d for _, d in group})
        dests_of[o] = dests
        for m in limits:
            cap = payload_caps(o, dests, m, max_stops=max_stops)
            for d in dests:
                c = m.spec.max_payload_kg if cap is None else min(m.spec.max_payload_kg, cap[d])
                caps[m.spec.model_id, o, d] = c
        for p, d in group:
            cls = frozenset(
                m.spec.model_id for m in limits
                if p.weight_kg <= m.spec.max_payload_kg + _TOL and p.volume_l <= m.spec.max_box_volume_l + _TOL
                and (p.weight_kg <= 0.0 or caps[m.spec.model_id, o, d] >= p.weight_kg - 1e-6))
            if not cls:
                cls = frozenset(m.spec.model_id for m in limits)  # no plan flies it; stay meaningful
            due = None  # a deadline at or after the horizon end says no more than "land by the end"
            if p.parcel_id in on_time_ids and p.due_at is not None and p.due_at.timestamp() < end_s:
                due = math.floor((p.due_at.timestamp() - start_s) / slot_s)  # < n_slots; < 0: no plan meets it
            groups[o, d, cls].append((slot(max(p.ready_at.timestamp(), start_s)), due, p.volume_l, p.weight_kg))

    solver = pywraplp.Solver.CreateSolver("GLOP")
    if time_limit_s is not None:
        solver.SetTimeLimit(int(time_limit_s * 1000))
    inf = solver.infinity()
    objective = solver.Objective()
    # Flow balance rows per (model, pad, slot): inflow - outflow = -supply.
    pads = sorted({o for o in by_origin} | {d for _, _, d in items} | {pad for fm in fleet for pad, _ in fm.drones})
    balance: dict[tuple[str, str, int], pywraplp.Constraint] = {}
    for fm in fleet:
        mid = fm.limits.spec.model_id
        supply: dict[tuple[str, int], int] = defaultdict(int)
        for pad, avail in fm.drones:
            if avail <= end_s:
                supply[pad, slot(max(avail, start_s))] += 1
        for pad in pads:
            for k in range(n_slots):
                s = supply.get((pad, k), 0)
                balance[mid, pad, k] = solver.Constraint(-s, -s)
        for pad in pads:  # waiting arcs (the last slot's is the sink)
            for k in range(n_slots):
                w = solver.NumVar(0.0, inf, "")
                balance[mid, pad, k].SetCoefficient(w, -1.0)
                if k + 1 < n_slots:
                    balance[mid, pad, k + 1].SetCoefficient(w, 1.0)

    flights: list[tuple[str, float, float, pywraplp.Variable]] = []  # (model, cost, hours, variable)

    def flight(mid: str, a: str, b: str, k: int, dur: float, cost: float) -> pywraplp.Variable:
        v = solver.NumVar(0.0, inf, "")
        flights.append((mid, cost, (dur + turnaround_s) / 3600.0, v))
        balance[mid, a, k].SetCoefficient(v, -1.0)
        head = k + math.floor((dur + turnaround_s) / slot_s)
        if head < n_slots:
            balance[mid, b, head].SetCoefficient(v, 1.0)
        if cost:
            objective.SetCoefficient(v, cost)
        return v

    for fm in fleet:  # empty flights
        m, mid = fm.limits, fm.limits.spec.model_id
        for a in pads:
            for b in pads:
                if a == b:
                    continue
                e = _lower_energy(m, a, b)
                if e is None or e > m.budget_wh + _TOL:
                    continue
                dur = m.routes.leg(a, b).duration_s
                for k in range(n_slots):
                    if k * slot_s + dur <= horizon + 1e-6:
                        flight(mid, a, b, k, dur, 0.0)

    # Per aggregate: departure / arrival-key columns, filled while arcs are built.
    dep_cols: dict[tuple, dict[int, list[pywraplp.Variable]]] = {g: defaultdict(list) for g in groups}
    arr_cols: dict[tuple, dict[int, list[pywraplp.Variable]]] = {g: defaultdict(list) for g in groups}
    mass_dep: dict[tuple, dict[int, list[pywraplp.Variable]]] = {g: defaultdict(list) for g in groups}
    mass_arr: dict[tuple, dict[int, list[pywraplp.Variable]]] = {g: defaultdict(list) for g in groups}
    span = {g: (min(r for r, _, _, _ in rows),
                max(n_slots - 1 if due is None else due for _, due, _, _ in rows)) for g, rows in groups.items()}
    cut_rows = {o: solver.Constraint(float(c), inf) for o, c in cuts.items()}
    eligible_cache: dict[tuple, tuple[float, float]] = {}

    def eligible(g: tuple, k: int, key: int) -> tuple[float, float]:
        """Litres and kg of aggregate g that are ready by slot k and on time with arrival key `key`."""
        hit = eligible_cache.get((g, k, key))
        if hit is None:
            rows = [r for r in groups[g] if r[0] <= k and (r[1] is None or key <= r[1])]
            hit = eligible_cache[g, k, key] = (sum(r[2] for r in rows), sum(r[3] for r in rows))
        return hit

    for o, dests in sorted(dests_of.items()):
        for fm in fleet:
            m, mid = fm.limits, fm.limits.spec.model_id
            mine = [g for g in groups if g[0] == o and mid in g[2]]
            if not mine:
                continue
            for arc in _delivery_arcs(m, o, dests, max_stops=max_stops, stop_service_s=stop_service_s):
                offs = dict(arc.offsets_s)
                riders = [g for g in mine if g[1] in arc.stops]
                if not riders:
                    continue
                lo = min(span[g][0] for g in riders)
                hi = max(span[g][1] for g in riders)
                for k in range(lo, min(hi, n_slots - 1) + 1):
                    if k * slot_s + arc.duration_s > horizon + 1e-6:
                        break
                    x = flight(mid, o, arc.end, k, arc.duration_s, 1.0)
                    if o in cut_rows:
                        cut_rows[o].SetCoefficient(x, 1.0)
                    box = solver.Constraint(-inf, 0.0)
                    box.SetCoefficient(x, -m.spec.max_box_volume_l)
                    pay = solver.Constraint(-inf, 0.0) if include_mass else None
                    if pay is not None:
                        pay.SetCoefficient(x, -1.0)
                    for g in riders:
                        if not span[g][0] <= k <= span[g][1]:
                            continue
                        key = k + math.floor(offs[g[1]] / slot_s)
                        litres, kg = eligible(g, k, key)
                        if litres <= 0.0 and kg <= 0.0:
                            continue  # nothing of g can take off in slot k and be on time
                        z = solver.NumVar(0.0, inf, "")
                        box.SetCoefficient(z, 1.0)
                        if strong_linking:  # z <= U x: one sortie carries at most what is eligible
                            row = solver.Constraint(-inf, 0.0)
                            row.SetCoefficient(z, 1.0)
                            row.SetCoefficient(x, -litres)
                        dep_cols[g][k].append(z)
                        arr_cols[g][key].append(z)
                        if pay is not None:
                            zw = solver.NumVar(0.0, inf, "")
                            pay.SetCoefficient(zw, 1.0 / max(caps[mid, o, g[1]], 1e-9))
                            if strong_linking:
                                row = solver.Constraint(-inf, 0.0)
                                row.SetCoefficient(zw, 1.0)
                                row.SetCoefficient(x, -kg)
                            mass_dep[g][k].append(zw)
                            mass_arr[g][key].append(zw)

    # Ready, deadline and total rows as prefix sums (one running-sum variable per slot keeps them sparse).
    def prefix_rows(g, cols_dep, cols_arr, size: int) -> None:
        rows = groups[g]
        total = sum(r[size] for r in rows)
        ready_by = defaultdict(float)
        due_by = defaultdict(float)
        for r in rows:
            ready_by[r[0]] += r[size]
            if r[1] is not None:
                due_by[max(r[1], 0)] += r[size]
        lo, hi = span[g]
        run_dep = run_arr = None
        ready_cum = due_cum = 0.0
        for j in range(lo, n_slots):
            ready_cum += ready_by.get(j, 0.0)
            due_cum += due_by.get(j, 0.0)
            dep = solver.NumVar(0.0, inf, "")
            arr = solver.NumVar(0.0, inf, "")
            for (cum, prev, cols) in ((dep, run_dep, cols_dep), (arr, run_arr, cols_arr)):
                row = solver.Constraint(0.0, 0.0)  # cum = prev + this slot's columns
                row.SetCoefficient(cum, 1.0)
                if prev is not None:
                    row.SetCoefficient(prev, -1.0)
                for z in cols.get(j, ()):
                    row.SetCoefficient(z, -1.0)
            solver.Constraint(-inf, ready_cum).SetCoefficient(dep, 1.0)
            if due_cum > 0.0:
                solver.Constraint(due_cum, inf).SetCoefficient(arr, 1.0)
            run_dep, run_arr = dep, arr
        # Arrival keys past the last slot meet no deadline; the total is counted on the departure side.
        solver.Constraint(total, total).SetCoefficient(run_dep, 1.0)

    for g in groups:
        prefix_rows(g, dep_cols[g], arr_cols[g], 2)
        if include_mass:
            prefix_rows(g, mass_dep[g], mass_arr[g], 3)

    objective.SetMinimization()  # coefficients were set with the arcs
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    status = solver.Solve()
    solve_s = time.perf_counter() - t1
    n_vars, n_rows = solver.NumVariables(), solver.NumConstraints()
    if status != pywraplp.Solver.OPTIMAL:
        why = {pywraplp.Solver.INFEASIBLE: "infeasible (no plan of the class exists)"}.get(status, f"status {status}")
        return LpBoundResult(bound=cuts_total, lp_value=math.nan, cuts_total=cuts_total, status=why,
                             variables=n_vars, constraints=n_rows, build_s=build_s, solve_s=solve_s)
    value = objective.Value()
    # GLOP's optimum is exact up to its feasibility tolerances (~1e-7 relative): stay below them.
    bound = max(cuts_total, math.ceil(value - 1e-4 * max(1.0, abs(value)) ** 0.5 - 1e-6))
    sorties: dict[str, float] = defaultdict(float)
    hours: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for mid, cost, h, v in flights:
        val = v.solution_value()
        sorties[mid] += cost * val
        hours[mid][0 if cost else 1] += h * val
    return LpBoundResult(bound=bound, lp_value=value, cuts_total=cuts_total, status="optimal",
                         variables=n_vars, constraints=n_rows, build_s=build_s, solve_s=solve_s,
                         sorties_by_model=dict(sorties), hours_by_model={m: (a, b) for m, (a, b) in hours.items()})


def fleet_models(scheduler) -> list[FleetModel]:
    """Return the fleet of a `planner.Scheduler` as `FleetModel`s (flyable models only)."""
    out = []
    for s in scheduler.fleet_specs:
        if s.model_id not in scheduler.evaluators:
            continue
        drones = tuple((d.pad_id, d.available_at.timestamp()) for d in scheduler.p.drones if d.model_id == s.model_id)
        out.append(FleetModel(limits=ModelLimits(spec=s, routes=scheduler.evaluators[s.model_id],
                                                 budget_wh=scheduler.budget_wh(s)), drones=drones))
    return out


__all__ = ["FleetModel", "LpBoundResult", "fastest_arrival_s", "fleet_models", "time_indexed_sortie_bound"]
