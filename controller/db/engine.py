"""Engine and session factory; SQLite gets WAL mode, foreign keys and in-process writer queueing,
PostgreSQL a sane pool."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker


def make_engine(database_url: str) -> Engine:
    """Create an engine for ``database_url`` (SQLite file/memory or PostgreSQL via psycopg 3)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # A file database gets enough pooled connections for every worker thread (anyio's default
        # limit is 40): an overflow connection is opened, configured (PRAGMAs) and closed per use.
        pool = {"pool_size": 48, "max_overflow": 16} if url.database and url.database != ":memory:" else {}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_immediate)
        _write_locks[engine] = threading.Lock()
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
WRITE_LOCK_WAIT_S = 30.0  # as long as SQLite's busy_timeout; after it SQLite itself arbitrates

# SQLite has one writer at a time. Threads of this process that all run BEGIN IMMEDIATE at once
# would poll for the lock in SQLite's busy handler, sleeping 1, 2, 5 ... 100 ms between tries, which
# shows as latency spikes of hundreds of ms under load. They queue on this lock instead and start
# the moment the previous writer commits; other processes (the CLI) still meet SQLite's own lock.
_write_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


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

    _held_write_lock: tuple[SessionTransaction, threading.Lock] | None = None

    def begin(self, nested: bool = False):  # type: ignore[no-untyped-def, override]
        transaction = super().begin(nested=nested)
        if not nested:
            lock = _write_locks.get(self.get_bind())  # type: ignore[arg-type]
            if lock is not None and lock.acquire(timeout=WRITE_LOCK_WAIT_S):
                self._held_write_lock = (transaction, lock)
            try:
                self.connection(execution_options={WRITE_OPTION: True})
            except BaseException:
                self._release_write_lock(transaction)
                raise
        return transaction

    def _release_write_lock(self, transaction: SessionTransaction) -> None:
        held = self._held_write_lock
        if held is not None and held[0] is transaction:
            self._held_write_lock = None
            held[1].release()


@event.listens_for(DispatchSession, "after_transaction_end")
def _release_write_lock(session: Session, transaction: SessionTransaction) -> None:
    # Fires after the COMMIT or ROLLBACK has run on the connection, so the next writer never finds
    # SQLite's lock still taken.
    if isinstance(session, DispatchSession):
        session._release_write_lock(transaction)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, class_=DispatchSession)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session, commit on success, roll back on any error (all-or-nothing writes)."""
    with factory() as session:
        with session.begin():
            yield session
