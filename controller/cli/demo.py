"""`dispatch demo`: a simulated Shengsi day, headless, ending with a report folder.

Also holds the pieces `dispatch up` shares with it: preparing the database and the network options.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from controller.cli.common import CLI_ACTOR, database, settings_or_exit
from controller.db.engine import transaction
from controller.demo.network import NetworkConfig, SimulatedNetwork
from controller.demo.runtime import RunResult, free_port, run_day
from controller.scenario import Scenario, load_scenario
from controller.services import auth, network
from controller.services.auth import Role
from controller.settings import Settings


def prepare_database(settings: Settings, scenario: Scenario) -> str:
    """Migrate, install the scenario (once) and return a fresh dispatcher token."""
    with database(settings) as (_, factory), transaction(factory) as session:
        network.install_scenario(session, scenario=scenario, actor=CLI_ACTOR)
        return auth.rotate_token(session, name="dispatcher", role=Role.DISPATCHER,
                                 secret_key=settings.secret_key, actor=CLI_ACTOR)


def parse_start(value: str | None, tz: ZoneInfo) -> datetime:
    """``HH:MM`` local today, an ISO time with offset, or None for 07:00 local today."""
    today = datetime.now(UTC).astimezone(tz).date()
    if not value:
        return datetime.combine(today, time(7, 0), tzinfo=tz).astimezone(UTC)
    if len(value) <= 5 and ":" in value:
        h, m = (int(x) for x in value.split(":"))
        return datetime.combine(today, time(h, m), tzinfo=tz).astimezone(UTC)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise click.BadParameter("give a UTC offset, e.g. 2026-12-01T07:00:00+08:00", param_hint="--start")
    return parsed.astimezone(UTC)


def run_demo(*, settings: Settings, hours: float, speedup: float, wind_m_s: float, seed: int, auto_approve: bool,
             start: str | None = None, out_dir: Path | None = None, port: int | None = None,
             progress: bool = True, echo: Any = click.echo) -> tuple[Path, RunResult, dict[str, Any]]:
    """Run a simulated day against ``settings``' database and write the report; return (folder, result, summary).

    The database must be empty or hold the same scenario (parcel ids carry the run's start time).
    """
    from controller.db.engine import make_engine, make_session_factory
    from controller.demo import report

    scenario = load_scenario(settings.scenario)
    tz = ZoneInfo(scenario.timezone)
    start_at = parse_start(start, tz)
    token = prepare_database(settings, scenario)
    config = NetworkConfig(speedup=speedup, wind_m_s=wind_m_s, seed=seed, auto_approve=auto_approve,
                           approval_ttl_s=settings.approval_ttl_s, pickup_code_ttl_h=settings.pickup_code_ttl_h,
                           parcel_prefix=f"D{start_at.astimezone(tz):%m%d%H%M}S{seed}-")
    host = "127.0.0.1"
    port = port or free_port(host)

    def ready(url: str) -> None:
        echo(f"console: {url}/console/  (API {url}/docs)")
        echo(f"dispatcher token: {token}")
        if auto_approve:
            echo("auto-approve: ON (operator flag --auto-approve; recorded in the audit log as "
                 "sortie.auto_approve_enabled); sorties are approved without a dispatcher")
        else:
            echo("auto-approve: OFF. Nothing flies unless a dispatcher approves it in the console; "
                 "unapproved parcels stay planned.")

    async def main() -> RunResult:
        if not progress:
            return await run_day(settings=settings, scenario=scenario, config=config, start_at=start_at,
                                 hours=hours, host=host, port=port, on_ready=ready)
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[sim]}"),
                      TextColumn("{task.fields[info]}"), TimeElapsedColumn(), transient=False) as bar:
            task = bar.add_task("simulated day", total=hours * 3600.0, sim="", info="")

            def tick(now: datetime, net: SimulatedNetwork) -> None:
                s = net.stats
                bar.update(task, completed=min(hours * 3600.0, (now - start_at).total_seconds()),
                           sim=now.astimezone(tz).strftime("%H:%M"),
                           info=f"parcels {s.parcels_created}, schedule runs {s.schedule_runs}, "
                                f"approved {s.auto_approved}, surface {sum(s.boarded.values())}, "
                                f"picked up {s.pickups}, {len(net.vehicles)} drones"
                                + ("" if net.accepting else " (landing the last sorties)"))

            return await run_day(settings=settings, scenario=scenario, config=config, start_at=start_at,
                                 hours=hours, host=host, port=port, on_ready=ready, on_tick=tick)

    result = asyncio.run(main())
    folder = out_dir or settings.data_dir / "reports" / f"demo-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"scenario": scenario.name, "start (local)": start_at.astimezone(tz).isoformat(timespec="minutes"),
            "end (local)": result.ended_at.astimezone(tz).isoformat(timespec="minutes"), "hours": hours,
            "speed-up": speedup, "wind (m/s)": wind_m_s, "seed": seed, "auto-approve": auto_approve,
            "database": settings.resolved_database_url, "interrupted": result.interrupted}
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            data = report.write_report(session, folder, tz=tz, meta=meta)
    finally:
        engine.dispose()
    return folder, result, report.summary(data)


@click.command()
@click.option("--hours", type=float, default=10.0, show_default=True, help="Simulated hours of the day.")
@click.option("--speedup", type=float, default=60.0, show_default=True,
              help="Simulated seconds per wall second (vehicles too).")
@click.option("--wind-ms", "wind_m_s", type=float, default=4.0, show_default=True,
              help="Constant wind for the scheduler (m/s); above the drones' limits everything goes by ferry/bus.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the parcel trickle and recipients.")
@click.option("--auto-approve", is_flag=True, default=False,
              help="Approve planned sorties without a dispatcher (recorded in the audit log).")
@click.option("--start", default=None, help="Start of the simulated day: HH:MM local today (default 07:00) "
              "or an ISO time with offset.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Report folder (default <data_dir>/reports/demo-<timestamp>/).")
@click.option("--fresh/--reuse-db", default=True, show_default=True,
              help="Run on a new database inside the report folder (default) or on the configured one.")
@click.option("--port", type=int, default=None, help="Console port while the demo runs (default: a free one).")
def demo(hours: float, speedup: float, wind_m_s: float, seed: int, auto_approve: bool, start: str | None,
         out_dir: Path | None, fresh: bool, port: int | None) -> None:
    """Simulate a Shengsi day headless and write a report (HTML, map, charts, CSV).

    Without --auto-approve nothing flies unless a dispatcher approves sorties in the console
    (its URL and a token are printed); parcels then go only where ferries and buses take them.
    """
    settings = settings_or_exit()
    folder = out_dir or settings.data_dir / "reports" / f"demo-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    if fresh:
        folder.mkdir(parents=True, exist_ok=True)
        settings = settings.model_copy(update={"database_url": f"sqlite:///{(folder / 'dispatch.sqlite').resolve()}"})
        settings.__dict__.pop("resolved_database_url", None)
    click.echo(f"simulating {hours:g} h at x{speedup:g} (about {hours * 3600 / speedup / 60:.1f} min), "
               f"wind {wind_m_s:g} m/s, seed {seed}; database {settings.resolved_database_url}")
    folder, result, numbers = run_demo(settings=settings, hours=hours, speedup=speedup, wind_m_s=wind_m_s, seed=seed,
                                       auto_approve=auto_approve, start=start, out_dir=folder, port=port,
                                       progress=os.environ.get("DISPATCH_NO_PROGRESS") is None)
    rate = numbers["on_time_rate"]
    click.echo(f"parcels {numbers['parcels']}, delivered {numbers['delivered']}, "
               f"on time {'n/a' if rate is None else f'{100 * rate:.1f} %'}, sorties completed "
               f"{numbers['sorties_flown']}, fallback parcels {sum(numbers['fallback_parcels_by_reason'].values())}")
    click.echo(f"report: {folder / 'index.html'}")
    if result.interrupted:
        raise SystemExit(130)
