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
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
def up(host: str | None, port: int | None) -> None:
    """Everything `make run` needs: migrate, load the scenario, issue a dispatcher token, serve."""
    settings = settings_or_exit()
    scenario = load_scenario(settings.scenario)
    with database(settings) as (_, factory), transaction(factory) as session:
        network.install_scenario(session, scenario=scenario, actor=CLI_ACTOR)
        token = auth.rotate_token(session, name="dispatcher", role=Role.DISPATCHER,
                                  secret_key=settings.secret_key, actor=CLI_ACTOR)
    url = f"http://{host or settings.host}:{port or settings.port}"
    click.echo(f"controller: {url}/  (API docs {url}/docs)")
    click.echo(f"dispatcher token: {token}")
    _run(settings, host, port)


def _run(settings: Settings, host: str | None, port: int | None) -> None:
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port, log_level="info")
