"""Device-local state in SQLite (WAL): boards, compartments, parcels with hashed codes, an outbox
of events for the controller, keypad failure counters, and door-opening intents (a write-ahead record
of each door the agent is about to open; see :mod:`locker_driver.agent.service`).

One connection shared under a lock; every call is a short local write, fast enough to run inline in
the agent's event loop. A state change and the event describing it are written in one transaction
(:meth:`Store.transaction`), so after a crash either both exist or neither.

Databases made by an older agent are brought up to date on open (:data:`ADDED_COLUMNS`).
"""

from __future__ import annotations

import hmac
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from locker_driver.agent.states import Compartment, Held

SCHEMA = """
CREATE TABLE IF NOT EXISTS boards (address INTEGER PRIMARY KEY, online INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS compartments (
    board INTEGER NOT NULL, lock INTEGER NOT NULL, size TEXT NOT NULL, state TEXT NOT NULL,
    parcel_id TEXT, opened_at TEXT, open_alerted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (board, lock));
CREATE TABLE IF NOT EXISTS parcels (
    parcel_id TEXT PRIMARY KEY, state TEXT NOT NULL, size TEXT NOT NULL DEFAULT 'S', code_hmac TEXT,
    expires_at TEXT, recipient_phone TEXT NOT NULL DEFAULT '', board INTEGER, lock INTEGER,
    deposited_at TEXT, courier TEXT, code_issued_at TEXT, unconfirmed_open_at TEXT);
-- Lookups by state (expiry checks) and by code (the keypad) stay fast however long the locker's history.
CREATE INDEX IF NOT EXISTS parcels_by_state ON parcels(state);
CREATE INDEX IF NOT EXISTS parcels_by_code ON parcels(code_hmac);
-- The watchdog's expiry check reads only the held parcels whose code has expired (`expired`).
CREATE INDEX IF NOT EXISTS parcels_by_expiry ON parcels(state, expires_at);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event_uid TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
    at TEXT NOT NULL, payload TEXT NOT NULL, sent_at TEXT);
CREATE TABLE IF NOT EXISTS failures (key TEXT PRIMARY KEY, count INTEGER NOT NULL, last_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- A door about to be opened: committed before the unlock frame, deleted in the transaction that records
-- the opening (or the fault). One per door: the service never has two openings of one door in flight.
CREATE TABLE IF NOT EXISTS intents (
    board INTEGER NOT NULL, lock INTEGER NOT NULL, uid TEXT NOT NULL UNIQUE, action TEXT NOT NULL,
    parcel_id TEXT, actor TEXT NOT NULL, at TEXT NOT NULL, details TEXT NOT NULL, PRIMARY KEY (board, lock));
"""

# Columns added after the first release: (table, column, declaration). SQLite has no
# "ADD COLUMN IF NOT EXISTS", so they are added on open when missing.
ADDED_COLUMNS = (("parcels", "code_issued_at", "TEXT"), ("parcels", "unconfirmed_open_at", "TEXT"))


@dataclass(frozen=True, kw_only=True)
class CompartmentRow:
    board: int
    lock: int
    size: str
    state: Compartment
    parcel_id: str | None
    opened_at: datetime | None
    open_alerted: bool


@dataclass(frozen=True, kw_only=True)
class ParcelRow:
    parcel_id: str
    state: Held
    size: str
    code_hmac: str | None
    expires_at: datetime | None
    recipient_phone: str
    board: int | None
    lock: int | None
    deposited_at: datetime | None
    courier: str | None
    # When ``code_hmac``'s code was issued (controller or agent); None: unknown (counts as oldest).
    code_issued_at: datetime | None = None
    # When an opening of this parcel's door was begun but could not be confirmed after a crash (the door
    # read closed at restart): staff should check the compartment. None: no doubt.
    unconfirmed_open_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class IntentRow:
    """A door the agent is about to open, on record before the unlock frame is sent.

    Attributes:
        uid: unique id; also the ``event_uid`` of the one event its settlement may emit, so a settlement
            replayed after a crash cannot reach the controller twice.
        action: ``pickup``, ``take_back``, ``deposit`` or ``remote_open``.
        parcel_id: the parcel the door opens for (None for an admin's remote open).
        actor: who asked: ``code`` (a recipient's pickup code), the courier's name, or ``admin``.
        at: when the opening was begun.
        details: what settling it needs (deposit: ``size``; remote open: ``command_id``, ``reason``).
    """

    uid: str
    board: int
    lock: int
    action: str
    parcel_id: str | None
    actor: str
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class OutboxEvent:
    event_uid: str
    kind: str
    at: datetime
    payload: dict[str, Any]


