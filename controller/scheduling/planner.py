"""The scheduler: classify, consolidate, assign loads to drones over time, deconflict, fall back.

Algorithm (construction + local search, chosen on evidence: see `benchmarks/scheduler_bench.py`):

1. Classify every parcel: unknown place -> unassigned; no pad, too heavy/large, out of range,
   fenced off, or all drones grounded for the whole horizon -> surface candidate (with the reason).
2. Consolidate per origin pad (`packing.Packer`): few, full, multi-stop loads (objective 2 and 3);
   perishables are packed apart from parcels without a deadline, so their loads carry no freight
   that could wait (objective 1); that freight still fills spare room later (`top_up`). When the
   fleet turns out to have time to spare, `schedule` plans again with mixed loads and keeps the
   better plan (objective order).
3. Assign loads to drones in deadline order (earliest latest-departure of perishables first, then
   other deadlines, then ready time). For each load pick the drone by
   (perishables late, larger model first, extra reposition sortie needed, energy, arrival time) -
   the objective order: a larger model's spare room lets `top_up` add parcels (fewer sorties).
   Drones fly several trips, swap batteries between sorties, and wait out grounding wind.
   Perishables no drone delivers in time do not fly late (that drone time can save another
   perishable); an on-time ferry/bus, the rescue (step 5) or the report takes them.
   A reposition sortie is flown empty only when no waiting load at the drone's pad goes there.
4. Place each sortie in 4D (`airspace`): preferred layer, else another layer, else shift.
   Then re-pack (`Scheduler.top_up`): placed sorties with spare payload/volume take parcels for
   their stops that would otherwise not fly (fleet out of time), limits re-checked, times unchanged.
5. Rescue (`rescue_perishables`, objective 1): perishables that did not fly and have no on-time
   ferry/bus get flights in the drones' idle windows - typically a smaller model, whose box the
   hauler-sized loads did not fit - with an empty flight to the parcel's pad and back to where the
   drone's next sortie leaves if needed; placed sorties keep their times.
6. Parcels that do not fly go to the next ferry/bus run with room, with the reason; what cannot
   be served within the horizon is reported unassigned with the reason. Perishables the ferry/bus
   brings late or cannot take get a second rescue, and the boxes they free go to the unserved.
7. Merge (`merge_rescue_flights`): a rescue delivery whose parcels a later placed flight from the same
   pad brings in time (with room, or with room made by moving one of its parcels to another flight
   that still brings it in time) moves there, and its chain (with empty flights in/back) is dropped.
   Then (`repack_rescues`) the parcels of the regular one-stop flights from a pad to a stop are
   re-assigned among them (`repack.make_room`, a tabu search on overflow) to make room for a rescue's
   parcels; each rescue that fits goes too (10 000-parcel bench: 384 -> 374 delivery sorties).
   The same re-assignment then empties regular flights, least full first (`repack_flights`): a flight
   whose parcels all find room on the others goes, with the empty flights its drone no longer needs,
   or together with the empty flight next to it replaced by one empty flight (374 -> 368).
   Then parcels still unserved top up placed deliveries; empty positioning flights take only
   perishables that would otherwise miss their deadline (`top_up_unserved`).

Bus + drone journeys: a parcel whose origin or destination has no pad, but lies on a bus line that
also calls at a service point with a pad (the hub), and that no single ferry/bus line serves end to
end, is flown between hubs (`model.Journey`). First mile: the next bus with room takes it to the
hub (reserved during classification; its drone leg is ready when the bus arrives). Last mile: the
drone leg's deadline is the latest bus departure from the hub that arrives in time, and after the
sortie is placed the first bus with room after the drop carries it on. If the drone leg does not
fly, the bus reservation is released and the parcel is routed by surface as a whole.

Deterministic: all ties break on ids; the only randomness (local-search order) uses `seed`.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from controller.scheduling.airspace import Airspace, PadSlots, Segment
from controller.scheduling.bounds import ModelLimits, sortie_lower_bound, windowed_sortie_lower_bound
from controller.scheduling.estimator import LegEstimator, LegMatrix
from controller.scheduling.model import (
    DroneSpec,
    DroneState,
    Journey,
    Parcel,
    PlannedSortie,
    SchedulePlan,
    SchedulingProblem,
    SeparationDecision,
    SortieLeg,
    Unassigned,
    Wind,
)
from controller.scheduling.packing import Load, Packer
from controller.scheduling.repack import Bin, Item, make_room
from controller.scheduling.routes import RouteEval, RouteEvaluator
from controller.scheduling.surface import SurfaceRouter


_TOP_UP_MISSES = 400  # candidates that do not fit before `top_up` gives up on a sortie
_RESCUE_TRIES = 8  # drone windows tried per perishable in `rescue_perishables` (best estimate first)


def _ts(t: datetime) -> float:
    return t.timestamp()


def _dt(t_s: float) -> datetime:
    return datetime.fromtimestamp(round(t_s, 3), tz=UTC)


def flyable(spec: DroneSpec, wind: Wind, gust_factor: float) -> bool:
    """Return whether `spec` may fly in `wind` (mean and gust limits; gust estimated if unknown)."""
    return wind.speed_m_s <= spec.max_wind_m_s and wind.gust_or(gust_factor) <= spec.max_gust_m_s


@dataclass(kw_only=True, eq=False)
class _Drone:
    state: DroneState
    spec: DroneSpec
    pad: str
    free_s: float
    soc_wh: float
    flown: int = 0
    # Placed sorties, by departure: (depart s, arrive s, origin pad, last stop). Assignment appends
    # at the end; `rescue_perishables` also inserts flights into the idle gaps between them.
    busy: list[tuple[float, float, str, str]] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Timing:
    depart_s: float
    arrive_s: float
    energy_wh: float
    wind: Wind
    leg_energy_wh: tuple[float, ...]
    late: tuple[str, ...]
    swap_before: bool
    soc_wh: float


@dataclass(kw_only=True, eq=False)
class _Flown:
    """Working state of a placed delivery sortie, kept so that `top_up` can load more onto it."""

    index: int  # in Scheduler.sorties
    drone: _Drone
    origin: str
    route: RouteEval
    parcels: list[tuple[Parcel, str]]
    timing: _Timing


@dataclass(kw_only=True, eq=False)
class _RepackGroup:
    """One-stop deliveries from one pad to one stop, as bins for `repack.make_room` (`repack_rescues`,
    `repack_flights`)."""

    hosts: list[_Flown]  # by departure
    bins: list[Bin]
    carried: list[tuple[tuple[Parcel, str], int]]  # (parcel, stop) and the host carrying it
    items: list[Item]  # per carried parcel: size and the hosts it may ride (ready there, on time)
    departs: list[float]  # per host: take-off (s)
    arrives: list[float]  # per host: landing at the stop (s)
    gone: set[int] = field(default_factory=set)  # hosts dropped
    version: int = 0  # loads changed this many times
    failed_at: dict[int, int] = field(default_factory=dict)  # host -> version at its last failed try


@dataclass(kw_only=True)
class _Candidate:
    drone: _Drone
    route: RouteEval
    reposition: RouteEval | None
    repo_timing: _Timing | None
    timing: _Timing
    key: tuple = field(default=())


class Scheduler:
    """Plan one scheduling problem; use `plan_schedule` unless you need the internals."""

    def __init__(self, problem: SchedulingProblem, estimator: LegEstimator, *, seed: int = 0,
                 mixed_loads: bool = False) -> None:
        self.p = problem
        self.mixed_loads = mixed_loads  # perishables and freight in the same loads (see `schedule`)
        self.cfg = problem.config
        self.rng = random.Random(seed)
        self.matrix = LegMatrix(estimator, payload_bucket_kg=self.cfg.payload_bucket_kg)
        self.start_s = _ts(problem.start_at)
        self.end_s = _ts(problem.horizon_end_at)
        self.winds_in_horizon = problem.wind.over(problem.start_at, problem.horizon_end_at)
        self.fleet_specs = sorted({problem.drone_specs[d.model_id] for d in problem.drones},
                                  key=lambda s: (-s.max_payload_kg, -s.usable_wh, s.model_id))
        self.flyable_winds = {
            s.model_id: [w for w in self.winds_in_horizon if flyable(s, w, self.cfg.gust_factor)]
            for s in self.fleet_specs
        }
        self.evaluators = {
            s.model_id: RouteEvaluator(self.matrix, s, self.flyable_winds[s.model_id],
                                       stop_service_s=self.cfg.stop_service_s)
            for s in self.fleet_specs if self.flyable_winds[s.model_id]
        }
        self.airspace = Airspace(layers_m=self.cfg.altitude_layers_m(),
                                 horizontal_separation_m=self.cfg.horizontal_separation_m)
        self.pad_slots = PadSlots({pid: pad.capacity for pid, pad in problem.pads.items()})
        self.surface = SurfaceRouter(problem.surface_lines, horizon_end_at=problem.horizon_end_at,
                                     config=self.cfg)
        self._moved_to_surface: list[Parcel] = []  # perishables a late drone gave to an on-time ferry/bus
        self._routes_seen: dict[tuple, RouteEval] = {}  # (model, origin, drops) -> best_order
        self.sorties: list[PlannedSortie] = []
        self._flown: list[_Flown] = []
        # Placed empty positioning flights not yet given parcels (`top_up` may turn one into a delivery).
        self._empty: list[_Flown] = []
        # Rescue chains (`_insert`): indices in `sorties` of [empty flight in], the delivery, [empty flight
        # back]. Removing a whole chain leaves the drone's day as it was before the rescue.
        self._chains: list[list[int]] = []
        self._removed: set[int] = set()  # indices of sorties merged away (`merge_rescue_flights`)
        self.unassigned: list[Unassigned] = []
        self.to_surface: list[tuple[Parcel, str]] = []
        self._why_not_flown: dict[str, str] = {}  # unassigned parcel id -> why it did not fly
        self.counters = {"layer_changes": 0, "departure_shifts": 0, "productive_repositions": 0,
                         "last_mile_without_bus": 0, "topped_up_parcels": 0,
                         "rescue_flights": 0, "rescued_perishables": 0,
                         "box_freeing_parcels": 0, "boxes_given_to_missed": 0,
                         "loaded_repositions": 0, "merged_rescue_flights": 0,
                         "parcels_moved_for_rescues": 0, "repacked_rescue_flights": 0,
                         "repacked_flights": 0, "bypass_flights": 0}
        self.hubs = bus_hubs(problem)
        self.journeys: dict[str, Journey] = {}
        self.originals: dict[str, Parcel] = {}  # parcel id -> the input parcel of a bus + drone journey
        self.drone_parcels: dict[str, Parcel] = {}  # parcel id -> its drone leg (hub to hub)

    # -- budgets and wind --------------------------------------------------------------------

    def budget_wh(self, spec: DroneSpec, soc_wh: float | None = None) -> float:
        """Return energy a sortie may use (Wh): usable charge above the unusable part, minus reserve."""
        soc = spec.battery_wh if soc_wh is None else soc_wh
        unusable = spec.battery_wh * (1.0 - spec.usable_fraction)
        return soc - unusable - self.cfg.reserve_fraction * spec.usable_wh

    def _next_flyable_s(self, spec: DroneSpec, t_s: float, duration_s: float) -> float | None:
        candidates = [t_s] + [_ts(c) for c in self.p.wind.change_times_after(_dt(t_s))]
        for c in candidates:
            if c + duration_s > self.end_s:
                return None
            winds = self.p.wind.over(_dt(c), _dt(c + duration_s))
            if all(flyable(spec, w, self.cfg.gust_factor) for w in winds):
                return c
        return None

    # -- classification ---------------------------------------------------------------------

    def _grounded_reason(self) -> str:
        worst = max(self.winds_in_horizon, key=lambda w: w.speed_m_s)
        limits = ", ".join(f"{s.model_id} max {s.max_wind_m_s:g} m/s gust {s.max_gust_m_s:g} m/s"
                           for s in self.fleet_specs)
        return (f"drones grounded for the whole horizon: wind {worst.speed_m_s:g} m/s, gust "
                f"{worst.gust_or(self.cfg.gust_factor):g} m/s exceeds limits ({limits})")

    def _classify(self) -> dict[str, list[tuple[Parcel, str]]]:
        """Return flyable (parcel, destination pad) per origin pad; route the rest."""
        sp = self.p.service_point_pads
        flying: dict[str, list[tuple[Parcel, str]]] = {}
        ref = next((s for s in self.fleet_specs if s.model_id in self.evaluators), None)
        packers = {s.model_id: self._packer(s) for s in self.fleet_specs if s.model_id in self.evaluators}
        for parcel in self.p.parcels:
            if parcel.origin not in sp:
                self.unassigned.append(Unassigned(parcel_id=parcel.parcel_id,
                                                  reason=f"unknown origin service point {parcel.origin!r}"))
                continue
            if parcel.destination not in sp:
                self.unassigned.append(Unassigned(
                    parcel_id=parcel.parcel_id, reason=f"unknown destination service point {parcel.destination!r}"))
                continue
            if parcel.origin == parcel.destination:
                self.unassigned.append(Unassigned(parcel_id=parcel.parcel_id,
                                                  reason="origin and destination are the same service point"))
                continue
            if parcel.ready_at > self.p.horizon_end_at:
                self.unassigned.append(Unassigned(parcel_id=parcel.parcel_id,
                                                  reason="ready only after the planning horizon ends"))
                continue
            o_pad, d_pad = sp[parcel.origin], sp[parcel.destination]
            if o_pad is None or d_pad is None:
                drone_leg = self._journey(parcel) if self.p.drones and ref is not None else None
                if drone_leg is None:
                    where = parcel.origin if o_pad is None else parcel.destination
                    self.to_surface.append((parcel, f"no drone pad at {where}"))
                    continue
                parcel = drone_leg
                o_pad, d_pad = sp[parcel.origin], sp[parcel.destination]
            if not self.p.drones:
                self.to_surface.append((parcel, "no drones in the fleet"))
                continue
            if ref is None:
                self.to_surface.append((parcel, self._grounded_reason()))
                continue
            reason = packers[ref.model_id].single_reason(o_pad, parcel, d_pad)
            if reason is not None:
                # The biggest flyable model cannot; a smaller one cannot either unless it has more range.
                others = [s for s in self.fleet_specs if s.model_id in self.evaluators and s is not ref]
                if not any(packers[s.model_id].single_reason(o_pad, parcel, d_pad) is None for s in others):
                    self.to_surface.append((parcel, reason))
                    continue
            flying.setdefault(o_pad, []).append((parcel, d_pad))
        return flying

    def _journey(self, parcel: Parcel) -> Parcel | None:
        """Return the drone leg of a bus + drone journey for `parcel` (reserving its first-mile bus), or None."""
        sp = self.p.service_point_pads
        if self.surface.has_route(parcel.origin, parcel.destination):
            return None  # one ferry/bus does it end to end: no transfer needed
        origin, dest, ready, due = parcel.origin, parcel.destination, parcel.ready_at, parcel.due_at
        first_line = last_line = None
        if sp[origin] is None:
            best = None
            for hub in self.hubs.get(origin, ()):
                if hub == dest:
                    continue
                leg = dataclasses.replace(parcel, destination=hub)
                opt = self.surface.best_option(leg, max(ready, self.p.start_at), modes=("bus",), connecting=True)
                if opt is not None and (best is None or opt.arrive_at < best[1].arrive_at):
                    best = (leg, opt, hub)
            if best is None:
                return None
            leg, opt, origin = best
            if sp[dest] is None and not [h for h in self.hubs.get(dest, ()) if h != origin]:
                return None
            self.surface.assign(leg, opt, f"first mile by bus to the drone pad at {origin}", connecting=True)
            first_line, ready = opt.line_id, opt.arrive_at
        if sp[dest] is None:
            hubs = [h for h in self.hubs.get(dest, ()) if h != origin]
            if not hubs:
                return None
            o = self.p.pads[sp[origin]]  # type: ignore[index]
            hub = min(hubs, key=lambda h: (math.dist((o.x_m, o.y_m), (self.p.pads[sp[h]].x_m,  # type: ignore[index]
                                                                       self.p.pads[sp[h]].y_m)), h))  # type: ignore[index]
            last_line = "?"  # set when the bus leg is booked after the sortie is placed
            if due is not None:
                due = self.surface.latest_departure(hub, dest, due, modes=("bus",)) or due
            dest = hub
        drone_leg = dataclasses.replace(parcel, origin=origin, destination=dest, ready_at=ready, due_at=due)
        self.journeys[parcel.parcel_id] = Journey(parcel_id=parcel.parcel_id, drone_origin=origin,
                                                  drone_destination=dest, first_mile_line_id=first_line,
                                                  last_mile_line_id=last_line)
        self.originals[parcel.parcel_id] = parcel
        self.drone_parcels[parcel.parcel_id] = drone_leg
        return drone_leg

    def route_last_mile(self) -> None:
        """Book the bus from the hub for every flown parcel whose destination has no pad."""
        drops = sorted((leg.arrive_at, pid) for s in self.sorties for leg in s.legs for pid in leg.drop_parcel_ids
                       if pid in self.journeys and self.journeys[pid].last_mile_line_id is not None)
        for arrive_at, pid in drops:
            j = self.journeys[pid]
            leg = dataclasses.replace(self.originals[pid], origin=j.drone_destination)
            earliest = arrive_at + timedelta(seconds=self.cfg.pad_slot_s)  # unload into the bus locker
            opt = self.surface.best_option(leg, earliest, modes=("bus",), connecting=True)
            if opt is None:
                self.counters["last_mile_without_bus"] += 1
                self.journeys[pid] = dataclasses.replace(j, last_mile_line_id=None)
                continue
            self.surface.assign(leg, opt, f"last mile by bus locker from the drone pad at {j.drone_destination}",
                                connecting=True)
            self.journeys[pid] = dataclasses.replace(j, last_mile_line_id=opt.line_id)

    def _packer(self, spec: DroneSpec) -> Packer:
        return Packer(self.evaluators[spec.model_id], budget_wh=self.budget_wh(spec),
                      max_stops=self.cfg.max_stops, latest_landing_at=self.p.horizon_end_at,
                      rng=self.rng, passes=self.cfg.improvement_passes)

    # -- consolidation ------------------------------------------------------------------------

    def consolidate(self, flying: dict[str, list[tuple[Parcel, str]]]) -> list[Load]:
        """Return loads for all flyable parcels, packed for the largest flyable model at each origin."""
        loads: list[Load] = []
        for origin in sorted(flying):
            items = flying[origin]
            # Pack for the largest model; parcels only a smaller (longer-range) model can fly get
            # their own packing for that model.
            specs = [s for s in self.fleet_specs if s.model_id in self.evaluators]
            remaining = items
            for spec in specs:
                packer = self._packer(spec)
                ok = [(p, d) for p, d in remaining if packer.single_reason(origin, p, d) is None]
                # Perishables get loads of their own (objective 1): mixed loads spent box room on
                # parcels without a deadline while perishables waited for a drone; those parcels
                # still fill spare room later (`top_up`, `rescue_perishables`). With drone time to
                # spare, `schedule` also tries mixed loads.
                urgent = [(p, d) for p, d in ok if p.perishable and p.due_at is not None]
                rest = [(p, d) for p, d in ok if not (p.perishable and p.due_at is not None)]
                for part in ((ok,) if self.mixed_loads else (urgent, rest)):
                    if part:
                        loads.extend(packer.pack(origin, part, next_id=len(loads)))
                ok_ids = {p.parcel_id for p, _ in ok}
                remaining = [(p, d) for p, d in remaining if p.parcel_id not in ok_ids]
        for load_id, load in enumerate(loads):
            load.load_id = load_id
        return loads

    # -- timing of one sortie ----------------------------------------------------------------

    def _flight_energy(self, spec: DroneSpec, origin: str, route: RouteEval, depart_s: float
                       ) -> tuple[float, Wind, tuple[float, ...]]:
        """Return the sortie's energy (Wh) in the worst wind in force while it flies, that wind,
        and the energy per leg, from the estimator at each leg's actual payload."""
        winds = self.p.wind.over(_dt(depart_s), _dt(depart_s + route.duration_s))
        best: tuple[float, Wind, tuple[float, ...]] | None = None
        for w in winds:
            here = origin
            energies = []
            for stop, payload in zip(route.stops, route.leg_payloads_kg):
                energies.append(self.matrix.raw(here, stop, spec, payload, w).energy_wh)
                here = stop
            total = sum(energies)
            if best is None or total > best[0]:
                best = (total, w, tuple(energies))
        assert best is not None
        return best

    def _timing(self, drone: _Drone, origin: str, route: RouteEval, earliest_s: float,
                parcels: list[tuple[Parcel, str]], soc_wh: float, swapped: bool) -> _Timing | None:
        spec = drone.spec
        depart = self._next_flyable_s(spec, max(earliest_s, self.start_s), route.duration_s)
        if depart is None:
            return None
        energy, wind, leg_e = self._flight_energy(spec, origin, route, depart)
        swap = False
        if energy > self.budget_wh(spec, soc_wh):
            if swapped or energy > self.budget_wh(spec):
                return None
            # Swap the battery first, then re-time (the swap takes a turnaround).
            return self._timing(drone, origin, route, earliest_s + self.cfg.turnaround_s, parcels,
                                spec.battery_wh, True)
        swap = swapped
        offsets = dict(zip(route.stops, route.arrival_offsets_s))
        late = tuple(p.parcel_id for p, d in parcels
                     if p.perishable and p.due_at is not None and depart + offsets[d] > _ts(p.due_at) + 1e-6)
        return _Timing(depart_s=depart, arrive_s=depart + route.duration_s, energy_wh=energy, wind=wind,
                       leg_energy_wh=leg_e, late=late, swap_before=swap, soc_wh=soc_wh)

    # -- assignment ----------------------------------------------------------------------------

    def _candidate(self, drone: _Drone, load: Load) -> _Candidate | None:
        spec = drone.spec
        ev = self.evaluators.get(spec.model_id)
        if ev is None or load.weight_kg > spec.max_payload_kg + 1e-9 or load.volume_l > spec.max_box_volume_l + 1e-9:
            return None
        drops = load.drops()
        # Every drone of a model asks for the same route: evaluate it once per model and load content.
        route_key = (spec.model_id, load.origin_pad, tuple(sorted(drops.items())))
        route = self._routes_seen.get(route_key)
        if route is None:
            route = self._routes_seen[route_key] = ev.best_order(load.origin_pad, drops)
        if not route.feasible or route.energy_wh > self.budget_wh(spec) + 1e-9:
            return None
        ready_s = max(_ts(load.ready_at), self.start_s)
        free_s, soc = drone.free_s, drone.soc_wh
        repo = repo_timing = None
        if drone.pad != load.origin_pad:
            repo = ev.evaluate(drone.pad, (load.origin_pad,), {load.origin_pad: 0.0})
            if not repo.feasible:
                return None
            repo_timing = self._timing(drone, drone.pad, repo, free_s, [], soc, False)
            if repo_timing is None:
                return None
            free_s = repo_timing.arrive_s + self.cfg.turnaround_s
            soc = spec.battery_wh  # swapped during the turnaround at the load's pad
        timing = self._timing(drone, load.origin_pad, route, max(free_s, ready_s), load.parcels, soc, False)
        if timing is None:
            return None
        energy = timing.energy_wh + (repo_timing.energy_wh if repo_timing else 0.0)
        # Objective order. Sorties (2) before energy (3): a larger model takes the load even when a
        # smaller one would use less energy, because its spare payload and box can take more parcels
        # later (`top_up`), so the same parcels need fewer sorties. Measured on the 10 000-parcel
        # bench: gap 6.0 -> 4.6 %, delivery + reposition sorties 480 -> 452, late perishables equal;
        # cost: when the fleet runs out of time, ~3 % fewer parcels fly (they go by surface).
        key = (len(timing.late), -spec.max_payload_kg, -spec.max_box_volume_l, repo is not None,
               round(energy, 3), round(timing.arrive_s, 3), drone.state.drone_id)
        return _Candidate(drone=drone, route=route, reposition=repo, repo_timing=repo_timing,
                          timing=timing, key=key)

    def _load_order_key(self, load: Load) -> tuple:
        assert load.route is not None
        offsets = dict(zip(load.route.stops, load.route.arrival_offsets_s))
        perishable = [_ts(p.due_at) - offsets[d] for p, d in load.parcels if p.perishable and p.due_at]
        other = [_ts(p.due_at) - offsets[d] for p, d in load.parcels if not p.perishable and p.due_at]
        if perishable:
            return (0, min(perishable), _ts(load.ready_at), load.load_id)
        if other:
            return (1, min(other), _ts(load.ready_at), load.load_id)
        return (2, 0.0, _ts(load.ready_at), load.load_id)

    def assign(self, loads: list[Load], drones: list[_Drone]) -> None:
        """Assign every load to a drone sortie, or send its parcels to the surface fallback."""
        pending = sorted(loads, key=self._load_order_key)
        by_origin_dest: dict[tuple[str, str], list[Load]] = {}
        for load in pending:
            assert load.route is not None
            by_origin_dest.setdefault((load.origin_pad, load.route.stops[-1]), []).append(load)
        done: set[int] = set()
        for load in pending:
            if load.load_id in done:
                continue
            done.add(load.load_id)
            self._assign_one(load, drones, by_origin_dest, done)

    def _assign_one(self, load: Load, drones: list[_Drone], by_od: dict[tuple[str, str], list[Load]],
                    done: set[int]) -> None:
        # One representative per (pad, model): the earliest free drone; others there are no better.
        reps: dict[tuple[str, str], _Drone] = {}
        for d in drones:
            k = (d.pad, d.spec.model_id)
            if k not in reps or (d.free_s, d.state.drone_id) < (reps[k].free_s, reps[k].state.drone_id):
                reps[k] = d
        cands = [c for c in (self._candidate(d, load) for d in reps.values()) if c is not None]
        if not cands:
            why = "no drone can fly it within the planning horizon (fleet busy or grounded)"
            for p, _ in load.parcels:
                self.to_surface.append((p, why))
            return
        best = min(cands, key=lambda c: c.key)
        if best.timing.late:
            # A ferry/bus that arrives in time beats a late drone for perishables (objective 1).
            moved = []
            for p, _ in load.parcels:
                if p.parcel_id in best.timing.late and p.parcel_id not in self.journeys:
                    opt = self.surface.best_option(p, max(p.ready_at, self.p.start_at))
                    if opt is not None and p.due_at is not None and opt.arrive_at <= p.due_at:
                        self.surface.assign(p, opt, "no drone can deliver it before its deadline; "
                                                    f"{opt.mode} {opt.line_id} arrives in time")
                        self._moved_to_surface.append(p)
                        moved.append(p.parcel_id)
            # A perishable that would arrive late misses its deadline whether it flies late or not at
            # all (objective 1), but flying it spends drone time another perishable could arrive in:
            # leave it out (it may still get an idle drone in time, `rescue_perishables`, or a ferry/bus).
            # 10 000-parcel bench: perishables missing their deadline 1231 -> 1075.
            for p, _ in load.parcels:
                if p.parcel_id in best.timing.late and p.parcel_id not in moved:
                    self.to_surface.append((p, "no drone can deliver it before its deadline"))
                    moved.append(p.parcel_id)
            if moved:
                load.parcels = [(p, d) for p, d in load.parcels if p.parcel_id not in moved]
                if not load.parcels:
                    return
                load.weight_kg = sum(p.weight_kg for p, _ in load.parcels)
                load.volume_l = sum(p.volume_l for p, _ in load.parcels)
                load.route = next(iter(self.evaluators.values())).best_order(load.origin_pad, load.drops())
                self._assign_one(load, drones, by_od, done)
                return
        drone = best.drone
        if best.reposition is not None and best.repo_timing is not None:
            carried = self._productive_reposition(drone, load.origin_pad, by_od, done)
            if carried is not None:
                if self._assign_to(drone, carried):
                    self.counters["productive_repositions"] += 1
                    done.add(carried.load_id)
                    # The drone now stands at the load's origin: re-plan this load from scratch.
                    self._assign_one(load, drones, by_od, done)
                    return
                done.discard(carried.load_id)
            if not self._commit(drone, best.reposition, drone.pad, [], best.repo_timing, purpose="reposition"):
                for p, _ in load.parcels:
                    self.to_surface.append((p, "no conflict-free drone slot within the planning horizon"))
                return
        if not self._assign_to(drone, load):
            for p, _ in load.parcels:
                self.to_surface.append((p, "no conflict-free drone slot within the planning horizon"))

    def _productive_reposition(self, drone: _Drone, target_pad: str, by_od: dict[tuple[str, str], list[Load]],
                               done: set[int]) -> Load | None:
        """Return a waiting load at the drone's pad that ends at `target_pad`, so no empty flight is needed."""
        for cand in by_od.get((drone.pad, target_pad), []):
            if cand.load_id in done or len(cand.route.stops if cand.route else ()) != 1:
                continue
            if _ts(cand.ready_at) > drone.free_s + 1e-6:
                continue
            c = self._candidate(drone, cand)
            if c is not None and not c.timing.late and c.reposition is None:
                return cand
        return None

    def _assign_to(self, drone: _Drone, load: Load) -> bool:
        c = self._candidate(drone, load)
        if c is None or c.reposition is not None:
            return False
        return self._commit(drone, c.route, load.origin_pad, load.parcels, c.timing, purpose="delivery")

    # -- placement -----------------------------------------------------------------------------

    def _segments(self, origin: str, route: RouteEval, depart_s: float) -> tuple[Segment, ...]:
        segs: list[Segment] = []
        here = origin
        leg_start = depart_s
        for leg, arr_off in zip(route.legs, route.arrival_offsets_s):
            leg_end = depart_s + arr_off
            a, b = self.p.pads[here], self.p.pads[leg.to_pad]
            path = leg.path_xy_m or ((a.x_m, a.y_m), (b.x_m, b.y_m))
            lengths = [math.dist(path[i], path[i + 1]) for i in range(len(path) - 1)]
            total = sum(lengths) or 1.0
            t = leg_start
            for i, seg_len in enumerate(lengths):
                t_next = t + (leg_end - leg_start) * seg_len / total
                segs.append((t, t_next, path[i][0], path[i][1], path[i + 1][0], path[i + 1][1]))
                t = t_next
            if not lengths:
                segs.append((leg_start, leg_end, a.x_m, a.y_m, b.x_m, b.y_m))
            here = leg.to_pad
            leg_start = leg_end + self.cfg.stop_service_s
        return tuple(segs)

    def _pad_ops(self, origin: str, route: RouteEval, depart_s: float) -> list[tuple[str, float, float]]:
        slot, service = self.cfg.pad_slot_s, self.cfg.stop_service_s
        ops = [(origin, depart_s - slot, depart_s)]
        for i, (stop, off) in enumerate(zip(route.stops, route.arrival_offsets_s)):
            last = i == len(route.stops) - 1
            ops.append((stop, depart_s + off, depart_s + off + (slot if last else service)))
        return ops

    def _place(self, sortie_id: str, spec: DroneSpec, origin: str, route: RouteEval, depart_s: float
               ) -> tuple[float, float, SeparationDecision] | None:
        slot = self._find_slot(spec, origin, route, depart_s)
        if slot is None:
            return None
        self._reserve(sortie_id, origin, route, slot)
        return slot[0], slot[1], slot[2]

    def _find_slot(self, spec: DroneSpec, origin: str, route: RouteEval, depart_s: float,
                   latest_s: float | None = None) -> tuple[float, float, SeparationDecision, tuple] | None:
        """Return (departure s, layer m, decision, segments) of the first conflict-free slot at or after
        `depart_s` (shifted by steps up to the configured maximum and `latest_s`), without reserving it."""
        layers = self.airspace.layers_m
        base = self._segments(origin, route, 0.0)
        shift = 0.0
        blocked_by: list[str] = []
        pad_busy = False
        last = depart_s + self.cfg.max_departure_shift_s + 1e-9
        if latest_s is not None:
            last = min(last, latest_s + 1e-9)
        while depart_s + shift <= last:
            t = depart_s + shift
            if t + route.duration_s > self.end_s:
                return None
            t_fly = self._next_flyable_s(spec, t, route.duration_s)
            if t_fly is None:
                return None
            if t_fly > t:
                shift = t_fly - depart_s
                continue
            if all(self.pad_slots.fits(pad, a, b) for pad, a, b in self._pad_ops(origin, route, t)):
                segs = tuple((a + t, b + t, x0, y0, x1, y1) for a, b, x0, y0, x1, y1 in base)
                conflicts_per_layer: list[list[str]] = []
                for layer in layers:
                    conflicts = self.airspace.conflicts(segs, layer)
                    if not conflicts:
                        avoided = tuple(sorted({c for cs in conflicts_per_layer for c in cs} | set(blocked_by)))
                        reason = self._reason(layer, layers[0], shift, conflicts_per_layer, blocked_by, pad_busy)
                        return t, layer, SeparationDecision(altitude_m=layer, shift_s=shift, reason=reason,
                                                            avoided_sortie_ids=avoided), segs
                    conflicts_per_layer.append(conflicts)
                blocked_by = sorted({c for cs in conflicts_per_layer for c in cs} | set(blocked_by))
            else:
                pad_busy = True
            shift += self.cfg.departure_shift_step_s
        return None

    def _reserve(self, sortie_id: str, origin: str, route: RouteEval,
                 slot: tuple[float, float, SeparationDecision, tuple]) -> None:
        """Reserve the pad slots and airspace of a slot `_find_slot` returned."""
        t, layer, decision, segs = slot
        for pad, a, b in self._pad_ops(origin, route, t):
            self.pad_slots.add(pad, a, b)
        self.airspace.add(sortie_id, segs, layer)
        if layer != self.airspace.layers_m[0]:
            self.counters["layer_changes"] += 1
        if decision.shift_s > 0:
            self.counters["departure_shifts"] += 1

    def _reason(self, layer: float, preferred: float, shift: float, conflicts_per_layer: list[list[str]],
                blocked_by: list[str], pad_busy: bool) -> str:
        sep = f"{self.cfg.horizontal_separation_m:g} m / {self.cfg.vertical_separation_m:g} m"
        parts = []
        if shift > 0:
            why = []
            if blocked_by:
                why.append(f"every layer conflicted with {', '.join(blocked_by[:5])}")
            if pad_busy:
                why.append("a pad was at capacity")
            parts.append(f"departure shifted {shift:g} s ({'; '.join(why) or 'wind'})")
        if layer != preferred:
            lower = [c for cs in conflicts_per_layer for c in cs]
            parts.append(f"layer {layer:g} m instead of {preferred:g} m: within {sep} separation of "
                         f"{', '.join(sorted(set(lower))[:5])} on the preferred layer")
        if not parts:
            parts.append(f"preferred layer {preferred:g} m clear ({sep} separation)")
        return "; ".join(parts)

    def _commit(self, drone: _Drone, route: RouteEval, origin: str, parcels: list[tuple[Parcel, str]],
                timing: _Timing, *, purpose: str) -> bool:
        sortie_id = f"S{len(self.sorties) + 1:05d}"
        placed = self._place(sortie_id, drone.spec, origin, route, timing.depart_s)
        if placed is None:
            return False
        depart, layer, decision = placed
        if depart != timing.depart_s:
            # Re-time (wind may differ after a shift); the placement keeps the same duration.
            re = self._timing(drone, origin, route, depart, parcels, timing.soc_wh, timing.swap_before)
            if re is None or re.depart_s != depart:
                return False  # cannot happen with a stable forecast; treated as no slot
            timing = re
        self.sorties.append(self._sortie(sortie_id, drone, origin, route, parcels, timing, layer, decision,
                                         purpose))
        (self._flown if purpose == "delivery" else self._empty).append(
            _Flown(index=len(self.sorties) - 1, drone=drone, origin=origin, route=route, parcels=list(parcels),
                   timing=timing))
        drone.pad = route.stops[-1]
        drone.free_s = depart + route.duration_s + self.cfg.turnaround_s
        drone.soc_wh = drone.spec.battery_wh  # swapped during the turnaround
        drone.flown += 1
        drone.busy.append((depart, depart + route.duration_s, origin, route.stops[-1]))
        return True

    def _sortie(self, sortie_id: str, drone: _Drone, origin: str, route: RouteEval,
                parcels: list[tuple[Parcel, str]], timing: _Timing, layer: float, decision: SeparationDecision,
                purpose: str) -> PlannedSortie:
        """Return the planned sortie for a placed flight (`timing` at its final departure)."""
        depart = timing.depart_s
        legs = []
        here = origin
        by_stop: dict[str, list[str]] = {}
        for p, d in parcels:
            by_stop.setdefault(d, []).append(p.parcel_id)
        prev = depart
        for i, (stop, off) in enumerate(zip(route.stops, route.arrival_offsets_s)):
            leg_depart = prev
            arrive = depart + off
            legs.append(SortieLeg(from_pad=here, to_pad=stop, depart_at=_dt(leg_depart), arrive_at=_dt(arrive),
                                  payload_kg=round(route.leg_payloads_kg[i], 3),
                                  energy_wh=round(timing.leg_energy_wh[i], 2),
                                  length_m=round(route.legs[i].length_m, 1),
                                  drop_parcel_ids=tuple(sorted(by_stop.get(stop, [])))))
            here = stop
            prev = arrive + self.cfg.stop_service_s
        ids = tuple(p.parcel_id for p, d in sorted(parcels, key=lambda it: (route.stops.index(it[1]),
                                                                             it[0].parcel_id)))
        late = tuple(p.parcel_id for p, d in parcels
                     if p.perishable and p.due_at is not None
                     and depart + dict(zip(route.stops, route.arrival_offsets_s))[d] > _ts(p.due_at) + 1e-6)
        return PlannedSortie(
            sortie_id=sortie_id, drone_id=drone.state.drone_id, model_id=drone.spec.model_id,
            origin_pad=origin, stops=route.stops, parcel_ids=ids,
            payload_kg=round(sum(p.weight_kg for p, _ in parcels), 3),
            volume_l=round(sum(p.volume_l for p, _ in parcels), 3),
            energy_wh=round(timing.energy_wh, 2),
            energy_budget_wh=round(self.budget_wh(drone.spec, timing.soc_wh), 2),
            battery_wh=round(timing.soc_wh, 2), depart_at=_dt(depart), arrive_at=_dt(depart + route.duration_s),
            altitude_m=layer, wind=timing.wind, legs=tuple(legs), separation=decision, purpose=purpose,
            battery_swap_before=timing.swap_before, late_parcel_ids=late,
        )

    # -- re-packing after assignment ----------------------------------------------------------

    def top_up(self) -> None:
        """Load parcels that would not fly into the spare payload and box volume of placed sorties.

        Consolidation packs before drones are assigned, so when the fleet runs out of time some
        sorties leave half full while parcels for the same stops wait for a ferry or go unserved.
        Each placed delivery sortie (earliest first) takes such parcels if they are ready by its
        departure, reach their stop by any deadline, and every limit still holds: payload, box
        volume, energy with reserve (planning model at full battery and estimator at the sortie's
        actual charge and wind). Stops, times, layer and slots do not change, so separation and
        pad capacity stay as placed. Most urgent parcels are offered first.

        Perishables that assignment handed to an on-time ferry/bus (their load's drone was late) are
        offered too: a sortie that reaches their stop by the deadline takes them off the surface run
        (freeing its box), since it delivers them earlier; without this, the loads they left fly
        half empty.
        """
        offered = [p for p, _ in self.to_surface] + self._moved_to_surface
        taken = self._load_onto_placed(offered, self._flown)
        if taken:
            self.to_surface = [(p, why) for p, why in self.to_surface if p.parcel_id not in taken]
            for p in self._moved_to_surface:
                if p.parcel_id in taken:
                    self.surface.release(p.parcel_id)

    def top_up_unserved(self) -> None:
        """Load what still misses out after the ferry/bus and the rescues onto placed sorties (`top_up`'s
        rules): parcels reported unassigned, and perishables a ferry/bus brings late if a sortie brings
        them on time (the run's box is released). Bus + drone journeys are left as routed.

        The rescues add deliveries after `top_up` ran. Empty positioning flights take only these
        perishables (each one saves a missed deadline, objective 1), not freight: freight on a flight
        that goes anyway costs no sortie, but it makes that flight a delivery sortie whose parcels
        raise the sortie bound by a fraction of one, so the gap to the bound grows. Measured on the
        10 000-parcel bench: +50 parcels flown (from unassigned) for delivery sorties 391 -> 414,
        bound 358 -> 369, gap 9.2 -> 12.2 %. Left for whoever owns the objective to decide.
        """
        by_id = {p.parcel_id: p for p in self.p.parcels}
        late = {pid for leg in self.surface.legs() for pid in leg.late_parcel_ids}
        offered = [by_id[pid] for pid in sorted({u.parcel_id for u in self.unassigned} | late)
                   if pid in by_id and pid not in self.originals]
        # Only perishables a sortie brings by their deadline leave the ferry/bus (`_top_up_one` checks it).
        offered = [p for p in offered if p.parcel_id not in late or (p.perishable and p.due_at is not None)]
        missing = [p for p in offered if p.perishable and p.due_at is not None]
        taken = self._load_onto_placed(missing, self._flown + self._empty)
        taken |= self._load_onto_placed([p for p in offered if p.parcel_id not in taken], self._flown)
        for pid in sorted(taken & late):
            self.surface.release(pid)
        self.unassigned = [u for u in self.unassigned if u.parcel_id not in taken]

    def _load_onto_placed(self, offered: list[Parcel], flights: list[_Flown]) -> set[str]:
        """Load `offered` parcels onto placed `flights` (earliest departure first, most urgent parcel
        first); return the ids loaded.

        An empty positioning flight that takes parcels becomes a delivery sortie with the same stop and
        times: the drone flies there anyway, so the parcels cost energy but no sortie.
        """
        sp = self.p.service_point_pads
        # (origin pad, stop) -> candidates, most urgent first, as (ready s, due s, kg, l, parcel).
        pool: dict[tuple[str, str], list[tuple[float, float, float, float, Parcel]]] = {}
        served = {(f.origin, stop) for f in flights for stop in f.route.stops}
        for parcel in offered:
            o, d = sp.get(parcel.origin), sp.get(parcel.destination)
            if (o, d) in served:
                due = _ts(parcel.due_at) if parcel.due_at else math.inf
                pool.setdefault((o, d), []).append((_ts(parcel.ready_at), due, parcel.weight_kg, parcel.volume_l,
                                                    parcel))
        if not pool:
            return set()
        for cands in pool.values():
            cands.sort(key=lambda c: (0 if c[4].perishable and c[1] < math.inf else 1, c[1], c[0],
                                      c[4].parcel_id))
        taken: set[str] = set()
        for f in sorted(flights, key=lambda f: (f.timing.depart_s, f.index)):
            if any((f.origin, stop) in pool for stop in f.route.stops):
                self._top_up_one(f, pool, taken)
        filled = [f for f in self._empty if f.parcels]
        if filled:
            self.counters["loaded_repositions"] += len(filled)
            self._flown.extend(filled)
            self._empty = [f for f in self._empty if not f.parcels]
        return taken

    def _top_up_one(self, f: _Flown, pool: dict[tuple[str, str], list[tuple[float, float, float, float, Parcel]]],
                    taken: set[str]) -> None:
        spec, depart = f.drone.spec, f.timing.depart_s
        ev = self.evaluators[spec.model_id]
        max_kg, max_l = spec.max_payload_kg + 1e-9, spec.max_box_volume_l + 1e-9
        kg = sum(p.weight_kg for p, _ in f.parcels)
        litres = sum(p.volume_l for p, _ in f.parcels)
        drops: dict[str, float] = {s: 0.0 for s in f.route.stops}
        for p, d in f.parcels:
            drops[d] += p.weight_kg
        added: list[str] = []
        for stop, offset in zip(f.route.stops, f.route.arrival_offsets_s):
            cands = pool.get((f.origin, stop))
            if not cands:
                continue
            arrive = depart + offset - 1e-6
            misses = 0
            for ready, due, w, v, p in cands:
                if ready > depart + 1e-6:
                    if due == math.inf:
                        break  # the tail without deadlines is in ready order: none later is ready
                    continue
                if arrive > due or p.parcel_id in taken:
                    continue  # late by drone (the ferry/bus may be on time), or already loaded
                if kg + w > max_kg or litres + v > max_l:
                    misses += 1
                    if misses > _TOP_UP_MISSES:
                        break  # nearly full: the rest of a long queue rarely fits either
                    continue
                trial = dict(drops)
                trial[stop] += w
                route = ev.evaluate(f.origin, f.route.stops, trial)
                if not route.feasible or route.energy_wh > self.budget_wh(spec) + 1e-9:
                    continue
                energy, wind, leg_e = self._flight_energy(spec, f.origin, route, depart)
                if energy > self.budget_wh(spec, f.timing.soc_wh) + 1e-9:
                    continue
                f.parcels.append((p, stop))
                f.route, drops, kg, litres = route, trial, kg + w, litres + v
                f.timing = dataclasses.replace(f.timing, energy_wh=energy, wind=wind, leg_energy_wh=leg_e)
                taken.add(p.parcel_id)
                added.append(p.parcel_id)
            if added and added[-1] in {c[4].parcel_id for c in cands[:8]}:
                pool[f.origin, stop] = [c for c in cands if c[4].parcel_id not in taken]  # drop a loaded head
        if added:
            old = self.sorties[f.index]
            self.sorties[f.index] = self._sortie(old.sortie_id, f.drone, f.origin, f.route, f.parcels, f.timing,
                                                 old.altitude_m, old.separation, "delivery")
            self.counters["topped_up_parcels"] += len(added)

    # -- perishables rescued with idle drone time ---------------------------------------------

    def _gaps(self, drone: _Drone) -> list[tuple[float, str, float | None, str | None, float]]:
        """Return the drone's idle windows as (free from s, at pad, next departure s or None, that
        sortie's origin pad or None, state of charge Wh). A flight inserted into a window must end
        a turnaround before the next departure, at the next sortie's origin."""
        turn = self.cfg.turnaround_s
        out: list[tuple[float, str, float | None, str | None, float]] = []
        t = max(_ts(drone.state.available_at), self.start_s)
        pad, soc = drone.state.pad_id, drone.state.battery_wh
        for dep, arr, origin, last in drone.busy:
            if dep - turn > t + 1e-6:
                out.append((t, pad, dep, origin, soc))
            t, pad, soc = arr + turn, last, drone.spec.battery_wh
        out.append((t, pad, None, None, soc))
        return out

    def _repo_route(self, spec: DroneSpec, a: str, b: str) -> RouteEval | None:
        """Return the empty flight a -> b of `spec` if it is feasible within a full battery, else None."""
        key = (spec.model_id, a, (b,), "repo")
        hit = self._routes_seen.get(key)
        if hit is None:
            hit = self._routes_seen[key] = self.evaluators[spec.model_id].evaluate(a, (b,), {b: 0.0})
        return hit if hit.feasible and hit.energy_wh <= self.budget_wh(spec) + 1e-9 else None

    def _timed_slot(self, drone: _Drone, origin: str, route: RouteEval, earliest_s: float, latest_s: float,
                    parcels: list[tuple[Parcel, str]], soc_wh: float
                    ) -> tuple[_Timing, tuple[float, float, SeparationDecision, tuple]] | None:
        """Return timing and a conflict-free slot departing in [earliest_s, latest_s], or None."""
        tm = self._timing(drone, origin, route, earliest_s, parcels, soc_wh, False)
        if tm is None or tm.depart_s > latest_s + 1e-6:
            return None
        slot = self._find_slot(drone.spec, origin, route, tm.depart_s, latest_s=latest_s)
        if slot is None:
            return None
        if slot[0] != tm.depart_s:
            tm = self._timing(drone, origin, route, slot[0], parcels, tm.soc_wh, tm.swap_before)
            if tm is None or tm.depart_s != slot[0]:
                return None
        return tm, slot

    def _chain(self, drone: _Drone, gap: tuple[float, str, float | None, str | None, float], origin: str,
               route: RouteEval, parcels: list[tuple[Parcel, str]], due_s: float) -> list | None:
        """Plan, inside one idle window, [empty flight to `origin`] + the delivery `route` arriving at its
        last stop by `due_s` + [empty flight to the next sortie's origin]; return the flights as
        (route, origin, parcels, timing, slot, purpose), nothing reserved yet, or None."""
        t0, pad, t1, nxt, soc = gap
        spec, turn = drone.spec, self.cfg.turnaround_s
        back = None
        if t1 is not None and nxt != route.stops[-1]:
            back = self._repo_route(spec, route.stops[-1], nxt)  # type: ignore[arg-type]
            if back is None:
                return None
        latest = due_s - route.duration_s
        if t1 is not None:
            latest = min(latest, t1 - turn - route.duration_s - (back.duration_s + turn if back else 0.0))
        ready = max(_ts(max(p.ready_at for p, _ in parcels)), self.start_s)
        flights = []
        t = t0
        if pad != origin:
            repo = self._repo_route(spec, pad, origin)
            if repo is None:
                return None
            got = self._timed_slot(drone, pad, repo, max(t, ready - turn - repo.duration_s),
                                   latest - turn - repo.duration_s, [], soc)
            if got is None:
                return None
            flights.append((repo, pad, [], got[0], got[1], "reposition"))
            t, soc = got[0].arrive_s + turn, spec.battery_wh
        got = self._timed_slot(drone, origin, route, max(t, ready), latest, parcels, soc)
        if got is None:
            return None
        flights.append((route, origin, parcels, got[0], got[1], "delivery"))
        if back is not None:
            t = got[0].arrive_s + turn
            got = self._timed_slot(drone, route.stops[-1], back, t, t1 - turn - back.duration_s,  # type: ignore[operator]
                                   [], spec.battery_wh)
            if got is None:
                return None
            flights.append((back, route.stops[-1], [], got[0], got[1], "reposition"))
        return flights

    def _insert(self, drone: _Drone, flights: list) -> None:
        """Reserve and record the flights of a chain `_chain` planned (in time order)."""
        self._chains.append(list(range(len(self.sorties), len(self.sorties) + len(flights))))
        for route, origin, parcels, timing, slot, purpose in flights:
            sortie_id = f"S{len(self.sorties) + 1:05d}"
            self._reserve(sortie_id, origin, route, slot)
            self.sorties.append(self._sortie(sortie_id, drone, origin, route, parcels, timing, slot[1], slot[2],
                                             purpose))
            (self._flown if purpose == "delivery" else self._empty).append(
                _Flown(index=len(self.sorties) - 1, drone=drone, origin=origin, route=route,
                       parcels=list(parcels), timing=timing))
            bisect.insort(drone.busy, (timing.depart_s, timing.arrive_s, origin, route.stops[-1]))
            drone.flown += 1
            if timing.arrive_s + self.cfg.turnaround_s > drone.free_s:
                drone.pad, drone.free_s = route.stops[-1], timing.arrive_s + self.cfg.turnaround_s

    def rescue_perishables(self, targets: list[tuple[Parcel, str, str]], drones: list[_Drone],
                           fill: dict[tuple[str, str], list[Parcel]]) -> set[str]:
        """Fly perishables that would otherwise miss their deadline in the drones' idle time (objective 1).

        Assignment gives each drone sorties in load order and packs loads for the largest model, so
        drones of a smaller model whose box the loads do not fit stay idle, and gaps between sorties
        go unused, while perishables wait for a late ferry or are not served at all. Here each target
        (parcel, origin pad, destination pad), most urgent first, gets the drone window in which it
        arrives by its deadline with the fewest extra flights (an empty flight to the origin if the
        drone is elsewhere, the delivery, an empty flight back to where the drone's next sortie leaves),
        then the earliest departure; the delivery then takes more targets for the same stop that are
        ready and on time, then `fill` parcels (no deadline at stake) while payload, box and energy
        allow. Placed sorties never move; every flight is separated and pad-slotted like the others.

        Returns the ids of the parcels flown.
        """
        pool: dict[tuple[str, str], list[tuple[float, Parcel]]] = {}
        for p, o, d in targets:
            pool.setdefault((o, d), []).append((_ts(p.due_at) if p.due_at else math.inf, p))
        for cands in pool.values():
            cands.sort(key=lambda c: (c[0], c[1].parcel_id))
        taken: set[str] = set()
        specs = [s for s in self.fleet_specs if s.model_id in self.evaluators]
        order = sorted(targets, key=lambda it: (_ts(it[0].due_at) if it[0].due_at else math.inf, it[0].parcel_id))
        for p, o, d in order:
            if p.parcel_id in taken or p.due_at is None:
                continue
            due = _ts(p.due_at)
            options = []
            for spec in specs:
                if p.weight_kg > spec.max_payload_kg + 1e-9 or p.volume_l > spec.max_box_volume_l + 1e-9:
                    continue
                route = self.evaluators[spec.model_id].evaluate(o, (d,), {d: p.weight_kg})
                if not route.feasible or route.energy_wh > self.budget_wh(spec) + 1e-9:
                    continue
                if _ts(p.ready_at) + route.duration_s > due:
                    continue
                for drone in drones:
                    if drone.spec is not spec:
                        continue
                    for gap in self._gaps(drone):
                        t0, pad, t1, nxt, _ = gap
                        repo = 0.0 if pad == o else None
                        if repo is None:
                            r = self._repo_route(spec, pad, o)
                            if r is None:
                                continue
                            repo = r.duration_s + self.cfg.turnaround_s
                        dep = max(t0 + repo, _ts(p.ready_at))
                        if dep + route.duration_s > due or (t1 is not None and dep + route.duration_s
                                                              + self.cfg.turnaround_s > t1):
                            continue
                        flights = 1 + (pad != o) + (t1 is not None and nxt != d)
                        options.append((flights, dep, -spec.max_box_volume_l, drone.state.drone_id, drone, gap,
                                        route))
            options.sort(key=lambda x: x[:4])
            for _, _, _, _, drone, gap, route in options[:_RESCUE_TRIES]:
                chain = self._chain(drone, gap, o, route, [(p, d)], due)
                if chain is not None:
                    break
            else:
                continue
            delivery = next(i for i, f in enumerate(chain) if f[5] == "delivery")
            chain[delivery] = self._fill(drone, chain[delivery], pool.get((o, d), []), fill.get((o, d), []),
                                         taken | {p.parcel_id})
            self._insert(drone, chain)
            ids = {q.parcel_id for q, _ in chain[delivery][2]}
            taken |= ids
            self.counters["rescue_flights"] += len(chain)
            if (o, d) in fill:
                fill[o, d] = [q for q in fill[o, d] if q.parcel_id not in ids]
        return taken

    def merge_rescue_flights(self) -> None:
        """Move the parcels of rescue deliveries onto other placed flights that bring every one of them in
        time, and drop the rescue's flights (delivery and its empty flights in and back).

        The rescue gives each perishable the earliest window it fits, so two perishables from one pad
        that become ready apart get two flights (often each with a flight out to the pad and back), though
        the later flight, or an empty flight already going there, would bring both in time. A chain's
        delivery (earliest departure first) goes to the host with the earliest arrival at its stop among
        placed deliveries and still-empty flights from the same pad that depart after its parcels are
        ready, reach their stop by every deadline, and keep payload, box and energy (with reserve at the
        host's charge) within limits; the host's stops and times do not change. If no host has room, one
        with a parcel that another flight can take instead makes room (`_absorb_by_moving_one`; measured
        on the 10 000-parcel bench: 391 -> 384 delivery sorties, same parcels and perishables on time).
        A chain is dropped whole,
        and only if it ends where it started or the drone flies nothing after it, so the drone's day
        stays consistent (each flight leaves where the last landed).
        Airspace and pad slots of dropped flights stay reserved (conservative for the others).
        """
        flown = {f.index: f for f in self._flown}
        empty = {f.index: f for f in self._empty}
        chains = sorted(self._rescue_chains(flown, empty), key=lambda it: (it[0].timing.depart_s, it[0].index))
        by_drone = self._sorties_by_drone()
        for a, chain in chains:
            members = set(chain)
            if not self._droppable(chain, by_drone):
                continue
            (stop,) = set(d for _, d in a.parcels) if len({d for _, d in a.parcels}) == 1 else (None,)
            if stop is None:
                continue
            ready = max(_ts(p.ready_at) for p, _ in a.parcels)
            due = min((_ts(p.due_at) for p, _ in a.parcels if p.due_at is not None), default=math.inf)
            hosts = []
            for host in list(flown.values()) + list(empty.values()):
                if host.index in members or host.origin != a.origin or stop not in host.route.stops:
                    continue
                arrive = host.timing.depart_s + host.route.arrival_offsets_s[host.route.stops.index(stop)]
                if host.timing.depart_s + 1e-6 < ready or arrive > due + 1e-6:
                    continue
                hosts.append((arrive, host.index, host))
            hosts.sort(key=lambda h: h[:2])
            others = sorted((f for f in flown.values() if f.index not in members),
                            key=lambda f: (f.timing.depart_s, f.index))
            found = next((host for _, _, host in hosts if self._absorb(host, a.parcels)), None)
            if found is None:
                found = next((host for _, _, host in hosts
                              if host.index in flown and self._absorb_by_moving_one(host, a.parcels, others)), None)
            if found is None:
                continue
            for i in chain:
                flown.pop(i, None)
                empty.pop(i, None)
            if found.index in empty:
                flown[found.index] = empty.pop(found.index)
            self._removed |= members
            self.counters["merged_rescue_flights"] += len(chain)
        self._flown = [f for f in self._flown if f.index in flown] + [
            f for f in self._empty if f.index in flown]
        self._empty = [f for f in self._empty if f.index in empty]

    def _rescue_chains(self, flown: dict[int, _Flown], empty: dict[int, _Flown]) -> list[tuple[_Flown, list[int]]]:
        """Return (delivery, chain) for each rescue chain still made of its one delivery in `flown` and
        empty flights in `empty` (by index); chains merged away or loaded since are left out."""
        out = []
        for chain in self._chains:
            deliveries = [i for i in chain if i in flown]
            if len(deliveries) == 1 and all(i in empty for i in chain if i != deliveries[0]):
                out.append((flown[deliveries[0]], chain))
        return out

    def _sorties_by_drone(self) -> dict[str, list[int]]:
        """Indices in `sorties` per drone id."""
        by_drone: dict[str, list[int]] = {}
        for i, sortie in enumerate(self.sorties):
            by_drone.setdefault(sortie.drone_id, []).append(i)
        return by_drone

    def _droppable(self, chain: list[int], by_drone: dict[str, list[int]]) -> bool:
        """Whether the rescue `chain` (indices in `sorties`) can be dropped whole with the drone's day
        staying consistent: it ends where it started, or the drone flies nothing after it."""
        members = set(chain)
        first, last = self.sorties[chain[0]], self.sorties[chain[-1]]
        return first.origin_pad == last.stops[-1] or not any(
            i not in self._removed and i not in members and self.sorties[i].depart_at > last.depart_at
            for i in by_drone[first.drone_id])

    def repack_rescues(self) -> None:
        """Drop rescue deliveries whose parcels the regular one-stop flights from the same pad to the same
        stop can carry once the parcels they carry are re-assigned among them (`repack.make_room`).

        `merge_rescue_flights` moves at most one parcel per rescue; the flights in time are often full of
        parcels that several other flights could take. Re-assigned parcels keep to flights that leave once
        they are ready and reach their stop by their deadline, and every flight keeps payload, box volume
        and energy with reserve (re-checked with the estimator before anything changes); stops and
        times do not change. Rescues are tried earliest first; a rescue is dropped whole (with its empty
        flights in and back) and only if the drone's day stays consistent.
        """
        flown = {f.index: f for f in self._flown}
        empty = {f.index: f for f in self._empty}
        by_drone = self._sorties_by_drone()
        # Rescue delivery index -> its chain (one-stop deliveries only: the groups below are per stop).
        rescues = {a.index: chain for a, chain in self._rescue_chains(flown, empty) if len(a.route.stops) == 1}
        groups: dict[tuple[str, str], list[_Flown]] = {}
        for f in flown.values():
            if len(f.route.stops) == 1:
                groups.setdefault((f.origin, f.route.stops[0]), []).append(f)
        for key in sorted(groups):
            pending = sorted((f for f in groups[key] if f.index in rescues),
                             key=lambda f: (f.timing.depart_s, f.index))
            if not pending:
                continue
            group = self._repack_group([f for f in groups[key] if f.index not in rescues])
            for a in pending:
                if not self._droppable(rescues[a.index], by_drone):
                    continue
                new = [self._repack_item(group, p) for p, _ in a.parcels]
                where = make_room(group.bins, group.items, [j for _, j in group.carried], new)
                if where is None:
                    continue
                before = [j for _, j in group.carried]
                if not self._carry(group, list(zip([it for it, _ in group.carried] + list(a.parcels), where))):
                    continue
                self.counters["parcels_moved_for_rescues"] += sum(1 for k, j in enumerate(before) if where[k] != j)
                group.items += new
                chain = rescues.pop(a.index)
                for i in chain:
                    flown.pop(i, None)
                    empty.pop(i, None)
                self._removed |= set(chain)
                self.counters["repacked_rescue_flights"] += len(chain)
        self._flown = [f for f in self._flown if f.index in flown]
        self._empty = [f for f in self._empty if f.index in empty]

    def repack_flights(self) -> None:
        """Drop regular one-stop deliveries whose parcels the other flights from the same pad to the same
        stop can carry once the loads are re-assigned among them (`repack.make_room`).

        Consolidation packs perishables and parcels without a deadline apart and before drones are
        assigned, and assignment times each load on its own, so flights from one pad to one stop leave
        part full at different times while one of them could have taken another's parcels. Least full
        flights are tried first. Parcels keep to flights that leave once they are ready and reach their
        stop by their deadline; every flight keeps payload, box volume and energy with reserve (re-checked
        with the estimator before anything changes); stops and times do not change, so no parcel is late
        that was not, and nothing else moves.

        A dropped delivery takes along the empty flights next to it that its drone then no longer needs,
        so that each of the drone's remaining flights leaves from where the one before landed. Where that
        is not enough (the drone flies on from where the delivery landed), a second round replaces the
        delivery and the empty flight next to it by one empty flight (`_bypass`): two flights become one.
        Airspace and pad slots of dropped flights stay reserved. 10 000-parcel bench (seed 7): delivery
        sorties 374 -> 368 (6 dropped, one with a bypass), same parcels flown and perishables on time.
        """
        flown = {f.index: f for f in self._flown}
        empty = {f.index: f for f in self._empty}
        by_drone: dict[str, list[_Flown]] = {}
        for f in list(flown.values()) + list(empty.values()):
            by_drone.setdefault(f.drone.state.drone_id, []).append(f)
        for seq in by_drone.values():
            seq.sort(key=lambda f: (f.timing.depart_s, f.index))
        members: dict[tuple[str, str], list[_Flown]] = {}
        for f in flown.values():
            if len(f.route.stops) == 1:
                members.setdefault((f.origin, f.route.stops[0]), []).append(f)
        groups = [self._repack_group(hosts) for _, hosts in sorted(members.items()) if len(hosts) > 1]
        for bypass in (False, True):
            for group in groups:
                for c in sorted(range(len(group.hosts)), key=lambda j: (self._fullness(group.hosts[j]), j)):
                    if c in group.gone or group.failed_at.get(c) == group.version:
                        continue  # dropped, or tried with the loads as they still are
                    f = group.hosts[c]
                    seq = by_drone[f.drone.state.drone_id]
                    chain = self._chain_to_drop(f, seq, empty)
                    planned = self._bypass(f, seq, empty) if chain is None and bypass else None
                    if chain is None and planned is None:
                        continue
                    if not self._repack_without(group, c):
                        group.failed_at[c] = group.version
                        continue
                    if planned is not None:
                        self._insert_empty(*planned[1:], seq, empty)
                    dropped = {g.index for g in (chain if chain is not None else planned[0])}  # type: ignore[index]
                    seq[:] = [g for g in seq if g.index not in dropped]
                    for i in dropped:
                        flown.pop(i, None)
                        empty.pop(i, None)
                    self._removed |= dropped
                    self.counters["repacked_flights"] += 1
        self._flown = [f for f in self._flown if f.index in flown]
        self._empty = [f for f in self._empty if f.index in empty]

    def _repack_group(self, hosts: list[_Flown]) -> _RepackGroup:
        """Return one-stop deliveries from one pad to one stop as a `_RepackGroup`; a parcel may ride the
        hosts that leave once it is ready and arrive by its deadline (`_on_time_on`, by bisection)."""
        hosts = sorted(hosts, key=lambda f: (f.timing.depart_s, f.index))
        group = _RepackGroup(
            hosts=hosts, carried=[(it, j) for j, f in enumerate(hosts) for it in f.parcels], items=[],
            bins=[Bin(cap_kg=self._payload_cap_kg(f), cap_l=f.drone.spec.max_box_volume_l) for f in hosts],
            departs=[f.timing.depart_s for f in hosts],
            arrives=[f.timing.depart_s + f.route.arrival_offsets_s[0] for f in hosts])
        group.items = [self._repack_item(group, p) for (p, _), _ in group.carried]
        return group

    @staticmethod
    def _repack_item(group: _RepackGroup, p: Parcel) -> Item:
        """`p` as an item of `group`: its size and the hosts that leave once it is ready and arrive by its
        deadline (`_on_time_on`, by bisection over the departures)."""
        first = bisect.bisect_left(group.departs, _ts(p.ready_at) - 1e-6)
        due = _ts(p.due_at) + 1e-6 if p.due_at is not None else math.inf
        last = bisect.bisect_right(group.departs, due)  # arrival >= departure: none later arrives in time
        return Item(kg=p.weight_kg, litres=p.volume_l,
                    bins=tuple(k for k in range(first, last) if group.arrives[k] <= due))

    def _carry(self, group: _RepackGroup, carried: list[tuple[tuple[Parcel, str], int]], *,
               leaving: int | None = None) -> bool:
        """Give each host of `group` the parcels `carried` assigns it if every changed host passes
        `_check_load`, and record the assignment; return whether it did (nothing changes otherwise).
        Host `leaving`, about to be dropped, is left as it is."""
        loads: list[list[tuple[Parcel, str]]] = [[] for _ in group.hosts]
        for it, j in carried:
            loads[j].append(it)
        checked = {}
        for j, f in enumerate(group.hosts):
            if j != leaving and {id(x) for x in loads[j]} != {id(x) for x in f.parcels}:
                checked[j] = self._check_load(f, loads[j])
                if checked[j] is None:
                    return False  # the estimator at the flight's wind and charge is tighter than the cap
        for j, result in checked.items():
            self._set_load(group.hosts[j], loads[j], result)  # type: ignore[arg-type]
        group.carried = carried
        return True

    def _repack_without(self, group: _RepackGroup, c: int) -> bool:
        """Re-assign the parcels of `group` so that host `c` carries none, if the search finds room and
        every changed host passes `_check_load`; return whether it did (nothing changes otherwise)."""
        mine = [k for k, (_, j) in enumerate(group.carried) if j == c]
        rest = [k for k, (_, j) in enumerate(group.carried) if j != c]
        placed = make_room(group.bins, [group.items[k] for k in rest], [group.carried[k][1] for k in rest],
                           [group.items[k] for k in mine], closed=group.gone | {c})
        if placed is None:
            return False
        moved = dict(zip(rest + mine, placed))
        carried = [(it, moved[k]) for k, (it, _) in enumerate(group.carried)]
        if not self._carry(group, carried, leaving=c):
            return False
        group.gone.add(c)
        group.version += 1
        group.hosts[c].parcels = []
        return True

    @staticmethod
    def _fullness(f: _Flown) -> float:
        """The larger of the payload and box volume shares `f` carries."""
        spec = f.drone.spec
        return max(sum(p.weight_kg for p, _ in f.parcels) / spec.max_payload_kg,
                   sum(p.volume_l for p, _ in f.parcels) / spec.max_box_volume_l)

    @staticmethod
    def _chain_to_drop(f: _Flown, seq: list[_Flown], empty: dict[int, _Flown]) -> list[_Flown] | None:
        """Return delivery `f` with the fewest empty flights next to it in its drone's day `seq` whose
        removal leaves every remaining flight leaving from where the one before landed, or None."""
        i = seq.index(f)
        before = seq[i - 1] if i > 0 and seq[i - 1].index in empty else None
        after = seq[i + 1] if i + 1 < len(seq) and seq[i + 1].index in empty else None
        chains = [[f]] + ([[before, f]] if before else []) + ([[f, after]] if after else []) + (
            [[before, f, after]] if before and after else [])
        for chain in chains:
            dropped = {g.index for g in chain}
            pad = f.drone.state.pad_id
            for g in seq:
                if g.index in dropped:
                    continue
                if g.origin != pad:
                    break
                pad = g.route.stops[-1]
            else:
                return chain
        return None

    def _bypass(self, f: _Flown, seq: list[_Flown], empty: dict[int, _Flown]
                ) -> tuple[list[_Flown], _Flown, tuple] | None:
        """Return delivery `f` and the empty flight next to it in its drone's day `seq` that one new empty
        flight can replace - from where the first leaves to where the second lands, between the flights
        around them, conflict-free - with that flight and its slot (not reserved yet); or None."""
        i = seq.index(f)
        turn = self.cfg.turnaround_s
        pairs = []
        if i + 1 < len(seq) and seq[i + 1].index in empty:
            pairs.append(([f, seq[i + 1]], i + 2))
        if i > 0 and seq[i - 1].index in empty:
            pairs.append(([seq[i - 1], f], i + 1))
        for pair, after in pairs:
            first = pair[0]
            a, b = first.origin, pair[1].route.stops[-1]
            route = None if a == b else self._repo_route(f.drone.spec, a, b)
            if route is None:
                continue
            end = seq[after].timing.depart_s - turn if after < len(seq) else self.end_s
            got = self._timed_slot(f.drone, a, route, first.timing.depart_s, end - route.duration_s, [],
                                   first.timing.soc_wh)
            if got is not None:
                flight = _Flown(index=-1, drone=f.drone, origin=a, route=route, parcels=[], timing=got[0])
                return pair, flight, got[1]
        return None

    def _insert_empty(self, flight: _Flown, slot: tuple, seq: list[_Flown], empty: dict[int, _Flown]) -> None:
        """Reserve `slot` for the empty `flight` `_bypass` planned and record it in its drone's day `seq`."""
        sortie_id = f"S{len(self.sorties) + 1:05d}"
        self._reserve(sortie_id, flight.origin, flight.route, slot)
        self.sorties.append(self._sortie(sortie_id, flight.drone, flight.origin, flight.route, [], flight.timing,
                                         slot[1], slot[2], "reposition"))
        flight.index = len(self.sorties) - 1
        self._empty.append(flight)
        empty[flight.index] = flight
        bisect.insort(seq, flight, key=lambda g: (g.timing.depart_s, g.index))
        self.counters["bypass_flights"] += 1

    def _payload_cap_kg(self, f: _Flown) -> float:
        """Return the most payload (kg, to 10 g) one-stop flight `f` can carry within its model's limit and
        energy with reserve (planning model at full battery, estimator at its charge and wind)."""
        spec, (stop,) = f.drone.spec, f.route.stops
        ev = self.evaluators[spec.model_id]

        def fits(kg: float) -> bool:
            route = ev.evaluate(f.origin, (stop,), {stop: kg})
            if not route.feasible or route.energy_wh > self.budget_wh(spec) + 1e-9:
                return False
            return self._flight_energy(spec, f.origin, route, f.timing.depart_s)[0] <= self.budget_wh(
                spec, f.timing.soc_wh) + 1e-9

        lo, hi = sum(p.weight_kg for p, _ in f.parcels), spec.max_payload_kg
        if fits(hi):
            return hi
        while hi - lo > 0.01:
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        return max(lo, 1e-6)

    def _absorb(self, host: _Flown, parcels: list[tuple[Parcel, str]]) -> bool:
        """Load all of `parcels` onto placed flight `host` if payload, box and energy allow; return
        whether it did (times and stops unchanged; the caller checked ready times and deadlines)."""
        checked = self._check_load(host, host.parcels + list(parcels))
        if checked is None:
            return False
        self._set_load(host, host.parcels + list(parcels), checked)
        return True

    def _check_load(self, host: _Flown, parcels: list[tuple[Parcel, str]]) -> tuple[RouteEval, _Timing] | None:
        """Return `host`'s route and timing if it carried exactly `parcels` (its stops and times
        unchanged), or None if payload, box volume or energy with reserve (planning model at full
        battery, estimator at the flight's charge and wind) would not hold."""
        spec = host.drone.spec
        kg = sum(p.weight_kg for p, _ in parcels)
        litres = sum(p.volume_l for p, _ in parcels)
        if kg > spec.max_payload_kg + 1e-9 or litres > spec.max_box_volume_l + 1e-9:
            return None
        drops = {s: 0.0 for s in host.route.stops}
        for p, d in parcels:
            drops[d] += p.weight_kg
        route = self.evaluators[spec.model_id].evaluate(host.origin, host.route.stops, drops)
        if not route.feasible or route.energy_wh > self.budget_wh(spec) + 1e-9:
            return None
        energy, wind, leg_e = self._flight_energy(spec, host.origin, route, host.timing.depart_s)
        if energy > self.budget_wh(spec, host.timing.soc_wh) + 1e-9:
            return None
        return route, dataclasses.replace(host.timing, energy_wh=energy, wind=wind, leg_energy_wh=leg_e)

    def _set_load(self, host: _Flown, parcels: list[tuple[Parcel, str]],
                  checked: tuple[RouteEval, _Timing]) -> None:
        host.parcels = list(parcels)
        host.route, host.timing = checked
        old = self.sorties[host.index]
        self.sorties[host.index] = self._sortie(old.sortie_id, host.drone, host.origin, host.route, host.parcels,
                                                host.timing, old.altitude_m, old.separation, "delivery")

    def _on_time_on(self, host: _Flown, parcel: Parcel, stop: str) -> bool:
        """Whether placed flight `host` can carry `parcel` to `stop`: it stops there, leaves once the parcel
        is ready and arrives by its deadline (if any)."""
        if stop not in host.route.stops or host.timing.depart_s + 1e-6 < _ts(parcel.ready_at):
            return False
        arrive = host.timing.depart_s + host.route.arrival_offsets_s[host.route.stops.index(stop)]
        return parcel.due_at is None or arrive <= _ts(parcel.due_at) + 1e-6

    def _absorb_by_moving_one(self, host: _Flown, parcels: list[tuple[Parcel, str]],
                              others: list[_Flown]) -> bool:
        """Load `parcels` onto `host` by moving one of its parcels to another placed delivery in `others`
        (same origin, its stop served, ready and on time there, payload, box and energy kept on both);
        return whether it did. Stops and times never change.

        Rescue deliveries exist because the flights in time were full when the rescue ran. One parcel on
        such a flight can often leave on another flight from the same pad with a little room (a later
        one if its deadline allows, or an earlier one once it is ready), which frees its place: the
        rescue's sortie is saved and no parcel is late. The smallest parcel that frees enough room is
        tried first, so that the room other rescues need stays.
        """
        spec = host.drone.spec
        load = host.parcels + list(parcels)
        over_kg = sum(p.weight_kg for p, _ in load) - spec.max_payload_kg
        over_l = sum(p.volume_l for p, _ in load) - spec.max_box_volume_l
        # A stop keeps a parcel to drop (or gets the new ones): the flight does not call there for nothing.
        drops = Counter(d for _, d in load)
        movable = sorted((it for it in host.parcels if it[0].weight_kg >= over_kg - 1e-9
                          and it[0].volume_l >= over_l - 1e-9 and drops[it[1]] > 1),
                         key=lambda it: (it[0].volume_l / spec.max_box_volume_l + it[0].weight_kg / spec.max_payload_kg,
                                         it[0].parcel_id))
        for moved in movable:
            kept = [it for it in load if it is not moved]
            checked = self._check_load(host, kept)
            if checked is None:
                continue
            for other in others:
                if other is host or other.origin != host.origin or not self._on_time_on(other, *moved):
                    continue
                checked_other = self._check_load(other, other.parcels + [moved])
                if checked_other is None:
                    continue
                self._set_load(other, other.parcels + [moved], checked_other)
                self._set_load(host, kept, checked)
                self.counters["parcels_moved_for_rescues"] += 1
                return True
        return False

    def _fill(self, drone: _Drone, flight: tuple, targets: list[tuple[float, Parcel]], extra: list[Parcel],
              taken: set[str]) -> tuple:
        """Return the delivery `flight` with more targets (most urgent first), then `extra` parcels,
        loaded while they are ready at departure, on time, and payload, box and energy hold."""
        route, origin, parcels, timing, slot, purpose = flight
        spec, ev = drone.spec, self.evaluators[drone.spec.model_id]
        (stop,) = route.stops
        depart = timing.depart_s
        kg = sum(q.weight_kg for q, _ in parcels)
        litres = sum(q.volume_l for q, _ in parcels)
        parcels = list(parcels)
        cands = [q for _, q in targets] + extra
        for q in cands:
            if q.parcel_id in taken or _ts(q.ready_at) > depart + 1e-6:
                continue
            if q.due_at is not None and depart + route.duration_s > _ts(q.due_at) + 1e-6:
                continue
            if kg + q.weight_kg > spec.max_payload_kg + 1e-9 or litres + q.volume_l > spec.max_box_volume_l + 1e-9:
                continue
            trial = ev.evaluate(origin, (stop,), {stop: kg + q.weight_kg})
            if not trial.feasible or trial.energy_wh > self.budget_wh(spec) + 1e-9:
                continue
            energy, wind, leg_e = self._flight_energy(spec, origin, trial, depart)
            if energy > self.budget_wh(spec, timing.soc_wh) + 1e-9:
                continue
            parcels.append((q, stop))
            taken = taken | {q.parcel_id}
            route, kg, litres = trial, kg + q.weight_kg, litres + q.volume_l
            timing = dataclasses.replace(timing, energy_wh=energy, wind=wind, leg_energy_wh=leg_e)
        return route, origin, parcels, timing, slot, purpose

    # -- surface fallback ----------------------------------------------------------------------

    def route_surface(self) -> None:
        """Send every non-flying parcel to its best ferry/bus run, or report it unassigned."""
        order = sorted(self.to_surface, key=lambda it: (
            0 if it[0].perishable and it[0].due_at else 1,
            _ts(it[0].due_at) if it[0].due_at else 0.0, _ts(it[0].ready_at), it[0].parcel_id))
        for parcel, why in order:
            if parcel.parcel_id in self.originals:
                # The drone leg of a bus + drone journey does not fly: undo it, route the whole way.
                if self.journeys.pop(parcel.parcel_id).first_mile_line_id is not None:
                    self.surface.release(parcel.parcel_id)
                parcel = self.originals[parcel.parcel_id]
            opt = self.surface.best_option(parcel, max(parcel.ready_at, self.p.start_at))
            if opt is None:
                self._why_not_flown[parcel.parcel_id] = why
                self.unassigned.append(Unassigned(parcel_id=parcel.parcel_id,
                                                  reason=f"{why}; {self.surface.no_option_reason(parcel)}"))
            else:
                self.surface.assign(parcel, opt, why)

    def _pads_of(self, parcel: Parcel) -> tuple[str, str] | None:
        o, d = self.p.service_point_pads.get(parcel.origin), self.p.service_point_pads.get(parcel.destination)
        return (o, d) if o and d else None

    def _on_time_by_surface(self, parcel: Parcel) -> bool:
        opt = self.surface.best_option(parcel, max(parcel.ready_at, self.p.start_at))
        return opt is not None and parcel.due_at is not None and opt.arrive_at <= parcel.due_at

    def rescue_before_surface(self, drones: list[_Drone]) -> None:
        """Rescue perishables that did not fly and have no on-time ferry/bus (bus + drone legs included:
        their first-mile bus stays booked)."""
        targets, fill = [], {}
        for parcel, _ in self.to_surface:
            pads = self._pads_of(parcel)
            if pads is None:
                continue
            original = self.originals.get(parcel.parcel_id, parcel)
            if parcel.perishable and parcel.due_at is not None and not self._on_time_by_surface(original):
                targets.append((parcel, *pads))
            else:
                fill.setdefault(pads, []).append(parcel)
        if not targets:
            return
        for cands in fill.values():
            cands.sort(key=lambda q: (0 if q.perishable and q.due_at else 1, _ts(q.due_at) if q.due_at else 0.0,
                                      _ts(q.ready_at), q.parcel_id))
        taken = self.rescue_perishables(targets, drones, fill)
        self.counters["rescued_perishables"] += sum(1 for p, _, _ in targets if p.parcel_id in taken)
        self.to_surface = [(p, why) for p, why in self.to_surface if p.parcel_id not in taken]

    def rescue_after_surface(self, drones: list[_Drone]) -> None:
        """Rescue perishables the ferry/bus brings late or cannot take at all, then give the boxes they
        free to parcels still unserved (most urgent first)."""
        by_id = {p.parcel_id: p for p in self.p.parcels}
        late = {pid for leg in self.surface.legs() for pid in leg.late_parcel_ids}
        unserved = {u.parcel_id for u in self.unassigned}
        targets, fill = [], {}
        for pid in sorted(late | unserved):
            p = by_id[pid]
            pads = self._pads_of(p)
            if pads is None or pid in self.originals:
                continue
            if p.perishable and p.due_at is not None:
                targets.append((p, *pads))
            elif pid in unserved:
                fill.setdefault(pads, []).append(p)
        taken = self.rescue_perishables(targets, drones, fill) if targets else set()
        self.counters["rescued_perishables"] += sum(1 for p, _, _ in targets if p.parcel_id in taken)
        for pid in sorted(taken - unserved):
            self.surface.release(pid)
        self.unassigned = [u for u in self.unassigned if u.parcel_id not in taken]
        # Boxes freed on ferries/buses: retry the unserved that lacked room (perishables first).
        retry = sorted((by_id[u.parcel_id] for u in self.unassigned
                        if u.parcel_id in self._why_not_flown and u.parcel_id in by_id), key=lambda q: (
            0 if q.perishable and q.due_at else 1, _ts(q.due_at) if q.due_at else 0.0, _ts(q.ready_at), q.parcel_id))
        placed = set()
        for q in retry:
            opt = self.surface.best_option(q, max(q.ready_at, self.p.start_at))
            if opt is not None:
                self.surface.assign(q, opt, self._why_not_flown[q.parcel_id])
                placed.add(q.parcel_id)
        self.unassigned = [u for u in self.unassigned if u.parcel_id not in placed]
        self._free_boxes_for_missed(drones, by_id)

    def _free_boxes_for_missed(self, drones: list[_Drone], by_id: dict[str, Parcel]) -> None:
        """Fly perishables that ride a full ferry/bus run on time when a perishable no drone can take
        (no pad, out of range) misses its deadline for want of a box on that run; it gets the box.

        Each such flight is an extra sortie that objective 1 pays for: it is flown only for runs a
        missed perishable could ride in time, and the box freed goes to the most urgent of them.
        """
        late = {pid for leg in self.surface.legs() for pid in leg.late_parcel_ids}
        missed = [by_id[pid] for pid in sorted(late | {u.parcel_id for u in self.unassigned})
                  if pid in by_id and by_id[pid].perishable and by_id[pid].due_at is not None]
        wanted: set[tuple[str, int, str]] = set()
        for q in missed:
            wanted |= self.surface.on_time_runs(q, max(q.ready_at, self.p.start_at))
        if not wanted:
            return
        targets = []
        for leg in self.surface.legs():
            for pid in leg.parcel_ids:
                p = by_id.get(pid)
                if (p is None or not p.perishable or p.due_at is None or pid in late or pid in self.originals
                        or self.surface.run_of(pid) not in wanted):
                    continue
                pads = self._pads_of(p)
                if pads is not None:
                    targets.append((p, *pads))
        if not targets:
            return
        taken = self.rescue_perishables(targets, drones, {})
        if not taken:
            return
        self.counters["box_freeing_parcels"] += len(taken)
        for pid in sorted(taken):
            self.surface.release(pid)
        unserved = {u.parcel_id for u in self.unassigned}
        placed = set()
        for q in sorted(missed, key=lambda q: (_ts(q.due_at), q.parcel_id)):  # type: ignore[arg-type]
            opt = self.surface.best_option(q, max(q.ready_at, self.p.start_at))
            if opt is None or opt.arrive_at > q.due_at:  # type: ignore[operator]
                continue
            if q.parcel_id in unserved:
                why = self._why_not_flown.get(q.parcel_id, "no drone can deliver it before its deadline")
            else:
                why = self.surface.reason_of(q.parcel_id)
                self.surface.release(q.parcel_id)
                opt = self.surface.best_option(q, max(q.ready_at, self.p.start_at))
                assert opt is not None
            self.surface.assign(q, opt, why)
            placed.add(q.parcel_id)
        self.counters["boxes_given_to_missed"] += len(placed)
        self.unassigned = [u for u in self.unassigned if u.parcel_id not in placed]

    # -- entry point ---------------------------------------------------------------------------

    def run(self) -> SchedulePlan:
        """Plan the problem and return the plan with metrics."""
        flying = self._classify()
        loads = self.consolidate(flying)
        drones = [
            _Drone(state=d, spec=self.p.drone_specs[d.model_id], pad=d.pad_id,
                   free_s=max(_ts(d.available_at), self.start_s), soc_wh=d.battery_wh)
            for d in sorted(self.p.drones, key=lambda d: d.drone_id)
        ]
        self.assign(loads, drones)
        self.top_up()
        self.rescue_before_surface(drones)
        self.route_surface()
        self.rescue_after_surface(drones)
        self.merge_rescue_flights()
        self.repack_rescues()
        self.repack_flights()
        self.top_up_unserved()
        self.sorties = [s for i, s in enumerate(self.sorties) if i not in self._removed]
        self.route_last_mile()
        return self._plan(loads)

    def lower_bound(self, parcels: list[Parcel]) -> int:
        """Return a lower bound on the delivery sorties of any plan flying `parcels` (drone legs, pad to
        pad) with this fleet and wind; `bounds.sortie_lower_bound` proves it."""
        sp = self.p.service_point_pads
        models = [ModelLimits(spec=s, routes=self.evaluators[s.model_id], budget_wh=self.budget_wh(s))
                  for s in self.fleet_specs if s.model_id in self.evaluators]
        items = [(p, sp[p.origin], sp[p.destination]) for p in parcels]
        return sortie_lower_bound([it for it in items if it[1] and it[2]], models,  # type: ignore[misc]
                                  max_stops=self.cfg.max_stops)

    def time_aware_lower_bound(self, parcels: list[Parcel], on_time_ids: set[str]) -> int:
        """Return a lower bound on the delivery sorties of any plan flying `parcels` (drone legs, pad to
        pad) within the horizon that delivers `on_time_ids` by their deadlines;
        `bounds.windowed_sortie_lower_bound` proves it. At least `lower_bound(parcels)`."""
        sp = self.p.service_point_pads
        models = [ModelLimits(spec=s, routes=self.evaluators[s.model_id], budget_wh=self.budget_wh(s))
                  for s in self.fleet_specs if s.model_id in self.evaluators]
        items = [(p, sp[p.origin], sp[p.destination]) for p in parcels]
        return windowed_sortie_lower_bound(
            [it for it in items if it[1] and it[2]], models, max_stops=self.cfg.max_stops,  # type: ignore[misc]
            stop_service_s=self.cfg.stop_service_s, start_s=self.start_s, end_s=self.end_s, on_time_ids=on_time_ids)

    def _plan(self, loads: list[Load]) -> SchedulePlan:
        legs = self.surface.legs()
        connecting = self.surface.legs(connecting=True)
        delivery = [s for s in self.sorties if s.purpose == "delivery"]
        flown_ids = {p for s in delivery for p in s.parcel_ids}
        perishable = {p.parcel_id for p in self.p.parcels if p.perishable}
        late_perishable = {p for s in self.sorties for p in s.late_parcel_ids} | {
            p for leg in legs + connecting for p in leg.late_parcel_ids if p in perishable}
        metrics: dict[str, float | int | str] = {
            "parcels": len(self.p.parcels),
            "parcels_by_drone": len(flown_ids),
            "parcels_by_surface": sum(len(leg.parcel_ids) for leg in legs),
            "parcels_unassigned": len(self.unassigned),
            "parcels_bus_and_drone": len(self.journeys),
            "last_mile_without_bus": self.counters["last_mile_without_bus"],
            "sorties": len(self.sorties),
            "delivery_sorties": len(delivery),
            "reposition_sorties": len(self.sorties) - len(delivery),
            "productive_repositions": self.counters["productive_repositions"],
            "sortie_lower_bound": self.lower_bound(
                [self.drone_parcels.get(p.parcel_id, p) for p in self.p.parcels if p.parcel_id in flown_ids]),
            "energy_wh": round(sum(s.energy_wh for s in self.sorties), 1),
            "late_perishables": len(late_perishable),
            "layer_changes": self.counters["layer_changes"],
            "departure_shifts": self.counters["departure_shifts"],
            "surface_boxes": sum(leg.boxes for leg in legs),
            "estimator_calls": self.matrix.estimator_calls,
            "last_arrival_at": max((s.arrive_at for s in self.sorties), default=self.p.start_at).isoformat(),
        }
        return SchedulePlan(sorties=tuple(self.sorties), surface_legs=tuple(legs),
                            unassigned=tuple(sorted(self.unassigned, key=lambda u: u.parcel_id)),
                            metrics=metrics, connecting_legs=tuple(connecting),
                            journeys=dict(sorted(self.journeys.items())))


