"""`dispatch fly`: plan, upload, fly and report one sortie on one vehicle (operators and SITL work).

Exit status: 0 the sortie completed; 1 it did not (upload/preflight failed, aborted, failsafe …);
2 bad input (unknown scenario or pad, bad option); 3 no safe plan (no route, infeasible, fence check).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import click

from controller.domain.plan_hash import plan_hash
from controller.scenario import ScenarioError, load_scenario
from controller.services.plan_checks import items_to_json

# A flight that passed through any of these landed, but did not fly the approved plan to the end.
OFF_NOMINAL = {"aborted", "failsafe", "diverted", "link_lost"}


def _emit(as_json: bool, obj: dict[str, Any]) -> None:
    if as_json:
        click.echo(json.dumps(obj, ensure_ascii=False, default=str))
    else:
        detail = obj.get("reason") or obj.get("message") or ""
        click.echo(f"[{obj.get('event')}] {obj.get('state', '')} {detail}".rstrip())


@click.command("fly")
@click.option("--connect", "url", required=True, help="MAVLink URL, e.g. tcp:127.0.0.1:5760 or udpin:0.0.0.0:14550")
@click.option("--scenario", "scenario_name", default="shengsi", show_default=True)
@click.option("--from", "from_pad", required=True, help="Take-off pad id.")
@click.option("--to", "to_pad", required=True, help="Destination pad id (the drone lands there).")
@click.option("--payload-kg", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option("--approved-by", required=True, help="Name of the dispatcher who approved this flight.")
@click.option("--drone-model", default="island-hauler-5", show_default=True)
@click.option("--sysid", type=click.IntRange(1, 254), default=None, help="Vehicle system id (default: first seen).")
@click.option("--altitude-m", type=float, default=None, help="Cruise altitude above take-off (m).")
@click.option("--wind-ms", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option("--wind-from-deg", type=click.FloatRange(0, 360), default=0.0, show_default=True)
@click.option("--heartbeat-period-s", type=click.FloatRange(0.01, 1.0), default=1.0, show_default=True,
              help="GCS heartbeat period; use 1/speedup for a sped-up simulator.")
@click.option("--timeout-s", type=click.FloatRange(min=1), default=3600.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line: per transition, then a summary.")
def fly(url: str, scenario_name: str, from_pad: str, to_pad: str, payload_kg: float, approved_by: str,
        drone_model: str, sysid: int | None, altitude_m: float | None, wind_ms: float, wind_from_deg: float,
        heartbeat_period_s: float, timeout_s: float, as_json: bool) -> None:
    """Plan a flight FROM -> TO around the no-fly zones, upload it with fence and rally points,
    verify, arm, fly and land at TO; report every state transition."""
    from flight_plans import (FlightPlanError, Geofence, RallyPoint, Wind, build_fence_items, build_rally_items,
                              mission_within_fence, plan_flight)
    from flight_plans.mission import recommended_fence_params

    try:
        scenario = load_scenario(scenario_name)
        start, goal = scenario.pad(from_pad), scenario.pad(to_pad)
    except (ScenarioError, KeyError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if not approved_by.strip():
        click.echo("error: --approved-by must name the approving dispatcher", err=True)
        sys.exit(2)
    geofence = Geofence.from_geojson(scenario.geofence)
    altitude = altitude_m if altitude_m is not None else scenario.defaults.cruise_alt_m
    try:
        flight = plan_flight(geofence, (start.lat_deg, start.lon_deg), (goal.lat_deg, goal.lon_deg),
                             drone_model=drone_model, payload_kg=payload_kg,
                             wind=Wind(speed_m_s=wind_ms, from_deg=wind_from_deg), margin_m=scenario.defaults.margin_m,
                             altitude_m=altitude, reserve=scenario.defaults.reserve_fraction)
    except FlightPlanError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if not flight.route.found or not flight.feasible:
        _emit(as_json, {"event": "no_plan", "reason": flight.reason, "feasible": flight.feasible})
        sys.exit(3)
    mission = flight.mission_items(home_alt_amsl_m=start.alt_amsl_m)
    fence = build_fence_items(geofence)
    rally = build_rally_items([RallyPoint(lat_deg=p.lat_deg, lon_deg=p.lon_deg) for p in scenario.pads])
    check = mission_within_fence(mission, geofence)
    if not check.ok:
        _emit(as_json, {"event": "no_plan", "reason": "; ".join(map(str, check.violations))})
        sys.exit(3)
    plan_doc = {"route": [list(p) for p in flight.route.waypoints], "mission_items": items_to_json(mission),
                "fence_items": items_to_json(fence), "rally_items": items_to_json(rally),
                "wind": {"speed_m_s": wind_ms, "from_deg": wind_from_deg}, "altitude_m": altitude,
                "payload_kg": payload_kg, "origin_pad": from_pad, "stops": [to_pad]}
    _emit(as_json, {"event": "plan", "plan_hash": plan_hash(plan_doc), "approved_by": approved_by,
                    "length_m": round(flight.length_m or 0.0, 1), "energy_wh": round(flight.energy_wh, 1),
                    "energy_budget_wh": round(flight.energy_budget_wh, 1), "duration_s": round(flight.duration_s, 1),
                    "waypoints": plan_doc["route"], "mission_items": len(mission), "fence_items": len(fence),
                    "rally_items": len(rally)})
    # ArduPilot's default FENCE_TYPE includes a 300 m circle around home: set the fence we uploaded.
    params = {**recommended_fence_params(geofence), "RTL_ALT": altitude * 100.0}
    final, history = asyncio.run(_fly(url, sysid, mission, fence, rally, plan_doc["route"], params,
                                      heartbeat_period_s, timeout_s, as_json, scenario.defaults.reserve_fraction))
    off_nominal = sorted(set(history) & OFF_NOMINAL)
    delivered = final == "completed" and not off_nominal
    _emit(as_json, {"event": "summary", "state": final, "completed": delivered, "off_nominal": off_nominal,
                    "transitions": history})
    sys.exit(0 if delivered else 1)


async def _fly(url: str, sysid: int | None, mission, fence, rally, route, params, heartbeat_period_s: float,  # type: ignore[no-untyped-def]
               timeout_s: float, as_json: bool, reserve: float) -> tuple[str, list[str]]:
    from controller.vehicle.errors import VehicleLinkError
    from controller.vehicle.manager import connect_vehicle
    from controller.vehicle.sortie import SortiePlan, SortieRunner, SortieTiming

    history: list[str] = []

    async def on_transition(state: str, reason: str, data: dict[str, Any]) -> None:
        history.append(state)
        _emit(as_json, {"event": "transition", "state": state, "reason": reason, "at_unix_s": round(time.time(), 3),
                        **{k: v for k, v in data.items() if isinstance(v, (int, float, str, bool, type(None)))}})

    plan = SortiePlan(mission=mission, fence=fence, rally=rally, route=[tuple(p) for p in route],
                      params=params,
                      reserve_fraction=reserve)
    try:
        async with connect_vehicle(url, sysid=sysid, timeout_s=30.0,
                                   heartbeat_period_s=heartbeat_period_s) as link:
            runner = SortieRunner(link, plan, on_transition=on_transition,
                                  timing=SortieTiming(flight_timeout_s=timeout_s))
            state = await runner.run()
    except VehicleLinkError as exc:
        _emit(as_json, {"event": "error", "message": str(exc)})
        return (history[-1] if history else "link_lost"), history
    return state.value, history