def fsync_file(path: str) -> None:
    """fsync the file at ``path``, whichever process or descriptor wrote it; a missing file has nothing
    to sync (a WAL checkpointed and removed: the checkpoint synced it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def code_lookup_sql(n_states: int) -> str:
    """The query of :meth:`Store.find_code` for ``n_states`` states (parameters: the HMAC, the states)."""
    marks = ", ".join("?" * n_states)
    return ("SELECT p.*, c.size AS door_size, EXISTS (SELECT 1 FROM intents i WHERE i.board = p.board "
            "AND i.lock = p.lock) AS door_pending FROM parcels p LEFT JOIN compartments c "
            f"ON c.board = p.board AND c.lock = p.lock WHERE p.code_hmac = ? AND p.state IN ({marks}) "
            "ORDER BY p.parcel_id LIMIT 1")


@dataclass(frozen=True, kw_only=True)
class CodeMatch:
    """What :meth:`Store.find_code` found: the parcel, its door's size, and whether an opening of that
    door is pending (begun, not settled: its board went silent)."""

    parcel: ParcelRow
    door_size: str | None
    door_pending: bool


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _iso(value: datetime | None) -> str | None:
    """UTC, always with microseconds: the text sorts as the instant does (`Store.expired` compares it)."""
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


class Store:
    """The agent's SQLite database at ``path`` (created with its schema if missing)."""

    def __init__(self, path: str | Path) -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL, not NORMAL: with WAL, NORMAL survives a process crash but may lose the last commits on
        # power loss, and a bus locker loses power whenever the ignition goes off. A door opened for a
        # pickup must still be on record after that, so every commit waits for its WAL fsync (~0.3 ms
        # measured on the bench VM, more on an SD card) before the agent answers.
        self._db.execute("PRAGMA synchronous=FULL")
        self.wal_path = f"{path}-wal"  # what flush() syncs (a line process syncs it too: line.py)
        self._path = str(path)
        self._lock = threading.RLock()
        self._reader: sqlite3.Connection | None = None  # see find_code()
        self._reader_lock = threading.Lock()
        self._depth = 0
        self._durable = True  # the open transaction's setting (see transaction())
        self.unsynced = False  # a commit made without fsync may not be on disk yet (see flush())
        self._failures: dict[str, tuple[int, datetime | None]] = {}  # failures(), written through
        self._add_missing_columns()
        self._db.executescript(SCHEMA)

    def _add_missing_columns(self) -> None:
        """Add :data:`ADDED_COLUMNS` to tables an older agent created (before SCHEMA's indexes use them)."""
        for table, column, declaration in ADDED_COLUMNS:
            present = {r["name"] for r in self._db.execute(f"PRAGMA table_info({table})")}
            if present and column not in present:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    def close(self) -> None:
        """Close the database."""
        with self._reader_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[None]:
        """Group writes atomically; nests (inner blocks join the outer transaction and its durability).

        Parameters:
            durable: commit with the WAL's fsync (synchronous=FULL, the default). ``False`` commits
                without it (synchronous=NORMAL): safe against the process dying (the pages are in the
                OS), not against power loss until the next durable commit or :meth:`flush` syncs the
                WAL, which covers every earlier commit. Only for a record that something already on
                disk makes recoverable (an opening whose intent is on record).
        """
        with self._lock:
            if self._depth == 0:
                self._durable = durable
                if not durable:
                    self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._db.execute("ROLLBACK")
                    self._failures.clear()  # may hold a counter the rollback undid
                    self._restore_sync()
                raise
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("COMMIT")
                self._restore_sync()

    def _restore_sync(self) -> None:
        if not self._durable:
            self._db.execute("PRAGMA synchronous=FULL")
            self.unsynced = True
            self._durable = True

    def flush(self, *, always: bool = False) -> bool:
        """Make commits made with ``durable=False`` power-loss safe: fsync the WAL; return whether done.

        fsync works on the file, whichever descriptor wrote it, so this needs neither the connection
        nor its lock, and waits on the disk without holding up other commits.

        Parameters:
            always: fsync even if no unsynced commit is known. A caller that must know its own commit
                is on disk when this returns passes it: without it, a flush running in another thread
                may have taken the flag and still be waiting on the disk.
        """
        with self._lock:
            if not (self.unsynced or always):
                return False
            self.unsynced = False
        fsync_file(self.wal_path)
        return True

    def _exec(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, params)

    # -- layout -------------------------------------------------------------------------------

    def install_layout(self, compartments: list[tuple[int, int, str]]) -> bool:
        """Create compartments ``(board, lock, size)`` all free, unless some exist; return whether created."""
        with self.transaction():
            if self._exec("SELECT COUNT(*) FROM compartments").fetchone()[0]:
                return False
            for board, lock, size in compartments:
                self._exec("INSERT OR IGNORE INTO boards(address, online) VALUES (?, 1)", (board,))
                self._exec("INSERT INTO compartments(board, lock, size, state) VALUES (?, ?, ?, ?)",
                           (board, lock, size, Compartment.FREE.value))
            return True

    def boards(self) -> dict[int, bool]:
        """Return ``{board address: online}``."""
        return {r["address"]: bool(r["online"]) for r in self._exec("SELECT * FROM boards ORDER BY address")}

    def board_online(self, board: int) -> bool:
        """Whether ``board`` is marked online (False for an unknown board)."""
        row = self._exec("SELECT online FROM boards WHERE address = ?", (board,)).fetchone()
        return bool(row and row["online"])

    def set_board_online(self, board: int, online: bool) -> None:
        self._exec("UPDATE boards SET online = ? WHERE address = ?", (int(online), board))

    def compartments(self, board: int | None = None) -> list[CompartmentRow]:
        """Return every compartment (or those of ``board``), by board and lock.

        The watchdog reads one board at a time, several times a second: filtering in SQL keeps that
        to 24 rows instead of every compartment of every board per board.
        """
        if board is None:
            rows = self._exec("SELECT * FROM compartments ORDER BY board, lock").fetchall()
        else:
            rows = self._exec("SELECT * FROM compartments WHERE board = ? ORDER BY lock", (board,)).fetchall()
        return [self._compartment(r) for r in rows]

    def compartment(self, board: int, lock: int) -> CompartmentRow:
        row = self._exec("SELECT * FROM compartments WHERE board = ? AND lock = ?", (board, lock)).fetchone()
        if row is None:
            raise KeyError(f"no compartment {board}/{lock}")
        return self._compartment(row)

    @staticmethod
    def _compartment(r: sqlite3.Row) -> CompartmentRow:
        return CompartmentRow(board=r["board"], lock=r["lock"], size=r["size"], state=Compartment(r["state"]),
                              parcel_id=r["parcel_id"], opened_at=_dt(r["opened_at"]),
                              open_alerted=bool(r["open_alerted"]))

    def update_compartment(self, board: int, lock: int, *, state: Compartment, parcel_id: str | None,
                           opened_at: datetime | None = None) -> None:
        """Set a compartment's state and parcel; ``opened_at`` is when its door was opened (None: closed)."""
        self._exec("UPDATE compartments SET state = ?, parcel_id = ?, opened_at = ?, open_alerted = 0 "
                   "WHERE board = ? AND lock = ?", (state.value, parcel_id, _iso(opened_at), board, lock))

    def mark_open_alerted(self, board: int, lock: int) -> None:
        self._exec("UPDATE compartments SET open_alerted = 1 WHERE board = ? AND lock = ?", (board, lock))

    # -- parcels ------------------------------------------------------------------------------

    def parcel(self, parcel_id: str) -> ParcelRow | None:
        row = self._exec("SELECT * FROM parcels WHERE parcel_id = ?", (parcel_id,)).fetchone()
        return None if row is None else self._parcel(row)

    def parcels(self, *states: Held) -> list[ParcelRow]:
        """Return parcels in any of ``states`` (all parcels if none given), by id.

        The filter runs in SQL on an index: picked-up and returned parcels pile up over a locker's life
        and must not be read for every code typed at the keypad.
        """
        if not states:
            rows = self._exec("SELECT * FROM parcels ORDER BY parcel_id").fetchall()
        else:
            marks = ", ".join("?" * len(states))
            rows = self._exec(f"SELECT * FROM parcels WHERE state IN ({marks}) ORDER BY parcel_id",
                              tuple(s.value for s in states)).fetchall()
        return [self._parcel(r) for r in rows]

    def expired(self, state: Held, now: datetime) -> list[ParcelRow]:
        """Return parcels in ``state`` whose ``expires_at`` is at or before ``now``, by id.

        A range scan on an index: the watchdog asks every pass, and a locker full of live codes must
        not be read whole for it (3 000 parcels took ~30 ms under the operation lock)."""
        rows = self._exec("SELECT * FROM parcels WHERE state = ? AND expires_at IS NOT NULL AND expires_at <= ? "
                          "ORDER BY parcel_id", (state.value, _iso(now))).fetchall()
        return [self._parcel(r) for r in rows]

    def codes(self, *states: Held) -> dict[str, str]:
        """Return ``{parcel_id: code_hmac}`` of parcels in ``states`` that have a code (two columns only)."""
        marks = ", ".join("?" * len(states))
        rows = self._exec(f"SELECT parcel_id, code_hmac FROM parcels WHERE state IN ({marks}) "
                          "AND code_hmac IS NOT NULL", tuple(s.value for s in states)).fetchall()
        return {r["parcel_id"]: r["code_hmac"] for r in rows}

    def find_code(self, code_hmac: str, *states: Held) -> CodeMatch | None:
        """Return the parcel in ``states`` whose code HMAC is ``code_hmac``, with its door (None: none).

        An indexed equality lookup, not a constant-time scan of every live code: what its timing could
        reveal (whether, and how closely, an HMAC matches a stored one) is worthless without the code key,
        since each guessed code's HMAC is unpredictable, and the answer itself says whether the code was
        right. The scan cost 0.25 ms per code typed with 384 live codes; this costs ~20 us. The match
        is confirmed with :func:`hmac.compare_digest` all the same. Several parcels with one code (only a
        controller bug could make that): the lowest parcel id.

        It reads through a connection of its own, outside :meth:`transaction`: what is committed, never
        a write in progress, and without waiting for one. The door opener's batches hold the main
        connection for their commits (a third of the time at 500 pickups/s), and an event loop that
        waited there for every code typed stalled all its requests meanwhile. Callers must not hold a
        transaction whose writes the lookup should see (the pickup reads before it writes anything).
        """
        sql = code_lookup_sql(len(states))
        with self._reader_lock:
            if self._reader is None:
                self._reader = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
                self._reader.row_factory = sqlite3.Row
                self._reader.execute("PRAGMA query_only=ON")
            row = self._reader.execute(sql, (code_hmac, *(s.value for s in states))).fetchone()
        if row is None or not hmac.compare_digest(row["code_hmac"], code_hmac):
            return None
        return CodeMatch(parcel=self._parcel(row), door_size=row["door_size"],
                         door_pending=bool(row["door_pending"]))

    @staticmethod
    def _parcel(r: sqlite3.Row) -> ParcelRow:
        return ParcelRow(parcel_id=r["parcel_id"], state=Held(r["state"]), size=r["size"], code_hmac=r["code_hmac"],
                         expires_at=_dt(r["expires_at"]), recipient_phone=r["recipient_phone"], board=r["board"],
                         lock=r["lock"], deposited_at=_dt(r["deposited_at"]), courier=r["courier"],
                         code_issued_at=_dt(r["code_issued_at"]), unconfirmed_open_at=_dt(r["unconfirmed_open_at"]))

    def put_parcel(self, parcel: ParcelRow) -> None:
        """Insert or replace a parcel row."""
        self._exec("INSERT OR REPLACE INTO parcels(parcel_id, state, size, code_hmac, expires_at, recipient_phone,"
                   " board, lock, deposited_at, courier, code_issued_at, unconfirmed_open_at)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (parcel.parcel_id, parcel.state.value, parcel.size, parcel.code_hmac, _iso(parcel.expires_at),
                    parcel.recipient_phone, parcel.board, parcel.lock, _iso(parcel.deposited_at), parcel.courier,
                    _iso(parcel.code_issued_at), _iso(parcel.unconfirmed_open_at)))

    # -- door-opening intents -----------------------------------------------------------------

    def add_intent(self, intent: IntentRow) -> None:
        """Record that ``intent``'s door is about to open (raises sqlite3.IntegrityError if one is pending)."""
        self._exec("INSERT INTO intents(board, lock, uid, action, parcel_id, actor, at, details)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (intent.board, intent.lock, intent.uid, intent.action, intent.parcel_id, intent.actor,
                    intent.at.isoformat(), json.dumps(intent.details, sort_keys=True)))

    def intents(self, board: int | None = None) -> list[IntentRow]:
        """Return pending intents (of ``board``, or all), by board and lock."""
        if board is None:
            rows = self._exec("SELECT * FROM intents ORDER BY board, lock").fetchall()
        else:
            rows = self._exec("SELECT * FROM intents WHERE board = ? ORDER BY lock", (board,)).fetchall()
        return [IntentRow(uid=r["uid"], board=r["board"], lock=r["lock"], action=r["action"],
                          parcel_id=r["parcel_id"], actor=r["actor"], at=datetime.fromisoformat(r["at"]),
                          details=json.loads(r["details"])) for r in rows]

    def has_intent(self, board: int, lock: int) -> bool:
        """Return whether an opening of door ``board``/``lock`` is pending (begun, not settled)."""
        return self._exec("SELECT 1 FROM intents WHERE board = ? AND lock = ?", (board, lock)).fetchone() is not None

    def drop_intent(self, board: int, lock: int) -> None:
        """Forget the pending intent of a door (settled); no-op if there is none."""
        self._exec("DELETE FROM intents WHERE board = ? AND lock = ?", (board, lock))

    # -- outbox -------------------------------------------------------------------------------

    def emit(self, kind: str, at: datetime, payload: dict[str, Any], *, uid: str | None = None) -> str:
        """Append an event for the controller; return its id (``uid``, default a fresh ``uuid4`` hex)."""
        uid = uid or uuid.uuid4().hex
        self._exec("INSERT INTO outbox(event_uid, kind, at, payload) VALUES (?, ?, ?, ?)",
                   (uid, kind, at.isoformat(), json.dumps(payload, sort_keys=True)))
        return uid

    def pending_events(self, limit: int = 100) -> list[OutboxEvent]:
        """Return unsent events, oldest first."""
        rows = self._exec("SELECT * FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [OutboxEvent(event_uid=r["event_uid"], kind=r["kind"], at=datetime.fromisoformat(r["at"]),
                            payload=json.loads(r["payload"])) for r in rows]

    def events(self, kind: str | None = None) -> list[OutboxEvent]:
        """Return every event (sent or not), oldest first, optionally of one kind."""
        rows = self._exec("SELECT * FROM outbox ORDER BY seq").fetchall()
        return [OutboxEvent(event_uid=r["event_uid"], kind=r["kind"], at=datetime.fromisoformat(r["at"]),
                            payload=json.loads(r["payload"])) for r in rows if kind in (None, r["kind"])]

    def mark_sent(self, uids: list[str], at: datetime) -> None:
        with self.transaction():
            for uid in uids:
                self._exec("UPDATE outbox SET sent_at = ? WHERE event_uid = ? AND sent_at IS NULL",
                           (at.isoformat(), uid))

    # -- failure counters and meta ------------------------------------------------------------

    def failures(self, key: str) -> tuple[int, datetime | None]:
        """Return ``(count, time of the last failure)`` for counter ``key``.

        Cached: every code typed reads the keypad's counter, and only this store writes it."""
        hit = self._failures.get(key)
        if hit is None:
            row = self._exec("SELECT count, last_at FROM failures WHERE key = ?", (key,)).fetchone()
            hit = self._failures[key] = (0, None) if row is None else (row["count"], _dt(row["last_at"]))
        return hit

    def set_failures(self, key: str, count: int, last_at: datetime) -> None:
        self._exec("INSERT OR REPLACE INTO failures(key, count, last_at) VALUES (?, ?, ?)",
                   (key, count, last_at.isoformat()))
        self._failures[key] = (count, last_at)

    def meta(self, key: str) -> str | None:
        row = self._exec("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row["value"]

    def set_meta(self, key: str, value: str) -> None:
        self._exec("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