def bus_hubs(problem: SchedulingProblem) -> dict[str, tuple[str, ...]]:
    """Return, per service point without a pad, the service points with a pad on a bus line calling there."""
    sp = problem.service_point_pads
    out: dict[str, list[str]] = {}
    for line in problem.surface_lines:
        if line.mode != "bus":
            continue
        calls = [c.service_point_id for c in line.calls]
        hubs = [c for c in calls if sp.get(c)]
        for c in calls:
            if c in sp and sp[c] is None:
                out.setdefault(c, [])
                out[c].extend(h for h in hubs if h not in out[c])
    return {k: tuple(v) for k, v in out.items()}


def schedule(problem: SchedulingProblem, estimator: LegEstimator, *, seed: int = 0) -> tuple[SchedulePlan, Scheduler]:
    """Plan `problem` as `plan_schedule` does; return the plan and the `Scheduler` that made it.

    Consolidation packs perishables apart from parcels without a deadline so that, when drone time runs
    out, perishables do not wait for freight (objective 1). When the fleet has time to spare - its
    largest model busy (flying or turning round) for less than `_SPARE_TIME_SHARE` of the horizon -
    that split only costs sorties, so the problem is planned a second time with mixed loads and the
    better plan is kept: fewer perishables missing their deadline (late or not served), then fewer
    parcels unserved, then fewer delivery sorties, then less energy. Bench (40 drones, 12 h), 500 /
    1 000 / 2 000 parcels, seeds 1-2: delivery sorties 76/73, 140/139, 245/262 -> 75/70, 138/136,
    250/260 (2 000 seed 1: 13 more parcels served), the same perishables on time; from ~3 000 parcels
    mixed loads make perishables late, and at 10 000 the fleet has no time to spare (not tried).
    """
    first = Scheduler(problem, estimator, seed=seed)
    plan = first.run()
    if _busy_share(plan, problem) >= _SPARE_TIME_SHARE:
        return plan, first
    second = Scheduler(problem, estimator, seed=seed, mixed_loads=True)
    other = second.run()
    return (other, second) if _plan_rank(other, problem) < _plan_rank(plan, problem) else (plan, first)


