"""`dispatch init` and `dispatch user add`: load a scenario, create users."""

from __future__ import annotations

import click

from controller.cli.common import CLI_ACTOR, database, domain_errors_exit, fail, settings_or_exit
from controller.db.engine import transaction
from controller.scenario import ScenarioError, available_scenarios, load_scenario
from controller.services import auth, network
from controller.services.auth import Role


@click.command()
@click.option("--scenario", "scenario_name", default="shengsi", show_default=True, help="Bundled scenario.")
def init(scenario_name: str) -> None:
    """Migrate the database and load a bundled scenario (idempotent)."""
    settings = settings_or_exit()
    try:
        scenario = load_scenario(scenario_name)
    except ScenarioError as exc:
        fail(f"{exc} (available: {', '.join(available_scenarios())})", 2)
    with database(settings) as (_, factory), domain_errors_exit(), transaction(factory) as session:
        installed = network.install_scenario(session, scenario=scenario, actor=CLI_ACTOR)
    click.echo(f"scenario {scenario.name}: {'installed' if installed else 'already installed'}")


@click.group()
def user() -> None:
    """Users and their API tokens."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
def add_user(name: str, role: str) -> None:
    """Create user NAME with ROLE and print its token (shown only this once)."""
    settings = settings_or_exit()
    with database(settings) as (_, factory), domain_errors_exit(), transaction(factory) as session:
        _, token = auth.create_user(session, name=name, role=Role(role), secret_key=settings.secret_key,
                                    actor=CLI_ACTOR)
    click.echo(token)
