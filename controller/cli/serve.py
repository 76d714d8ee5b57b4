"""`dispatch serve` and `dispatch up`."""

from __future__ import annotations

import click
import uvicorn

from controller.api.app import create_app
from controller.cli.common import CLI_ACTOR, database, settings_or_exit
from controller.db.engine import transaction
from controller.scenario import load_scenario
from controller.services import auth, network
from controller.services.auth import Role
from controller.settings import Settings


@click.command()
@click.option("--host", default=None, help="Bind address (default DISPATCH_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default DISPATCH_PORT or 8000).")
def serve(host: str | None, port: int | None) -> None:
    """Migrate the database and serve the HTTP API."""
    settings = settings_or_exit()
    with database(settings):
        pass
    _run(settings, host, port)


@click.command()
@click.option("--host", default=None, help="Bind address (default DISPATCH_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default DISPATCH_PORT or 8000).")
@click.option("--speedup", type=float, default=1.0, show_default=True,
              help="Simulated seconds per wall second for the simulated network and drones.")
@click.option("--wind-ms", "wind_m_s", type=float, default=4.0, show_default=True, help="Wind for the scheduler (m/s).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the parcel trickle.")
@click.option("--auto-approve", is_flag=True, default=False,
              help="Approve planned sorties without a dispatcher (recorded in the audit log).")
@click.option("--no-sim", is_flag=True, default=False, help="Serve only: no simulated drones, buses or parcels.")
def up(host: str | None, port: int | None, speedup: float, wind_m_s: float, seed: int, auto_approve: bool,
       no_sim: bool) -> None:
    """Everything `make run` needs: migrate, load the scenario, issue a dispatcher token, start the
    simulated network (drones at every pad, buses, ferries, lockers, a parcel trickle) and serve the
    console. Ctrl-C stops everything."""
    import asyncio
    from datetime import UTC, datetime

    from controller.cli.demo import prepare_database
    from controller.demo.network import NetworkConfig
    from controller.demo.runtime import run_day

    settings = settings_or_exit()
    scenario = load_scenario(settings.scenario)
    token = prepare_database(settings, scenario)
    host, port = host or settings.host, port or settings.port
    url = f"http://{host}:{port}"
    if no_sim:
        click.echo(f"controller: {url}/console/  (API docs {url}/docs)")
        click.echo(f"dispatcher token: {token}")
        _run(settings, host, port)
        return
    start_at = datetime.now(UTC)
    config = NetworkConfig(speedup=speedup, wind_m_s=wind_m_s, seed=seed, auto_approve=auto_approve,
                           approval_ttl_s=settings.approval_ttl_s, pickup_code_ttl_h=settings.pickup_code_ttl_h,
                           parcel_prefix=f"U{start_at:%m%d%H%M%S}-")

    def ready(base: str) -> None:
        click.echo(f"console: {base}/console/  (API docs {base}/docs)")
        click.echo(f"dispatcher token: {token}")
        click.echo(f"simulated network: {len(scenario.drones)} drones at their pads, buses, ferries, parcels "
                   f"arriving; speed-up x{speedup:g}. " + ("Sorties are approved automatically (--auto-approve)."
                   if auto_approve else "Approve sorties in the console to fly them.") + " Ctrl-C stops.")

    try:
        asyncio.run(run_day(settings=settings, scenario=scenario, config=config, start_at=start_at, hours=None,
                            host=host, port=port, on_ready=ready))
    except KeyboardInterrupt:
        pass
    click.echo("stopped")


def _run(settings: Settings, host: str | None, port: int | None) -> None:
    from controller.observability import configure_logging

    # Our redacting handler instead of uvicorn's, and no access log: EventSource URLs carry tokens.
    configure_logging(settings.log_json)
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port, log_config=None,
                access_log=False)
