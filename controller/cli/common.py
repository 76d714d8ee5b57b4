"""What every CLI command needs: settings, an engine on the migrated database, clean error exits."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from controller.db import migrate
from controller.db.engine import make_engine, make_session_factory
from controller.domain.errors import DispatchError
from controller.settings import Settings, load_settings

CLI_ACTOR = "cli"


def settings_or_exit() -> Settings:
    """Read settings; print which variable is wrong and exit 2 instead of a traceback."""
    try:
        return load_settings()
    except ValidationError as exc:
        click.echo(f"error: invalid configuration: {exc}", err=True)
        sys.exit(2)


@contextmanager
def database(settings: Settings, *, upgrade: bool = True) -> Iterator[tuple[Engine, sessionmaker[Session]]]:
    """An engine + session factory on the configured database, migrated to head unless told not to."""
    engine = make_engine(settings.resolved_database_url)
    try:
        if upgrade:
            migrate.upgrade(engine)
        yield engine, make_session_factory(engine)
    finally:
        engine.dispose()


def fail(message: str, code: int = 1) -> None:
    """Print ``error: message`` on stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextmanager
def domain_errors_exit() -> Iterator[None]:
    """Turn a DispatchError into a one-line message and exit status 1."""
    try:
        yield
    except DispatchError as exc:
        fail(exc.message)
