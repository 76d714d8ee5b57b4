"""Engine and session factory; SQLite gets WAL mode, foreign keys and in-process writer queueing,
PostgreSQL a sane pool."""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
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
        _checkpointers[engine] = _Checkpointer(engine, _write_locks[engine])
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
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # No writer checkpoints the WAL in its own commit (SQLite's default every 1000 pages, 10-20 ms
    # with its fsyncs, 1 in ~200 scans, measured as the whole tail of the on-loop scans): a thread
    # of _Checkpointer does it after every CHECKPOINT_EVERY_COMMITS write transactions.
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()
    # We issue BEGIN ourselves (below); pysqlite's implicit deferred BEGIN must not get in the way.
    dbapi_connection.isolation_level = None


BUSY_TIMEOUT_MS = 30_000  # SQLite's wait for another process's write lock
WRITE_OPTION = "dispatch_write_transaction"
NO_WAIT_OPTION = "dispatch_write_no_wait"  # with WRITE_OPTION: BEGIN IMMEDIATE fails at once if busy
WRITE_LOCK_WAIT_S = BUSY_TIMEOUT_MS / 1000  # after it SQLite itself arbitrates

# SQLite has one writer at a time. Threads of this process that all run BEGIN IMMEDIATE at once
# would poll for the lock in SQLite's busy handler, sleeping 1, 2, 5 ... 100 ms between tries, which
# shows as latency spikes of hundreds of ms under load. They queue on this lock instead and start
# the moment the previous writer commits; other processes (the CLI) still meet SQLite's own lock.
_write_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


CHECKPOINT_EVERY_COMMITS = 100  # a scan adds about 5 WAL pages: well under SQLite's default 1000
log = logging.getLogger(__name__)


class _Checkpointer:
    """Runs a WAL checkpoint in a short-lived thread after every ``CHECKPOINT_EVERY_COMMITS`` write
    transactions of this process, at most one at a time.

    It holds this process's write lock meanwhile, as SQLite's automatic checkpoint runs inside the
    committing writer: with no frames appended during it, the next writer starts the WAL file over
    instead of growing it (measured: without the lock it grew 40 kB a scan under steady load). Writers
    queue behind it in worker threads; the event loop never waits (``try_begin`` finds the lock
    taken and the caller goes to a worker thread). PASSIVE does not wait for readers (a reader's
    old snapshot only delays the restart to a later checkpoint). Other processes (the CLI) write
    with autocheckpoint off as well through make_engine; SQLite checkpoints the rest when the last
    connection closes.
    """

    def __init__(self, engine: Engine, write_lock: threading.Lock) -> None:
        self._engine = weakref.ref(engine)
        self._write_lock = write_lock
        self._commits = 0
        self._running = threading.Lock()

    def write_ended(self) -> None:
        self._commits += 1  # under the write lock: no lost increments
        if self._commits >= CHECKPOINT_EVERY_COMMITS and self._running.acquire(blocking=False):
            self._commits = 0
            threading.Thread(target=self._checkpoint, name="sqlite-checkpoint", daemon=True).start()

    def _checkpoint(self) -> None:
        try:
            engine = self._engine()
            if engine is not None:
                connection = engine.raw_connection()
                try:
                    with self._write_lock:
                        connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                finally:
                    connection.close()
        except Exception:  # noqa: BLE001 - a missed checkpoint is retried after the next commits
            log.warning("WAL checkpoint failed", exc_info=True)
        finally:
            self._running.release()


_checkpointers: weakref.WeakKeyDictionary[Engine, _Checkpointer] = weakref.WeakKeyDictionary()


def _begin_immediate(connection) -> None:  # type: ignore[no-untyped-def]
    # A deferred transaction that reads and then writes fails with "database is locked" if another
    # writer committed in between (its snapshot is stale). Write transactions therefore take the
    # write lock at BEGIN and queue on busy_timeout; read-only ones stay deferred so WAL readers
    # never wait for a writer. The statements go straight to the driver: through SQLAlchemy's
    # execute path each costs about 0.1 ms of Python, more than SQLite spends on it.
    options = connection.get_execution_options()

    def driver(sql: str) -> None:
        try:
            connection.connection.driver_connection.execute(sql)
        except sqlite3.Error as exc:  # wrapped as SQLAlchemy would (the API maps OperationalError to 503)
            raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc

    if options.get(NO_WAIT_OPTION):
        # Another process (the CLI) holding SQLite's write lock must not make the caller (the event
        # loop) sleep in the busy handler: fail with SQLITE_BUSY at once instead. Once BEGIN IMMEDIATE
        # holds the lock nothing else in a WAL write transaction waits, so the usual timeout returns.
        driver("PRAGMA busy_timeout=0")
        try:
            driver("BEGIN IMMEDIATE")
        finally:
            driver(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    elif options.get(WRITE_OPTION):
        driver("BEGIN IMMEDIATE")
    else:
        driver("BEGIN")


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

    def queues_writers(self) -> bool:
        """True when this process's writers queue on an in-process lock (SQLite), so ``try_begin`` may succeed."""
        return self.get_bind() in _write_locks  # type: ignore[operator]

    def try_begin(self) -> SessionTransaction | None:
        """Begin a write transaction only if it can start without waiting, else return None.

        For a caller that must never block (the event loop): None when the engine has no in-process
        write lock (PostgreSQL), when another writer of this process holds it, or when another
        process holds SQLite's write lock. The session is then as before (no transaction) and the
        caller uses ``begin()`` in a worker thread. On success the transaction is open exactly as
        ``begin()`` opens it (BEGIN IMMEDIATE, write lock held until it ends).
        """
        lock = _write_locks.get(self.get_bind())  # type: ignore[arg-type]
        if lock is None or not lock.acquire(blocking=False):
            return None
        try:
            transaction = super().begin()
        except BaseException:
            lock.release()
            raise
        self._held_write_lock = (transaction, lock)
        try:
            self.connection(execution_options={WRITE_OPTION: True, NO_WAIT_OPTION: True})
        except OperationalError as exc:
            transaction.rollback()  # ends it and releases the lock (after_transaction_end)
            if _is_busy(exc):
                return None
            raise
        except BaseException:
            transaction.rollback()
            raise
        return transaction

    def _release_write_lock(self, transaction: SessionTransaction) -> None:
        held = self._held_write_lock
        if held is not None and held[0] is transaction:
            self._held_write_lock = None
            checkpointer = _checkpointers.get(self.get_bind())  # type: ignore[arg-type]
            if checkpointer is not None:
                checkpointer.write_ended()
            held[1].release()


def _is_busy(exc: OperationalError) -> bool:
    orig = exc.orig
    return isinstance(orig, sqlite3.OperationalError) and (orig.sqlite_errorcode & 0xFF) == sqlite3.SQLITE_BUSY


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
