"""Fixtures shared by the whole suite: databases (SQLite and a real PostgreSQL), settings, API clients."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from controller.db import migrate
from controller.db.engine import make_engine, make_session_factory, transaction
from controller.settings import Settings

pytest_plugins = ["sitl.pytest_plugin"]

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
TEST_SECRET = "test-secret-key-that-is-long-enough-1234567890"


def _postgres_admin_url() -> str:
    return os.environ.get("DISPATCH_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def postgres_admin_engine() -> Iterator[Engine]:
    """An AUTOCOMMIT engine on the PostgreSQL server used to create throwaway databases.

    Skips when no server answers, except in CI (CI=true), where a missing server is a failure.
    """
    engine = create_engine(_postgres_admin_url(), isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - decide between skip and fail below
        engine.dispose()
        message = f"PostgreSQL not reachable at {make_url(_postgres_admin_url()).host}: {exc.__class__.__name__}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must run the PostgreSQL suite; .ci/run starts the server)")
        pytest.skip(message)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_admin_engine: Engine) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"dispatch_test_{uuid.uuid4().hex[:12]}"
    with postgres_admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(_postgres_admin_url()).set(database=name).render_as_string(hide_password=False)
    yield url
    with postgres_admin_engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """Each test using this runs once on SQLite and once on a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dispatch.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite:///{tmp_path / 'dispatch.sqlite'}"


def migrated_engine(url: str) -> Engine:
    engine = make_engine(url)
    migrate.upgrade(engine)
    return engine


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = migrated_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def shengsi_factory(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """A migrated SQLite database holding the Shengsi scenario."""
    install_shengsi(session_factory)
    return session_factory


def install_shengsi(factory: sessionmaker[Session]) -> None:
    from controller.scenario import load_scenario
    from controller.services import network

    with transaction(factory) as session:
        network.install_scenario(session, scenario=load_scenario("shengsi"), actor="test")


def make_settings(database_url: str, tmp_path, **overrides: object) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(environment="test", data_dir=tmp_path, database_url=database_url, secret_key=TEST_SECRET,
                    **overrides)  # type: ignore[arg-type]
