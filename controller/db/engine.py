"""Engine and session factory; SQLite gets WAL mode, foreign keys and in-process writer queueing,
PostgreSQL a sane pool."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
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
        _write_locks[engine] = WriteLock()
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
WRITE_LOCK_WAIT_S = BUSY_TIMEOUT_MS / 1000  # after it SQLite itself arbitrates


class WriteLock:
    """This process's SQLite write lock: a ``threading.Lock`` that the event loop can also wait for.

    SQLite has one writer at a time. Threads of this process that all run BEGIN IMMEDIATE at once
    would poll for the lock in SQLite's busy handler, sleeping 1, 2, 5 ... 100 ms between tries, which
    shows as latency spikes of hundreds of ms under load. They queue on this lock instead and start
    the moment the previous writer commits; other processes (the CLI) still meet SQLite's own lock.

    Coroutines wait with :meth:`acquire_async`: in FIFO order among themselves (an ``asyncio.Lock``
    in front), and only the first of them waits for the thread lock, on a future that ``release``
    completes, so the loop neither polls nor blocks. Threads and the first coroutine then race for
    the lock each time it is released (threads never wait behind all the loop's writers).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mutex = threading.Lock()  # guards _waiting, which release() may swap from any thread
        # The first waiting coroutine of each event loop (one in the app; tests may run several).
        self._waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()
        if self._waiting:  # unlocked read: a stale empty list is caught by acquire_async's re-check
            with self._mutex:
                waiting, self._waiting = self._waiting, []
            for loop, future in waiting:
                loop.call_soon_threadsafe(_wake, future)

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    async def acquire_async(self) -> None:
        """Wait on the running event loop until this coroutine holds the lock (release it with ``release``)."""
        loop = asyncio.get_running_loop()
        turns = self._turns.get(loop)
        if turns is None:
            turns = self._turns[loop] = asyncio.Lock()
        async with turns:
            while not self._lock.acquire(blocking=False):
                future: asyncio.Future[None] = loop.create_future()
                with self._mutex:
                    self._waiting.append((loop, future))
                # A release between the failed acquire and the append saw no waiter: try again.
                if self._lock.acquire(blocking=False):
                    return  # the future stays listed; the next release completes it, unobserved
                await future


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():  # a cancelled request leaves its future behind
        future.set_result(None)


_write_locks: weakref.WeakKeyDictionary[Engine, WriteLock] = weakref.WeakKeyDictionary()


CHECKPOINT_EVERY_COMMITS = 100  # a scan adds about 5 WAL pages: well under SQLite's default 1000
log = logging.getLogger(__name__)


class _Checkpointer:
    """Runs a WAL checkpoint in a short-lived thread after every ``CHECKPOINT_EVERY_COMMITS`` write
    transactions of this process, at most one at a time.

    Two passes. The first copies the bulk of the WAL into the database beside the writers (100
    scans: about 900 pages, 13-17 ms with its fsyncs). The second holds this process's write lock,
    as SQLite's automatic checkpoint runs inside the committing writer: it copies only the frames
    appended during the first, and with none appended during it the next writer starts the WAL file
    over instead of growing it (measured: with no locked pass it grew 40 kB a scan under steady load;
    with it the WAL stays under 5 MB over 6000 scans). Measured under the API bench's scan load
    (690 scans/s), the locked pass holds the lock 3.6 ms at p50, 6 ms at most, where one locked pass
    held it 13-17 ms. Writers queue behind it (in worker threads, or on the event loop without
    blocking it: ``WriteLock.acquire_async``). PASSIVE does not wait for readers (a reader's
    old snapshot only delays the restart to a later checkpoint). Other processes (the CLI) write
    with autocheckpoint off as well through make_engine; SQLite checkpoints the rest when the last
    connection closes.
    """

    def __init__(self, engine: Engine, write_lock: WriteLock) -> None:
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
                    driver = connection.driver_connection
                    driver.execute("PRAGMA wal_checkpoint(PASSIVE)")  # the bulk, beside the writers
                    with self._write_lock:  # the frames appended meanwhile, so the WAL can restart
                        driver.execute("PRAGMA wal_checkpoint(PASSIVE)")
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
    # never wait for a writer. The statement goes straight to the driver: through SQLAlchemy it
    # costs 20 us (exec_driver_sql) to 50 us (execute(text(...))) of Python against about 1 us
    # (measured on the 2-core test machine, SELECT 1), and this event fires on every transaction.
    sql = "BEGIN IMMEDIATE" if connection.get_execution_options().get(WRITE_OPTION) else "BEGIN"
    try:
        connection.connection.driver_connection.execute(sql)
    except sqlite3.Error as exc:  # wrapped as SQLAlchemy would (the API maps OperationalError to 503)
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc


class DispatchSession(Session):
    """A Session whose explicit ``begin()`` marks a write transaction (see ``_begin_immediate``).

    Reads use autobegin; every write path in the controller opens ``with session.begin():``.
    """

    _held_write_lock: tuple[SessionTransaction, WriteLock] | None = None

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
            checkpointer = _checkpointers.get(self.get_bind())  # type: ignore[arg-type]
            if checkpointer is not None:
                checkpointer.write_ended()
            held[1].release()


def queues_writers(engine: Engine) -> bool:
    """True when this process's writers of ``engine`` queue on a :class:`WriteLock` (SQLite)."""
    return engine in _write_locks


class LoopWrite:
    """A write transaction on a pooled raw ``sqlite3`` connection, for the event loop (see :func:`begin_on_loop`).

    ``with`` it: commits when the block succeeds, rolls back when it raises, then returns the
    connection to the pool and releases this process's write lock. ``sqlite3.Error`` raised in the
    block or by COMMIT comes out wrapped as SQLAlchemy's ``DBAPIError`` (the API maps
    ``OperationalError`` to 503), as from a Session.
    """

    def __init__(self, engine: Engine, lock: WriteLock, pooled) -> None:  # type: ignore[no-untyped-def]
        self._engine, self._lock, self._pooled = engine, lock, pooled
        self.connection: sqlite3.Connection = pooled.driver_connection

    def __enter__(self) -> sqlite3.Connection:
        return self.connection

    def __exit__(self, exc_type, exc, tb) -> None:  # type: ignore[no-untyped-def]
        try:
            if exc_type is None:
                self.connection.commit()
            else:
                self.connection.rollback()
        except sqlite3.Error as error:
            raise DBAPIError.instance("COMMIT", None, error, sqlite3.Error) from error
        finally:
            self._pooled.close()  # the pool's reset rolls back whatever a failed COMMIT left open
            self._end()
        if isinstance(exc, sqlite3.Error):
            raise DBAPIError.instance("", None, exc, sqlite3.Error) from exc

    def _end(self) -> None:
        checkpointer = _checkpointers.get(self._engine)
        if checkpointer is not None:
            checkpointer.write_ended()  # under the lock, as the Session path does
        self._lock.release()


async def begin_on_loop(engine: Engine) -> LoopWrite | None:
    """Open a write transaction of SQLite ``engine`` from the event loop, without blocking it.

    Waits (FIFO, not polling: ``WriteLock.acquire_async``) for this process's write lock, then runs
    BEGIN IMMEDIATE with busy_timeout 0: another process (the CLI) holding SQLite's own lock must
    not make the loop sleep in SQLite's busy handler. Returns None in that case (lock released,
    nothing open); the caller then writes from a worker thread. Once BEGIN IMMEDIATE holds the lock
    nothing else in a WAL write transaction waits, so the usual timeout is back before it returns.
    """
    lock = _write_locks[engine]
    await lock.acquire_async()
    try:
        pooled = engine.raw_connection()  # a pooled file connection: no I/O
    except BaseException:
        lock.release()
        raise
    driver = pooled.driver_connection
    try:
        driver.execute("PRAGMA busy_timeout=0")
        try:
            driver.execute("BEGIN IMMEDIATE")
        finally:
            driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    except sqlite3.OperationalError as exc:
        pooled.close()
        lock.release()
        if (exc.sqlite_errorcode & 0xFF) == sqlite3.SQLITE_BUSY:
            return None
        raise DBAPIError.instance("BEGIN IMMEDIATE", None, exc, sqlite3.Error) from exc
    except BaseException:
        pooled.close()
        lock.release()
        raise
    return LoopWrite(engine, lock, pooled)


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
