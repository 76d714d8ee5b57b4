"""Run the scheduler over the database: pending parcels and the fleet in, planned sorties and
surface legs out. Runs are serialised (one at a time, also across several controllers)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from controller.db.models import Drone, Parcel, Pad, Sortie, SurfaceLeg
from controller.domain.parcel_states import ParcelState
from controller.domain.sortie_states import SortieState
from controller.scenario import Scenario
from controller.scheduling import DroneState, SchedulingProblem, Wind, WindForecast, plan_schedule
from controller.scheduling import Parcel as SchedParcel
from controller.scheduling.flight_estimator import best_available_estimator
from controller.scheduling.from_scenario import drone_specs_from_catalogue, problem_from_scenario
from controller.scheduling.serialize import plan_json
from controller.services import audit, parcels, sorties
from controller.services.plan_checks import geofence_for
from controller.services.sortie_plans import NoRouteForSortie, build_sortie_plan

# Sorties in these states still hold their drone; a new run plans the drone from where they leave it.
HOLDING_STATES = [s.value for s in SortieState if s not in (SortieState.COMPLETED, SortieState.REJECTED,
                                                              SortieState.CANCELLED, SortieState.UPLOAD_FAILED,
                                                              SortieState.PREFLIGHT_FAILED)]
SCHEDULER_LOCK_KEY = 7_231_001  # pg_advisory_xact_lock key for "a scheduling run is in progress"
TURNAROUND_S = 300.0

_estimators: dict[tuple[int, float], Any] = {}


@dataclass(frozen=True, kw_only=True)
class ScheduleRequest:
    at: datetime
    wind: Wind
    horizon_s: float = 12 * 3600.0
    seed: int = 0


def _lock_scheduling(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEDULER_LOCK_KEY})
    # SQLite: the run's first write takes the database write lock, which serialises runs.


def _pending_parcels(session: Session, at: datetime) -> list[SchedParcel]:
    rows = session.scalars(select(Parcel).where(Parcel.state == ParcelState.RECEIVED.value).order_by(Parcel.id))
    out = []
    for p in rows:
        out.append(SchedParcel(
            parcel_id=p.id, origin=p.location_id or p.origin_id, destination=p.destination_id,
            weight_kg=p.weight_kg, volume_l=p.length_cm * p.width_cm * p.height_cm / 1000.0,
            ready_at=max(p.ready_at or at, at), due_at=p.due_at, perishable=p.perishable and p.due_at is not None,
            priority=str(p.priority)))
    return out


def _fleet(session: Session, at: datetime, specs: dict[str, Any]) -> list[DroneState]:
    states = []
    for drone in session.scalars(select(Drone).order_by(Drone.id)):
        pad, free_at = drone.current_pad_id or drone.home_pad_id, max(drone.available_at or at, at)
        last = session.scalar(select(Sortie).where(Sortie.drone_id == drone.id, Sortie.state.in_(HOLDING_STATES))
                              .order_by(Sortie.arrive_at.desc()).limit(1))
        if last is not None:
            pad = last.stops[-1] if last.stops else last.origin_pad_id
            free_at = max(free_at, last.arrive_at + timedelta(seconds=TURNAROUND_S))
            battery_wh = specs[drone.model].battery_wh  # a swap is planned after every sortie
        else:
            battery_wh = specs[drone.model].battery_wh * drone.battery_pct / 100.0
        states.append(DroneState(drone_id=drone.id, model_id=drone.model, pad_id=pad, battery_wh=battery_wh,
                                 available_at=free_at))
    return states


def _estimator(scenario: Scenario, problem: SchedulingProblem, version: int) -> Any:
    key = (version, problem.config.cruise_alt_m)
    if key not in _estimators:
        _estimators[key] = best_available_estimator(scenario, problem.pads, altitude_m=problem.config.cruise_alt_m)[0]
    return _estimators[key]


def run_schedule(session: Session, *, scenario: Scenario, request: ScheduleRequest, actor: str) -> dict[str, Any]:
    """Schedule every ``received`` parcel; persist sorties as ``planned`` and the surface legs.

    Returns the plan in the ``dispatch schedule --json`` shape, with the ids the database uses.
    """
    _lock_scheduling(session)
    started = time.perf_counter()
    at = request.at.astimezone(UTC)
    specs = drone_specs_from_catalogue()
    problem = problem_from_scenario(
        scenario, _pending_parcels(session, at), start_at=at, horizon_s=request.horizon_s,
        wind=WindForecast.constant(request.wind, start_at=at), drone_specs=specs, drones=_fleet(session, at, specs))
    geofence, version = geofence_for(session)
    plan = plan_schedule(problem, _estimator(scenario, problem, version), seed=request.seed)
    doc = plan_json(plan)
    run_tag = at.strftime("%Y%m%d%H%M") + f"-{_next_run_number(session):03d}"
    pads = {p.id: (p.lat_deg, p.lon_deg) for p in session.scalars(select(Pad))}
    alts = {p.id: p.alt_amsl_m for p in session.scalars(select(Pad))}
    unplanned: list[dict[str, str]] = []
    for planned, view in zip(plan.sorties, doc["sorties"]):
        sortie_id = f"S{run_tag}-{planned.sortie_id}"
        drops = {pid: leg.to_pad for leg in planned.legs for pid in leg.drop_parcel_ids}
        try:
            sortie_plan = build_sortie_plan(
                geofence=geofence, geofence_version=version, pads=pads, pad_alt_amsl_m=alts,
                drone_id=planned.drone_id, origin_pad=planned.origin_pad, stops=list(planned.stops),
                parcel_ids=list(planned.parcel_ids), altitude_m=planned.altitude_m,
                margin_m=scenario.defaults.margin_m, wind=view["wind"], payload_kg=planned.payload_kg,
                extra={"separation": view["separation"], "energy_budget_wh": planned.energy_budget_wh,
                       "energy_wh": planned.energy_wh,
                       "reserve_fraction": problem.config.reserve_fraction, "purpose": planned.purpose,
                       "scheduler_legs": view["legs"]})
        except NoRouteForSortie as exc:
            unplanned.extend({"parcel": pid, "reason": exc.message} for pid in planned.parcel_ids)
            continue
        sorties.create_planned(
            session, sortie_id=sortie_id, drone_id=planned.drone_id, origin_pad=planned.origin_pad,
            stops=list(planned.stops), plan=sortie_plan, drops=drops, payload_kg=planned.payload_kg,
            energy_wh=planned.energy_wh, battery_wh=planned.battery_wh, altitude_m=planned.altitude_m,
            depart_at=planned.depart_at, arrive_at=planned.arrive_at, geofence_version=version, actor=actor)
        view["id"] = sortie_id
    for index, (leg, view) in enumerate(zip(plan.surface_legs, doc["surface_legs"]), start=1):
        leg_id = f"L{run_tag}-{index:03d}"
        session.add(SurfaceLeg(id=leg_id, mode=leg.mode, line_id=leg.line_id, depart_at=leg.depart_at,
                               parcel_ids=list(leg.parcel_ids), reason="; ".join(sorted(set(leg.reasons.values())))))
        for parcel_id in leg.parcel_ids:
            parcels.transition_parcel(session, parcel_id=parcel_id, to_state=ParcelState.SCHEDULED, actor=actor,
                                      reason=f"{leg.mode} {leg.line_id}: {leg.reasons.get(parcel_id, '')}".strip())
        view["id"] = leg_id
    # The bus legs of flown village parcels (first mile to the hub, last mile from it) are kept too, so
    # the whole journey is in the database; their parcels are already scheduled with their sortie.
    not_flown = {u["parcel"] for u in unplanned}
    for index, (leg, view) in enumerate(zip(plan.connecting_legs, doc.get("connecting_legs", [])), start=1):
        carried = [p for p in leg.parcel_ids if p not in not_flown]
        view["parcels"] = carried
        if not carried:
            continue
        leg_id = f"C{run_tag}-{index:03d}"
        session.add(SurfaceLeg(id=leg_id, mode=leg.mode, line_id=leg.line_id, depart_at=leg.depart_at,
                               parcel_ids=carried, reason="connecting bus leg of a bus + drone journey"))
        view["id"] = leg_id
    doc["sorties"] = [s for s in doc["sorties"] if s["id"].startswith("S" + run_tag)]
    doc["unassigned"].extend(unplanned)
    doc["metrics"].update({"runtime_s": round(time.perf_counter() - started, 3), "geofence_version": version,
                           "start_at": at.isoformat().replace("+00:00", "Z"), "seed": request.seed})
    audit.record(session, actor=actor, action="schedule.run", object_type="schedule", object_id=run_tag,
                 details={"sorties": len(doc["sorties"]), "surface_legs": len(doc["surface_legs"]),
                          "unassigned": len(doc["unassigned"]), "wind": {"speed_m_s": request.wind.speed_m_s,
                                                                         "from_deg": request.wind.from_deg}})
    return doc


def _next_run_number(session: Session) -> int:
    from sqlalchemy import func

    from controller.db.models import AuditEntry

    return (session.scalar(select(func.count()).select_from(AuditEntry)
                           .where(AuditEntry.action == "schedule.run")) or 0) + 1