_SPARE_TIME_SHARE = 0.8


def _busy_share(plan: SchedulePlan, problem: SchedulingProblem) -> float:
    """Share of the horizon the drones of the largest model spend flying or turning round."""
    if not problem.drones:
        return 1.0
    largest = max((problem.drone_specs[d.model_id] for d in problem.drones),
                  key=lambda s: (s.max_payload_kg, s.max_box_volume_l, s.model_id))
    drones = sum(1 for d in problem.drones if d.model_id == largest.model_id)
    busy = sum((s.arrive_at - s.depart_at).total_seconds() + problem.config.turnaround_s
               for s in plan.sorties if s.model_id == largest.model_id)
    return busy / (drones * (problem.horizon_end_at - problem.start_at).total_seconds())


def _plan_rank(plan: SchedulePlan, problem: SchedulingProblem) -> tuple[int, int, int, float]:
    """(perishables missing their deadline, parcels unserved, delivery sorties, energy Wh): lower is better."""
    perishable = {p.parcel_id for p in problem.parcels if p.perishable and p.due_at is not None}
    unserved = {u.parcel_id for u in plan.unassigned}
    return (int(plan.metrics["late_perishables"]) + len(unserved & perishable), len(unserved),
            int(plan.metrics["delivery_sorties"]), float(plan.metrics["energy_wh"]))


def plan_schedule(problem: SchedulingProblem, estimator: LegEstimator, *, seed: int = 0) -> SchedulePlan:
    """Plan sorties, surface legs and unassigned parcels for `problem`.

    Parameters
    ----------
    problem:
        Parcels, fleet, pads, wind forecast, timetables, horizon and operating rules.
    estimator:
        Pad-to-pad flight estimates (route length m, duration s, energy Wh, feasibility).
    seed:
        Seed of the local search's tie-breaking; the same seed gives the same plan.

    Returns
    -------
    SchedulePlan
        Every input parcel appears exactly once in sorties, surface legs or unassigned.
    """
    return schedule(problem, estimator, seed=seed)[0]
