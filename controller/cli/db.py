"""`dispatch db …`: database migrations."""

from __future__ import annotations

import click

from controller.cli.common import database, settings_or_exit
from controller.db import migrate


@click.group()
def db() -> None:
    """Database schema management (Alembic migrations)."""


@db.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def upgrade(revision: str) -> None:
    """Migrate the configured database up to REVISION."""
    settings = settings_or_exit()
    with database(settings, upgrade=False) as (engine, _):
        migrate.upgrade(engine, revision)
        click.echo(f"database at revision {migrate.current_revision(engine)}")


@db.command()
def current() -> None:
    """Print the database's current revision."""
    settings = settings_or_exit()
    with database(settings, upgrade=False) as (engine, _):
        click.echo(migrate.current_revision(engine) or "empty")
