"""Engine and session factory; SQLite gets WAL mode and foreign keys, PostgreSQL a sane pool."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(database_url: str) -> Engine:
    """Create an engine for ``database_url`` (SQLite file/memory or PostgreSQL via psycopg 3)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _configure_sqlite_connection(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets the API read while the vehicle tasks write; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # We issue BEGIN ourselves (below); pysqlite's implicit deferred BEGIN must not get in the way.
    dbapi_connection.isolation_level = None


def _begin_immediate(connection) -> None:  # type: ignore[no-untyped-def]
    # A deferred transaction that reads and then writes fails with "database is locked" if another
    # writer committed in between (its snapshot is stale). Taking the write lock at BEGIN makes
    # concurrent transactions queue on busy_timeout instead. This serialises all database work of
    # one controller, which is fine for the embedded default; several controllers use PostgreSQL.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session, commit on success, roll back on any error (all-or-nothing writes)."""
    with factory() as session:
        with session.begin():
            yield session
