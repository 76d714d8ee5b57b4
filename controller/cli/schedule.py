"""`dispatch schedule`: plan sorties and ferry/bus fallback legs for a parcels CSV.

Exit status: 0 success, 2 bad input (unknown scenario, unreadable parcels file or header).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from controller.scheduling.model import Wind, WindForecast
from controller.scheduling.serialize import iso_utc as _iso
from controller.scheduling.serialize import plan_json, sortie_json

__all__ = ["plan_json", "schedule", "sortie_json"]


@click.command("schedule")
@click.option("--scenario", "scenario_name", default="shengsi", show_default=True, help="Scenario name.")
@click.option("--parcels", "parcels_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Parcels CSV (id, origin, destination, weight_kg, length_cm, width_cm, height_cm, ...).")
@click.option("--wind-ms", type=float, default=0.0, show_default=True, help="Mean wind speed (m/s).")
@click.option("--wind-from-deg", type=float, default=0.0, show_default=True, help="Wind direction FROM (deg).")
@click.option("--gust-ms", type=float, default=None, help="Gust speed (m/s); default mean x gust factor.")
@click.option("--at", "at_iso", default=None,
              help="Planning start, ISO-8601 (naive = scenario local time). Default: earliest ready_at, else now.")
@click.option("--horizon-hours", type=float, default=12.0, show_default=True, help="Planning horizon (h).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for deterministic tie-breaking.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def schedule(scenario_name: str, parcels_path: Path, wind_ms: float, wind_from_deg: float, gust_ms: float | None,
             at_iso: str | None, horizon_hours: float, seed: int, as_json: bool) -> None:
    """Plan drone sorties, ferry/bus legs and unassigned parcels for a parcels CSV."""
    from controller.scenario import ScenarioError, load_scenario
    from controller.scheduling.flight_estimator import best_available_estimator
    from controller.scheduling.from_scenario import drone_specs_from_catalogue, problem_from_scenario
    from controller.scheduling.parcels_csv import parse_parcels_csv
    from controller.scheduling.planner import plan_schedule

    def bad_input(msg: str) -> None:
        click.echo(f"error: {msg}", err=True)
        sys.exit(2)

    try:
        scenario = load_scenario(scenario_name)
    except (ScenarioError, FileNotFoundError, OSError, ValueError) as exc:
        bad_input(f"unknown scenario {scenario_name!r}: {exc}")
    tz = ZoneInfo(scenario.timezone)
    try:
        text = parcels_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        bad_input(f"cannot read parcels file {parcels_path}: {exc}")
    at: datetime | None = None
    if at_iso:
        try:
            at = datetime.fromisoformat(at_iso)
        except ValueError:
            bad_input(f"--at is not ISO-8601: {at_iso!r}")
        at = at.replace(tzinfo=tz) if at.tzinfo is None else at
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    try:
        parcels, rejected = parse_parcels_csv(text, default_ready_at=at or now, tz=tz)
    except ValueError as exc:
        bad_input(f"parcels file {parcels_path}: {exc}")
    for r in rejected:
        click.echo(f"rejected row {r.row}: {r.error}", err=True)
    if at is None:
        at = min((p.ready_at for p in parcels), default=now)
    start_at = at.astimezone(UTC)
    wind = WindForecast.constant(Wind(speed_m_s=wind_ms, from_deg=wind_from_deg, gust_m_s=gust_ms), start_at=start_at)
    specs = drone_specs_from_catalogue()
    t0 = time.perf_counter()
    problem = problem_from_scenario(scenario, parcels, start_at=start_at, horizon_s=horizon_hours * 3600.0,
                                    wind=wind, drone_specs=specs)
    estimator, label = best_available_estimator(scenario, problem.pads, altitude_m=problem.config.cruise_alt_m)
    plan = plan_schedule(problem, estimator, seed=seed)
    doc = plan_json(plan)
    doc["rejected_rows"] = [{"row": r.row, "error": r.error} for r in rejected]
    doc["metrics"].update({"estimator": label, "runtime_s": round(time.perf_counter() - t0, 3),
                           "start_at": _iso(start_at), "horizon_end_at": _iso(start_at + timedelta(hours=horizon_hours)),
                           "seed": seed})
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    _print_table(doc, tz)


def _print_table(doc: dict[str, Any], tz: ZoneInfo) -> None:
    from rich.console import Console
    from rich.table import Table

    def local(iso: str) -> str:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(tz).strftime("%m-%d %H:%M")

    console = Console()
    t = Table(title="Sorties (planned, awaiting approval)")
    for col in ("id", "drone", "route", "parcels", "kg", "Wh", "depart", "arrive", "alt m", "separation"):
        t.add_column(col)
    for s in doc["sorties"]:
        t.add_row(s["id"], s["drone"], " → ".join([s["origin"], *s["stops"]]), str(len(s["parcels"])),
                  f"{s['payload_kg']:.1f}", f"{s['energy_wh']:.0f}/{s['energy_budget_wh']:.0f}",
                  local(s["depart_at"]), local(s["arrive_at"]), f"{s['altitude_m']:g}", s["separation"]["reason"])
    console.print(t)
    for leg in doc["surface_legs"]:
        console.print(f"{leg['mode']} {leg['line']} {local(leg['depart_at'])} {leg['origin']} → {leg['destination']}: "
                      f"{', '.join(leg['parcels'])}")
    for u in doc["unassigned"]:
        console.print(f"[red]unassigned[/red] {u['parcel']}: {u['reason']}")
    console.print(doc["metrics"])
