"""`dispatch plan`: plan one delivery flight and print it as JSON, a QGC .plan, a WPL file or GeoJSON.

Exit status: 0 a route exists (even when the flight is not feasible: see ``feasible``/``reason``),
3 no route exists (JSON still printed with the reason), 2 bad input.

Scenarios are read from ``controller/scenarios/<NAME>/{geofence.geojson,network.json}`` inside the
installed package, or from ``$DISPATCH_SCENARIOS_DIR/<NAME>/`` when that variable is set.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import click

from flight_plans import (
    DeliveryMode,
    FlightPlanError,
    Geofence,
    Wind,
    build_fence_items,
    build_rally_items,
    get_drone_model,
    plan_flight,
)
from flight_plans.energy import DRONE_MODELS
from flight_plans.geojson_export import flight_plan_geojson
from flight_plans.qgc_plan import PlanContents, to_qgc_plan
from flight_plans.route import DEFAULT_ALTITUDE_M, DEFAULT_MARGIN_M
from flight_plans.wpl import to_wpl

EXIT_NO_ROUTE = 3
SCENARIOS_DIR_ENV = "DISPATCH_SCENARIOS_DIR"
DEFAULT_DRONE = "island-courier-2"


class BadInput(click.ClickException):
    """Bad input: printed as ``Error: …`` with exit status 2 (click's usage-error status)."""

    exit_code = 2


def scenario_dir(name: str) -> Path:
    """Return the directory of scenario ``name`` ($DISPATCH_SCENARIOS_DIR or the package's data)."""
    root = os.environ.get(SCENARIOS_DIR_ENV)
    base = Path(root) if root else Path(str(resources.files("controller") / "scenarios"))
    return base / name


def _load_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{what} not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise BadInput(f"cannot read {what} {path}: {exc}") from None


def _lat_lon(text: str, what: str) -> tuple[float, float]:
    try:
        lat_s, lon_s = text.split(",")
        return float(lat_s), float(lon_s)
    except ValueError:
        raise BadInput(f"{what} must be LAT,LON in degrees, got {text!r}") from None


@click.command("plan")
@click.option(
    "--geofence", "geofence_path", type=click.Path(dir_okay=False, path_type=Path), help="GeoJSON fence file."
)
@click.option("--start", help="Start as LAT,LON (degrees).")
@click.option("--goal", help="Goal as LAT,LON (degrees).")
@click.option("--scenario", help="Use a bundled scenario's fence and pads (e.g. shengsi).")
@click.option("--from", "from_pad", help="Start pad id (with --scenario).")
@click.option("--to", "to_pad", help="Goal pad id (with --scenario).")
@click.option(
    "--margin-m",
    type=float,
    default=DEFAULT_MARGIN_M,
    show_default=True,
    help="Clearance from fence edges (m).",
)
@click.option(
    "--altitude-m",
    type=float,
    default=DEFAULT_ALTITUDE_M,
    show_default=True,
    help="Cruise altitude above take-off (m).",
)
@click.option("--payload-kg", type=float, default=0.0, show_default=True, help="Parcel mass (kg).")
@click.option(
    "--wind-ms", "wind_m_s", type=float, default=0.0, show_default=True, help="Mean wind speed (m/s)."
)
@click.option(
    "--wind-from-deg", type=float, default=0.0, show_default=True, help="Direction the wind blows from (deg)."
)
@click.option("--gust-ms", "gust_m_s", type=float, default=None, help="Gust speed (m/s).")
@click.option(
    "--drone",
    default=DEFAULT_DRONE,
    show_default=True,
    type=click.Choice(sorted(DRONE_MODELS)),
    help="Drone model id.",
)
@click.option("--reserve", type=float, default=0.25, show_default=True, help="Battery reserve fraction.")
@click.option(
    "--delivery",
    type=click.Choice([m.value for m in DeliveryMode]),
    default=DeliveryMode.LAND.value,
    show_default=True,
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "plan", "wpl", "geojson"]),
    default="json",
    show_default=True,
)
def plan(
    geofence_path: Path | None,
    start: str | None,
    goal: str | None,
    scenario: str | None,
    from_pad: str | None,
    to_pad: str | None,
    margin_m: float,
    altitude_m: float,
    payload_kg: float,
    wind_m_s: float,
    wind_from_deg: float,
    gust_m_s: float | None,
    drone: str,
    reserve: float,
    delivery: str,
    fmt: str,
) -> None:
    """Plan a delivery flight from a start to a goal inside a geofence."""
    pads: dict[str, dict[str, Any]] = {}
    fence_obj = None
    if scenario:
        sdir = scenario_dir(scenario)
        fence_obj = _load_json(sdir / "geofence.geojson", f"scenario {scenario!r} geofence")
        network = _load_json(sdir / "network.json", f"scenario {scenario!r} network")
        pads = {p["id"]: p for p in network.get("pads", [])}
    if geofence_path is not None:
        fence_obj = _load_json(geofence_path, "geofence")
    if fence_obj is None:
        raise BadInput("give --geofence FILE or --scenario NAME")

    def endpoint(coords: str | None, pad_id: str | None, what: str) -> tuple[tuple[float, float], float]:
        if coords:
            return _lat_lon(coords, what), 0.0
        if pad_id:
            if pad_id not in pads:
                known = ", ".join(sorted(pads)) or "none (use --scenario)"
                raise BadInput(f"unknown pad {pad_id!r}; known pads: {known}")
            pad = pads[pad_id]
            return (float(pad["lat_deg"]), float(pad["lon_deg"])), float(pad.get("alt_amsl_m", 0.0))
        raise BadInput(f"give the {what} as --{what} LAT,LON or as a pad with --scenario")

    start_ll, home_amsl_m = endpoint(start, from_pad, "start")
    goal_ll, _ = endpoint(goal, to_pad, "goal")
    try:
        fence = Geofence.from_geojson(fence_obj)
        model = get_drone_model(drone)
        wind = Wind(speed_m_s=wind_m_s, from_deg=wind_from_deg, gust_m_s=gust_m_s)
        result = plan_flight(
            fence,
            start_ll,
            goal_ll,
            drone_model=model,
            payload_kg=payload_kg,
            wind=wind,
            margin_m=margin_m,
            altitude_m=altitude_m,
            reserve=reserve,
            delivery=DeliveryMode(delivery),
        )
    except FlightPlanError as exc:
        raise BadInput(str(exc)) from None

    route = result.route
    if fmt == "json" or not route.found:
        summary = {
            "waypoints": [[lat, lon] for lat, lon in route.waypoints],
            "length_m": result.length_m,
            "energy_wh": result.energy_wh,
            "duration_s": result.duration_s,
            "feasible": result.feasible,
            "reason": result.reason,
        }
        if fmt != "json":
            click.echo(f"no route: {route.reason}", err=True)
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    elif fmt == "plan":
        rally = [(p["lat_deg"], p["lon_deg"]) for p in pads.values()] or [start_ll, goal_ll]
        contents = PlanContents(
            mission_items=result.mission_items(home_alt_amsl_m=home_amsl_m),
            fence_items=build_fence_items(fence, altitude_m=altitude_m),
            rally_items=build_rally_items(rally),
            cruise_speed_m_s=model.cruise_speed_m_s,
            hover_speed_m_s=model.cruise_speed_m_s,
        )
        click.echo(json.dumps(to_qgc_plan(contents), indent=2))
    elif fmt == "wpl":
        click.echo(to_wpl(result.mission_items(home_alt_amsl_m=home_amsl_m)), nl=False)
    else:
        click.echo(json.dumps(flight_plan_geojson(result, fence), ensure_ascii=False, indent=2))
    if not route.found:
        raise click.exceptions.Exit(EXIT_NO_ROUTE)
