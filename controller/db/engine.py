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
    # A database host that stops answering must give a quick 503, not hang requests.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10,
                         connect_args={"connect_timeout": 5})


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


WRITE_OPTION = "dispatch_write_transaction"


def _begin_immediate(connection) -> None:  # type: ignore[no-untyped-def]
    # A deferred transaction that reads and then writes fails with "database is locked" if another
    # writer committed in between (its snapshot is stale). Write transactions therefore take the
    # write lock at BEGIN and queue on busy_timeout; read-only ones stay deferred so WAL readers
    # never wait for a writer.
    if connection.get_execution_options().get(WRITE_OPTION):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


class DispatchSession(Session):
    """A Session whose explicit ``begin()`` marks a write transaction (see ``_begin_immediate``).

    Reads use autobegin; every write path in the controller opens ``with session.begin():``.
    """

    def begin(self, nested: bool = False):  # type: ignore[no-untyped-def, override]
        transaction = super().begin(nested=nested)
        if not nested:
            self.connection(execution_options={WRITE_OPTION: True})
        return transaction


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, class_=DispatchSession)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session, commit on success, roll back on any error (all-or-nothing writes)."""
    with factory() as session:
        with session.begin():
            yield session
