"""Deposits, pickups, the door interlock, faults and reconciliation: the agent's core.

Everything that touches the lock boards goes through :class:`LockerService`. Decisions are taken one
at a time under its operation lock (an ``asyncio.Lock``); doors open in batches (below), and a pickup
waits for its door without the lock, so codes for other doors are checked meanwhile. The blocking line
(``line.py``: the bus in a worker thread, or in a child process of its own under ``locker-agent run``)
is called from worker threads. Door closings are not reported by the boards, so
:meth:`LockerService.poll` queries every board (one query-all frame each) and settles what changed: a
reserved compartment whose door closed completes its deposit, an open one its collection. The same
pass notices boards that stop answering (marked offline, others keep working) or come back
(reconciled door by door before they serve anyone), doors left open, and codes that expired.

Every change is written with the event describing it, in one store transaction, for the controller.

Write-ahead intents: no door opens unrecorded
---------------------------------------------
Opening a door and recording it cannot be one atomic step: the agent may die (kill -9, the bus's power
cut) after the board pulsed the lock and before the commit. So every opening (pickup, courier
take-back, courier deposit, admin remote open) first commits an *intent* — "opening door B/L for
parcel P by X" — with fsync, before the unlock frame is sent. The confirmed unlock then records the new
state and deletes the intent in one transaction; a door that reads closed after the tries (a fault)
deletes it with the ``door_fault`` record. An intent still pending is settled from the door the next
time its board answers a query — at start-up before anyone is served, or when a board that went
silent mid-opening comes back — inside the same transaction as the rest of that board's reconciling:

* door **open**: the opening happened. It is completed exactly as the live path would have: a pickup
  leaves the parcel collecting with its code dead (the ``pickup`` event follows once, when the door
  closes), a take-back returning, a deposit reserved for its courier (held with a code once closed), a
  remote open reported ``ok``.
* door **closed**: nobody can know whether it opened and closed again. The rule keeps what a person
  could still be owed and tells staff:

  - pickup / take-back: the parcel stays where it was (held, code live and one-time as before: the
    recipient's next right code opens the door once and completes normally; expired, still waiting
    for a courier) and is flagged (``unconfirmed_open_at``, ``needs_check`` in the compartment view);
    an ``opening_unconfirmed`` event raises an alert at the controller so staff check the compartment.
  - deposit: the parcel is not recorded in the locker (the courier, told nothing, still holds it or
    deposits it again), and the compartment goes faulty — out of service until staff open it (remote
    open) and find it empty or holding the parcel; ``opening_unconfirmed`` says so.
  - remote open: reported as failed (``error: opening_unconfirmed``); the admin may send it again.

  If the parcel moved on meanwhile (only possible when the board was silent and, e.g., the courier was
  sent to another door), nothing was owed at this door: an open door is just an open door.

An event a settlement emits carries the intent's uid as its ``event_uid``, so even a settlement
repeated after a power loss reaches the controller once. Because the intent is on disk first, the
record of the confirmed opening itself is committed without its own fsync (see
``Store.transaction(durable=False)``): it survives the process dying, and a power cut before the next
synced commit (the watchdog syncs the WAL within one poll period) falls back to settling the intent
from the door.

Batches: one fsync for the doors opened together
------------------------------------------------
Openings are queued (in memory) and opened in batches by one task that goes from batch to batch while
openings keep coming: the batch's intents in one commit on the event loop, then the line (``line.py``)
makes them durable with one fsync of the WAL and opens the doors one after another (unlock and
confirming query each), then one commit on the loop records every outcome. Only the line's call
leaves the loop (a worker thread waits on it, or on the line's child process, with the GIL released):
the store's commits stay on the loop, where they do not wait for the GIL after each SQLite step as they
did in the worker thread (8 alternated runs of 500 pickups/s: saturation median 846 -> 1059 req/s).
Pickups that arrive while a batch is on the line form the next one, so at 500 pickups/s a fsync and a
thread hand-over are shared by several doors instead of paid by each. A kill at any point of a batch is one
of the cases above, door by door: a door whose intent is on disk is settled from its door (one not
unlocked yet reads closed: in doubt, flagged), a door only queued has nothing on disk and nothing was
sent (its parcel stays as it was). A door whose board stops answering in a batch leaves its intent for
the settlement; the batch's later doors on that board are not tried (their intents are dropped: no
frame was sent) and are answered "does not answer".

A door is *in flight* from being queued until its batch's record is committed and handed back to the
loop. Nothing else opens it meanwhile (a second pickup with the same code waits and then finds the
code dead), and the watchdog settles neither its intent nor its compartment: its reading may predate
the unlock. The watchdog queries a board without the operation lock and settles it under the lock,
skipping every door in flight when the query was sent or queued since.

The watchdog's cost to pickups
------------------------------
Nobody waits for the watchdog, while a person waits at the door: its board queries are spaced (at most
50/s) and go between batches (each waits up to 50 ms for the openings in flight); a pass reads each
board and writes only what changed; expired codes are found by an index, not by reading every parcel.
What a door closing records (a deposit or collection completed, a door left open) is committed without
its own fsync: a power cut that loses it leaves the door to be read again, and nothing of it leaves the
locker before it is on disk (the pass flushes before it sends a code by SMS, the sync before it sends
events). Settling an intent stays durable.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from locker_driver import BoardTimeout, DoorDidNotOpen, DoorState, LockerBus
from locker_driver.agent import codes
from locker_driver.agent.clock import Clock
from locker_driver.agent.errors import (
    BusMoving,
    DoorFault,
    LockedOut,
    NoFreeCompartment,
    NotReady,
    UnknownParcel,
    WrongOrExpiredCode,
)
from locker_driver.agent.gps import GpsSource, is_moving
from locker_driver.agent.line import BOARD_DOWN, NOT_SENT, DoorLine, InProcessLine
from locker_driver.agent.notifier import Notifier, PickupNotice
from locker_driver.agent.states import OFFLINE, Compartment, Held, check
from locker_driver.agent.store import CompartmentRow, IntentRow, ParcelRow, Store

log = logging.getLogger(__name__)
T = TypeVar("T")

SIZES = ("S", "M", "L")
KEYPAD = "keypad"
# The watchdog's share of the line (`_watchdog_turn`): board queries at least this far apart (<= 50/s;
# one board is read 4 times/s, 32 boards every 0.64 s), and each waits up to this long for the door
# openings in flight to finish first.
_WATCHDOG_QUERY_GAP_S = 0.02
_WATCHDOG_GIVES_WAY_S = 0.05


@dataclass(frozen=True, kw_only=True)
class AgentConfig:
    """Settings of one locker agent (times in s).

    Attributes:
        locker_id: the controller's locker id.
        code_key: HMAC key of pickup codes (never stored by the agent).
        policy: code length, expiry and keypad lockout numbers.
        unlock_tries: unlock commands (each with the bus's own retries and a door query) before a door
            counts as faulty.
        door_open_alert_s: a door open longer than this raises a ``door_left_open`` alert.
        position_period_s: how often a ``position`` event is recorded from the GPS.
    """

    locker_id: str
    code_key: str
    policy: codes.CodePolicy = field(default_factory=codes.CodePolicy)
    unlock_tries: int = 2
    door_open_alert_s: float = 120.0
    position_period_s: float = 60.0


@dataclass(frozen=True, kw_only=True)
class DoorOpened:
    """A door the agent opened: where, for which parcel, and doors found faulty on the way."""

    board: int
    lock: int
    size: str
    parcel_id: str | None
    faulty_doors: tuple[int, ...] = ()


@dataclass(eq=False, kw_only=True)
class _Opening:
    """One door opening in flight: queued for a batch, its intent written, the door tried, recorded.

    Attributes:
        intent: what is being opened, for whom (written ahead of the unlock frame).
        durable_record: record the opening with an fsync of its own.
        sent: the unlock frame was sent (False: the batch skipped it, its board having gone silent).
        error: what the opening raised (None: the door opened and that is recorded).
        settled: set once the batch recorded the outcome and the door is out of flight.
    """

    intent: IntentRow
    durable_record: bool = False
    sent: bool = False
    error: Exception | None = None
    settled: asyncio.Event = field(default_factory=asyncio.Event)


def parse_layout(text: str) -> list[tuple[int, int, str]]:
    """Parse a compartment layout ``"1:S*12,M*8,L*4;2:L*6"`` into ``(board, lock, size)``.

    >>> parse_layout("1:S*2,L")
    [(1, 1, 'S'), (1, 2, 'S'), (1, 3, 'L')]
    """
    layout: list[tuple[int, int, str]] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        board_text, _, sizes = part.partition(":")
        board, lock = int(board_text), 0
        for item in sizes.split(","):
            size, _, count = item.strip().partition("*")
            if size not in SIZES:
                raise ValueError(f"size must be one of {SIZES}, got {size!r}")
            for _ in range(int(count or 1)):
                lock += 1
                layout.append((board, lock, size))
    return layout


DEFAULT_LAYOUT = "1:S*12,M*8,L*4"  # the scenario's bus lockers: one 24-lock board


@dataclass(frozen=True, kw_only=True)
class ManifestApplied:
    """What one manifest changed: parcels new here, and held/expected parcels that took a newer code."""

    added: int
    replaced: int


def _parse_time(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(text)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _newer(candidate: datetime | None, current: datetime | None) -> bool:
    """Return whether a code issued at ``candidate`` supersedes one issued at ``current``.

    An unknown time (a code from before times were recorded) is older than any known one; two unknown
    times supersede nothing, so a manifest without times never replaces a code (the old behaviour).

    >>> from datetime import UTC
    >>> _newer(datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)), _newer(None, None)
    (True, False)
    """
    return candidate is not None and (current is None or candidate > current)


class LockerService:
    """The locker's state machine over its doors (see the module docstring).

    Operations run on one event loop; only the line (``line.py``), the store's fsyncs and the notifier run
    in worker threads.
    """

    def __init__(self, *, config: AgentConfig, store: Store, clock: Clock, gps: GpsSource, notifier: Notifier,
                 bus: LockerBus | None = None, line: DoorLine | None = None) -> None:
        """``bus``: open the doors on it in a worker thread; or ``line``: the doors' line (``line.py``)."""
        self.config = config
        if (bus is None) == (line is None):
            raise ValueError("give the service a bus or a line, not both")
        if line is None:
            assert bus is not None
            line = InProcessLine(bus, lambda: store.flush(always=True), config.unlock_tries)
        self._line: DoorLine = line
        self._store = store
        self._clock = clock
        self._gps = gps
        self._notifier = notifier
        self._op = asyncio.Lock()
        # Door openings (module docstring): queued for the next batch, and every door from queuing until
        # its batch recorded it ("in flight": nothing else settles or opens it meanwhile).
        self._queue: list[_Opening] = []
        self._in_flight: dict[tuple[int, int], _Opening] = {}
        self._queued = 0  # openings queued so far; _queued_at[board][lock]: the count at the door's last one
        self._queued_at: dict[int, dict[int, int]] = {}
        # The opener: one task opens batch after batch while openings keep coming (_open_queued).
        self._draining = False
        self._openers: set[asyncio.Task[None]] = set()
        self._no_openings = asyncio.Event()  # set while nothing is in flight: the watchdog's turn on the line
        self._no_openings.set()
        self._last_watchdog_query = 0.0  # time.monotonic() of the watchdog's last board query
        self._pending_notices: list[PickupNotice] = []
        self._last_position_at: datetime | None = None
        self.ready = False

    @property
    def store(self) -> Store:
        return self._store

    # -- guards ---------------------------------------------------------------------------------

    def moving(self) -> tuple[bool, float | None]:
        """Return ``(interlock engaged, speed in km/h or None)``."""
        fix = self._gps.latest()
        return is_moving(fix, self._clock.now()), None if fix is None else fix.speed_kmh

    def _guard(self) -> None:
        if not self.ready:
            raise NotReady("the locker is checking its doors; try again in a moment")
        moving, speed = self.moving()
        if moving:
            raise BusMoving(speed_kmh=speed)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # -- opening doors: batches of write-ahead intents (module docstring) ------------------------

    def _submit(self, *, board: int, lock: int, action: str, parcel_id: str | None, actor: str,
                details: dict[str, Any] | None = None, durable_record: bool = False) -> _Opening:
        """Queue the opening of door ``board``/``lock`` for the next batch; await :meth:`_outcome` of it.

        The caller holds ``_op`` and has checked the door is not in flight (:meth:`_wait_settled`): one
        intent per door. ``durable_record``: record the opening with its own fsync (see the module
        docstring).
        """
        door = (board, lock)
        assert door not in self._in_flight, f"door {board}/{lock} is already opening"
        intent = IntentRow(uid=uuid.uuid4().hex, board=board, lock=lock, action=action, parcel_id=parcel_id,
                           actor=actor, at=self._clock.now(), details=details or {})
        opening = _Opening(intent=intent, durable_record=durable_record)
        self._in_flight[door] = opening
        self._no_openings.clear()
        self._queued += 1
        self._queued_at.setdefault(board, {})[lock] = self._queued
        self._queue.append(opening)
        start, self._draining = not self._draining, True
        if start:
            task = asyncio.get_running_loop().create_task(self._open_queued())
            self._openers.add(task)
            task.add_done_callback(self._openers.discard)
        return opening

    @staticmethod
    async def _outcome(opening: _Opening) -> None:
        """Wait until ``opening``'s batch recorded it; raise what its opening raised.

        Raises:
            DoorDidNotOpen (the fault is recorded, the intent dropped), BOARD_DOWN errors (the board is
            marked offline; the intent stays until it answers again, or was dropped if no frame was sent).
        """
        await opening.settled.wait()
        if opening.error is not None:
            raise opening.error

    async def _wait_settled(self, board: int, lock: int) -> None:
        """Wait until no opening of door ``board``/``lock`` is in flight (the caller may hold ``_op``).

        Holding ``_op`` meanwhile is safe: batches never take it.
        """
        while (opening := self._in_flight.get((board, lock))) is not None:
            await opening.settled.wait()

    async def _open_queued(self) -> None:
        """Take what is queued as a batch, open it, wake its requesters; until nothing is queued.

        A task of its own rather than a requester's, so a requester that goes away cannot strand the
        others' batch. If the loop shuts down while the line opens a batch, the batch is not recorded:
        its intents are on disk and the next start settles them from the doors (as after a kill).
        """
        while True:
            batch, self._queue = self._queue, []
            if not batch:
                self._draining = False
                return
            failed: Exception | None = None
            try:
                await self._open_batch(batch)
            except Exception as error:  # noqa: BLE001 - every requester of the batch gets it
                # The intents' commit failed (nothing was sent) or the record's (the intents are on disk:
                # the watchdog settles them from the doors once they are out of flight).
                failed = error
            self._batch_done(batch, failed)

    def _batch_done(self, batch: list[_Opening], failed: Exception | None) -> None:
        """Take a recorded batch out of flight and wake its requesters (on the loop)."""
        for opening in batch:
            del self._in_flight[(opening.intent.board, opening.intent.lock)]
            opening.error = failed or opening.error
            opening.settled.set()
        if not self._in_flight:
            self._no_openings.set()

    async def _open_batch(self, batch: list[_Opening]) -> None:
        """Write the batch's intents, have the line sync them and open the doors, record them (one commit).

        One hop to a worker thread for the line's call. Each door's failure lands in its opening's
        ``error`` and the others go on; a door whose board stopped answering earlier in the batch is not
        tried (``sent`` stays False: its intent is dropped, the door did not open). The record commit is
        synced before the requesters hear of it only if a member asks for that or failed (faults are
        rare and recorded durably, as before), and then in a worker thread, not on the loop.
        """
        # Committed here, then fsynced by the line (no unlock frame goes out before the fsync returned).
        with self._store.transaction(durable=False):
            for opening in batch:
                self._store.add_intent(opening.intent)
        outcomes = await self._call(self._line.open_doors, [(o.intent.board, o.intent.lock) for o in batch])
        silent: set[int] = set()
        for opening, outcome in zip(batch, outcomes, strict=True):
            board, lock = opening.intent.board, opening.intent.lock
            if outcome == NOT_SENT:
                opening.error = BoardTimeout(board=board, lock=lock, attempts=0)
                continue
            opening.sent = True
            if isinstance(outcome, Exception):
                opening.error = outcome
                if isinstance(outcome, BOARD_DOWN):
                    silent.add(board)
        now = self._clock.now()
        with self._store.transaction(durable=False):
            for opening in batch:
                self._record(opening, now)
            for board in sorted(silent):
                self._board_offline(board)
        if any(opening.durable_record or opening.error is not None for opening in batch):
            await self._call(self._store.flush, always=True)

    def _record(self, opening: _Opening, now: datetime) -> None:
        """Record one opening of a batch (inside its transaction): opened, faulty, not sent or in doubt."""
        intent = opening.intent
        if opening.error is None:
            self._opened(intent, now)
        elif isinstance(opening.error, DoorDidNotOpen):  # it reads closed after the tries: it did not open
            if intent.action == "remote_open":
                self._store.drop_intent(intent.board, intent.lock)  # remote_open() reports the failure
            else:
                self._fault(self._store.compartment(intent.board, intent.lock), during=intent.action,
                            parcel_id=None if intent.action == "deposit" else intent.parcel_id)
        elif not opening.sent:
            self._store.drop_intent(intent.board, intent.lock)
        # else: a silent board; did the door open? The intent stays until the board answers.

    def _in_doubt(self, board: int, lock: int) -> bool:
        """Return whether an earlier opening of this door is still unsettled (its board went silent).

        Only meaningful once the door is out of flight (:meth:`_wait_settled`).
        """
        return self._store.has_intent(board, lock)

    # -- keypad lockout -------------------------------------------------------------------------

    def _failures(self) -> tuple[int, datetime | None]:
        count, last = self._store.failures(KEYPAD)
        if last is not None and (self._clock.now() - last).total_seconds() >= self.config.policy.failure_memory_s:
            return 0, None
        return count, last

    def lockout_remaining_s(self) -> float:
        """Return how long the keypad stays locked, in s (0: open for codes)."""
        count, last = self._failures()
        if last is None:
            return 0.0
        remaining = codes.lockout_s(self.config.policy, count) - (self._clock.now() - last).total_seconds()
        return max(0.0, remaining)

    def _record_failure(self) -> int:
        now = self._clock.now()
        count = self._failures()[0] + 1
        with self._store.transaction():
            self._store.set_failures(KEYPAD, count, now)
            if count >= self.config.policy.free_failures:
                self._store.emit("keypad_lockout", now, {
                    "failures": count, "lockout_s": codes.lockout_s(self.config.policy, count)})
        return max(0, self.config.policy.free_failures - count)

    # -- operations -----------------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Query every door and settle the stored states before serving anyone (start-up, power loss)."""
        self.ready = False  # no opening is begun meanwhile (_guard)
        for board in self._store.boards():
            await self._watchdog_turn()
            await self._reconcile_board(board)
        self.ready = True
        await self._send_notices()

    async def poll(self) -> None:
        """One pass of the watchdog: doors closed/left open, boards lost or back, codes expired, position.

        Board by board, and the operation lock only for settling a board once its query answered (see
        :meth:`_reconcile_board`): a pickup never waits for the watchdog's round trips on the line.
        """
        for board in self._store.boards():
            await self._watchdog_turn()
            await self._reconcile_board(board)
        async with self._op:
            self._flag_expired()
            self._record_position()
        # Openings and door closings are recorded without fsync: on disk within one period, and before
        # anything about them leaves the locker (a code by SMS here, events in the sync).
        if self._pending_notices:
            await self._call(self._store.flush, always=True)
        elif self._store.unsynced:
            await self._call(self._store.flush)
        await self._send_notices()

    async def _watchdog_turn(self) -> None:
        """Wait for the watchdog's next board query: at least ``_WATCHDOG_QUERY_GAP_S`` after its last one,
        and until no door opening is in flight (at most ``_WATCHDOG_GIVES_WAY_S`` more).

        The line is the scarce resource (~70 exchanges/s at 9600 baud) and a person waits at the door
        for an opening, while nobody waits for a board's status query: so queries are spaced and go
        between batches. Under a steady stream of openings the watchdog still queries a board per cap:
        door closings, boards lost and doors left open are noticed later, never missed.
        """
        wait_s = self._last_watchdog_query + _WATCHDOG_QUERY_GAP_S - time.monotonic()
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        if self._in_flight:
            try:
                await asyncio.wait_for(self._no_openings.wait(), timeout=_WATCHDOG_GIVES_WAY_S)
            except TimeoutError:
                pass
        self._last_watchdog_query = time.monotonic()

    async def run(self, stop: asyncio.Event, period_s: float = 0.25) -> None:
        """Reconcile, then poll every ``period_s`` s (wall time) until ``stop`` is set."""
        await self.reconcile()
        while not stop.is_set():
            await self.poll()
            try:
                await asyncio.wait_for(stop.wait(), timeout=period_s)
            except TimeoutError:
                pass

    async def deposit(self, *, courier: str, parcel_id: str, size: str | None = None) -> DoorOpened:
        """Open the smallest free working compartment that fits ``parcel_id``.

        The deposit completes when the courier closes the door (seen by :meth:`poll`): the parcel is
        then held and its code live. A door that does not open is marked faulty and the next
        compartment is tried.

        Parameters:
            size: "S", "M" or "L"; default the manifest's size, else "S".

        Raises:
            NotReady, BusMoving, UnknownParcel (already in the locker), NoFreeCompartment.
        """
        parcel_id = parcel_id.strip()
        async with self._op:
            self._guard()
            known = self._store.parcel(parcel_id)
            if known is not None and known.state not in (Held.EXPECTED, Held.PICKED_UP, Held.RETURNED):
                raise UnknownParcel(f"parcel {parcel_id} is already in this locker", parcel_id=parcel_id)
            need = size or (known.size if known is not None else "S")
            if need not in SIZES:
                raise NoFreeCompartment(f"unknown size {need!r}", size=need)
            faulty: list[int] = []
            while (candidate := self._free_compartment(need)) is not None:
                try:
                    await self._outcome(self._submit(board=candidate.board, lock=candidate.lock, action="deposit",
                                                     parcel_id=parcel_id, actor=courier, details={"size": need}))
                except DoorDidNotOpen:  # the fault is recorded
                    faulty.append(candidate.lock)
                    continue
                except BOARD_DOWN:  # the board is marked offline; its intent is settled when it answers
                    continue
                return DoorOpened(board=candidate.board, lock=candidate.lock, size=candidate.size,
                                  parcel_id=parcel_id, faulty_doors=tuple(faulty))
            raise NoFreeCompartment(f"no free compartment of size {need} or larger", size=need,
                                    faulty_doors=faulty)

    async def pickup(self, code: str) -> DoorOpened:
        """Open the door of the parcel whose live code is ``code``.

        The code is checked under the operation lock; the door then opens in the next batch (module
        docstring) with the lock released, so pickups at other doors are checked and join a batch
        meanwhile. A code whose door is opening already (the same code sent twice) is judged once
        that opening is recorded: its code is dead by then.

        Raises:
            NotReady, BusMoving (checked first: no attempt is counted on a moving bus), LockedOut,
            WrongOrExpiredCode (the same for wrong, used and expired codes; counted), DoorFault.
        """
        async with self._op:
            self._guard()
            remaining = self.lockout_remaining_s()
            if remaining > 0:
                raise LockedOut(retry_after_s=remaining)
            digest = codes.code_hmac(self.config.code_key, code.strip())
            while True:
                now = self._clock.now()
                # One indexed lookup (see Store.find_code for why that leaks nothing a guesser can use).
                match = self._store.find_code(digest, Held.HELD, Held.EXPIRED)
                parcel = match.parcel if match is not None else None
                if parcel is None or parcel.expires_at is None or parcel.expires_at <= now:
                    if parcel is not None and parcel.state is Held.HELD:
                        self._expire(parcel)
                    raise WrongOrExpiredCode(attempts_left=self._record_failure())
                assert match is not None and parcel.board is not None and parcel.lock is not None
                if (parcel.board, parcel.lock) not in self._in_flight:
                    break
                await self._wait_settled(parcel.board, parcel.lock)
            if match.door_pending:
                raise DoorFault(f"door {parcel.lock} does not answer; staff have been alerted and your code "
                                "stays valid", board=parcel.board, lock=parcel.lock)
            opening = self._submit(board=parcel.board, lock=parcel.lock, action="pickup", parcel_id=parcel.parcel_id,
                                   actor="code")
        try:
            await self._outcome(opening)
        except DoorDidNotOpen:  # the fault is recorded
            raise DoorFault(f"door {parcel.lock} did not open; staff have been alerted and your code "
                            "stays valid", board=parcel.board, lock=parcel.lock) from None
        except BOARD_DOWN:
            # Did the door open? The intent stays pending and the door answers when the board does.
            raise DoorFault(f"door {parcel.lock} does not answer; staff have been alerted and your code "
                            "stays valid", board=parcel.board, lock=parcel.lock) from None
        return DoorOpened(board=parcel.board, lock=parcel.lock, size=match.door_size or parcel.size,
                          parcel_id=parcel.parcel_id)

    async def take_back(self, *, courier: str, parcel_id: str) -> DoorOpened:
        """Open the door of an expired parcel for a courier returning it to the sender.

        Raises:
            NotReady, BusMoving, UnknownParcel (not expired here), DoorFault.
        """
        async with self._op:
            self._guard()
            while True:
                parcel = self._store.parcel(parcel_id.strip())
                if parcel is None or parcel.state is not Held.EXPIRED or parcel.board is None or parcel.lock is None:
                    raise UnknownParcel(f"no expired parcel {parcel_id} in this locker", parcel_id=parcel_id)
                if (parcel.board, parcel.lock) not in self._in_flight:
                    break
                await self._wait_settled(parcel.board, parcel.lock)
            compartment = self._store.compartment(parcel.board, parcel.lock)
            if self._in_doubt(parcel.board, parcel.lock):
                raise DoorFault(f"door {parcel.lock} does not answer", board=parcel.board, lock=parcel.lock)
            try:
                await self._outcome(self._submit(board=parcel.board, lock=parcel.lock, action="take_back",
                                                 parcel_id=parcel.parcel_id, actor=courier))
            except DoorDidNotOpen:  # the fault is recorded
                raise DoorFault(f"door {parcel.lock} did not open; staff have been alerted",
                                board=parcel.board, lock=parcel.lock) from None
            except BOARD_DOWN:
                raise DoorFault(f"door {parcel.lock} does not answer", board=parcel.board,
                                lock=parcel.lock) from None
            return DoorOpened(board=parcel.board, lock=parcel.lock, size=compartment.size,
                              parcel_id=parcel.parcel_id)

    async def remote_open(self, *, board: int, lock: int, command_id: str, reason: str) -> dict[str, Any]:
        """Open one door on an admin's remote command; record the outcome as a ``remote_open`` event.

        A faulty compartment whose door opens is working again (free, or occupied if it holds a parcel).
        The interlock applies: on a moving bus the command fails with ``bus_moving``.

        The opening goes through an intent like any other (module docstring): if the agent dies
        before recording it, the outcome is settled from the door at restart and reported then. A
        board that does not answer leaves the outcome to that settlement too (``{"ok": None}`` here).
        """
        async with self._op:
            outcome: dict[str, Any] = {"command_id": command_id, "board": board, "lock": lock, "reason": reason}
            opening: _Opening | None = None
            try:
                self._guard()
                self._store.compartment(board, lock)
                await self._wait_settled(board, lock)  # a pickup opening it right now
                if self._in_doubt(board, lock):
                    outcome |= {"ok": False, "error": "door_in_doubt"}  # its board has not answered since
                    self._store.emit("remote_open", self._clock.now(), outcome)
                    return outcome
                opening = self._submit(board=board, lock=lock, action="remote_open", parcel_id=None, actor="admin",
                                       details={"command_id": command_id, "reason": reason},
                                       durable_record=True)  # it emits an event: rare, and kept simple
                await self._outcome(opening)
            except BOARD_DOWN:
                if opening is not None and opening.sent:
                    return outcome | {"ok": None}  # its intent reports the outcome when the board answers
                error_code = "board_offline"  # not tried: its board had just gone silent in the same batch
            except (BusMoving, NotReady, DoorDidNotOpen, KeyError) as error:
                # DoorDidNotOpen: it reads closed after the tries; the batch dropped its intent.
                error_code = getattr(error, "code", error.__class__.__name__)
            else:
                return outcome | {"ok": True}
            outcome |= {"ok": False, "error": error_code}
            self._store.emit("remote_open", self._clock.now(), outcome)
            return outcome

    def load_manifest(self, entries: list[dict[str, Any]]) -> ManifestApplied:
        """Store codes of parcels the controller assigned to this locker; adopt re-issued codes.

        Each entry: ``parcel_id``, ``code_hmac``, ``issued_at`` (ISO 8601 or None), ``size``,
        ``recipient_phone``. A parcel not seen before is expected. A parcel expected, being deposited
        or held takes the entry's code only if it is newer than the one it has (see
        :func:`_newer`): a code re-issued by the controller replaces the old one at once (a
        ``code_replaced`` event records it), while a stale manifest never overwrites a code the agent
        issued itself at deposit and the controller has not seen yet. Parcels past that (expired,
        collected, returned) are left alone.
        """
        added = replaced = 0
        now = self._clock.now()
        with self._store.transaction():
            for entry in entries:
                known = self._store.parcel(entry["parcel_id"])
                issued_at = _parse_time(entry.get("issued_at"))
                if known is None:
                    added += 1
                    self._store.put_parcel(ParcelRow(
                        parcel_id=entry["parcel_id"], state=Held.EXPECTED, size=entry.get("size") or "S",
                        code_hmac=entry["code_hmac"], expires_at=None,
                        recipient_phone=entry.get("recipient_phone", ""), board=None, lock=None, deposited_at=None,
                        courier=None, code_issued_at=issued_at))
                elif known.state is Held.EXPECTED:
                    # Only the manifest feeds an expected parcel: take its details, and its code unless older.
                    take = known.code_hmac is None or not _newer(known.code_issued_at, issued_at)
                    self._store.put_parcel(replace(
                        known, size=entry.get("size") or known.size,
                        recipient_phone=entry.get("recipient_phone", known.recipient_phone),
                        code_hmac=entry["code_hmac"] if take else known.code_hmac,
                        code_issued_at=issued_at if take else known.code_issued_at))
                elif known.state in (Held.DEPOSITING, Held.HELD):
                    if entry["code_hmac"] == known.code_hmac:
                        if known.code_issued_at is None and issued_at is not None:
                            self._store.put_parcel(replace(known, code_issued_at=issued_at))  # learn when
                        continue
                    if known.code_hmac is not None and not _newer(issued_at, known.code_issued_at):
                        continue  # ours is newer (or the manifest does not say): a stale manifest
                    self._store.put_parcel(replace(known, code_hmac=entry["code_hmac"], code_issued_at=issued_at))
                    self._store.emit("code_replaced", now, {
                        "parcel_id": known.parcel_id, "state": known.state.value, "board": known.board,
                        "lock": known.lock, "code_issued_at": _iso(issued_at)})
                    replaced += 1
        if replaced:
            log.info("locker %s adopted %d re-issued pickup code(s)", self.config.locker_id, replaced)
        return ManifestApplied(added=added, replaced=replaced)

    # -- views ----------------------------------------------------------------------------------

    def compartments_view(self) -> list[dict[str, Any]]:
        """Return every compartment with the state to show (``offline`` for an offline board).

        ``needs_check``: an opening of its door could not be confirmed (see the module docstring) and
        the parcel it was for is still on record here, or the opening is still unsettled.
        """
        boards = self._store.boards()
        doubtful = {(p.board, p.lock) for p in self._store.parcels(Held.HELD, Held.EXPIRED)
                    if p.unconfirmed_open_at is not None}
        doubtful |= {(i.board, i.lock) for i in self._store.intents() if (i.board, i.lock) not in self._in_flight}
        return [{"board": c.board, "lock": c.lock, "size": c.size, "parcel_id": c.parcel_id,
                 "state": c.state.value if boards.get(c.board, False) else OFFLINE,
                 "door_open": c.opened_at is not None, "needs_check": (c.board, c.lock) in doubtful}
                for c in self._store.compartments()]

    def status(self) -> dict[str, Any]:
        """Return what the kiosk needs to know: ready, interlock, keypad lockout, compartments."""
        moving, speed = self.moving()
        return {"locker_id": self.config.locker_id, "ready": self.ready, "moving": moving, "speed_kmh": speed,
                "lockout_remaining_s": round(self.lockout_remaining_s()), "boards": self._store.boards(),
                "compartments": self.compartments_view()}

    def expired_parcels(self) -> list[ParcelRow]:
        """Return parcels whose code expired, waiting for a courier to take them back."""
        return self._store.parcels(Held.EXPIRED)

    # -- internals ------------------------------------------------------------------------------

    def _free_compartment(self, need: str) -> CompartmentRow | None:
        boards = self._store.boards()
        doubtful = {(i.board, i.lock) for i in self._store.intents()} | set(self._in_flight)
        fitting = [c for c in self._store.compartments()
                   if c.state is Compartment.FREE and boards.get(c.board) and c.opened_at is None
                   and SIZES.index(c.size) >= SIZES.index(need) and (c.board, c.lock) not in doubtful]
        fitting.sort(key=lambda c: (SIZES.index(c.size), c.board, c.lock))
        return fitting[0] if fitting else None

    def _move(self, c: CompartmentRow, to: Compartment, *, parcel_id: str | None,
              opened_at: datetime | None = None) -> None:
        check(c.board, c.lock, c.state, to)
        self._store.update_compartment(c.board, c.lock, state=to, parcel_id=parcel_id, opened_at=opened_at)

    def _fault(self, c: CompartmentRow, *, during: str, parcel_id: str | None) -> None:
        now = self._clock.now()
        with self._store.transaction():
            self._store.drop_intent(c.board, c.lock)  # the door reads closed after the tries: it did not open
            self._move(c, Compartment.FAULTY, parcel_id=c.parcel_id)
            self._store.emit("door_fault", now, {"board": c.board, "lock": c.lock, "during": during,
                                                 "parcel_id": parcel_id or c.parcel_id})
        log.warning("locker %s door %d/%d did not open during %s", self.config.locker_id, c.board, c.lock, during)

    def _board_offline(self, board: int) -> None:
        if not self._store.boards().get(board, False):
            return
        with self._store.transaction():
            self._store.set_board_online(board, False)
            self._store.emit("board_offline", self._clock.now(), {"board": board})
        log.warning("locker %s board %d stopped answering", self.config.locker_id, board)

    async def _reconcile_board(self, board: int) -> None:
        """Query ``board``'s doors, then settle what changed under the operation lock.

        Doors whose opening was in flight at any time since the query was sent are left to their batch,
        which records them: the reading may predate their unlock (a door just opened for a pickup would
        read closed and "complete" the collection), and their intent is not in doubt. That is every
        door in flight when the query is sent plus every door queued since (``_queued_at``).
        """
        since = self._queued
        opening = {lock for (b, lock) in self._in_flight if b == board}
        try:
            doors = await self._call(self._line.door_states, board)
        except BOARD_DOWN:
            async with self._op:
                self._board_offline(board)
            return
        async with self._op:
            opening |= {lock for lock, n in self._queued_at.get(board, {}).items() if n > since}
            self._settle_board(board, doors, opening)

    def _settle_board(self, board: int, doors: dict[int, DoorState], opening: set[int]) -> None:
        """Settle ``board``'s pending intents and compartments from ``doors``, except the locks ``opening``.

        Reads first and writes only what changed (most passes change nothing on most boards). What a door
        closing records (a collection or deposit completed, a door left open) is written without its own
        fsync unless an intent is settled: a power cut that loses it leaves the door to be read again,
        and nothing of it leaves the locker before :meth:`poll` or the sync flushed it. (An fsync per
        board and pass on the event loop held every pickup up for the disk: 20-100 ms tails at 500/s.)
        The reads need no transaction: under the operation lock only batches write, and only for doors
        in ``opening``.
        """
        now = self._clock.now()
        intents = [i for i in self._store.intents(board) if i.lock not in opening]
        changed = [c for c in self._store.compartments(board)
                   if c.lock not in opening and self._needs_settling(c, doors.get(c.lock) is DoorState.OPEN, now)]
        was_online = self._store.board_online(board)
        if not (intents or changed or not was_online):
            return
        with self._store.transaction(durable=bool(intents)):
            for intent in intents:
                if doors.get(intent.lock) is DoorState.OPEN:
                    self._opened(intent, now)
                else:
                    self._unconfirmed(intent, now)
            # Fresh rows: an intent settled just above may have moved its compartment.
            for lock in sorted({c.lock for c in changed} | {i.lock for i in intents}):
                self._settle(self._store.compartment(board, lock), door_open=doors.get(lock) is DoorState.OPEN)
            if not was_online:
                self._store.set_board_online(board, True)
                states = [{"lock": c.lock, "state": c.state.value, "parcel_id": c.parcel_id}
                          for c in self._store.compartments(board)]
                self._store.emit("board_online", now, {"board": board, "compartments": states})

    def _needs_settling(self, c: CompartmentRow, door_open: bool, now: datetime) -> bool:
        """Whether :meth:`_settle` would change anything for ``c`` with its door ``door_open``."""
        if door_open:
            return c.opened_at is None or (
                not c.open_alerted and (now - c.opened_at).total_seconds() >= self.config.door_open_alert_s)
        return (c.state in (Compartment.RESERVED, Compartment.OPEN)) or c.opened_at is not None

    # -- settling intents (inside a transaction) -------------------------------------------------

    def _still_owed(self, intent: IntentRow) -> tuple[CompartmentRow, ParcelRow | None] | None:
        """Return the door and parcel ``intent`` opens for, if opening it still means what it meant.

        None: the parcel moved on while the intent waited for a silent board (e.g. the courier's deposit
        went to another door), so nothing at this door depends on whether it opened.
        """
        c = self._store.compartment(intent.board, intent.lock)
        parcel = self._store.parcel(intent.parcel_id) if intent.parcel_id else None
        here = parcel is not None and (parcel.board, parcel.lock) == (c.board, c.lock)
        match intent.action:
            case "pickup" | "take_back":
                states = (Held.HELD, Held.EXPIRED) if intent.action == "pickup" else (Held.EXPIRED,)
                owed = (here and parcel.state in states and c.state is Compartment.OCCUPIED  # type: ignore[union-attr]
                        and c.parcel_id == intent.parcel_id)
            case "deposit":
                owed = c.state is Compartment.FREE and (
                    parcel is None or parcel.state in (Held.EXPECTED, Held.PICKED_UP, Held.RETURNED))
            case _:
                owed = True
        return (c, parcel) if owed else None

    def _opened(self, intent: IntentRow, now: datetime) -> None:
        """Record that ``intent``'s door opened (confirmed unlock, or read open at restart)."""
        self._store.drop_intent(intent.board, intent.lock)
        owed = self._still_owed(intent)
        if owed is None:
            log.warning("locker %s door %d/%d opened for %s %s, which moved on meanwhile", self.config.locker_id,
                        intent.board, intent.lock, intent.action, intent.parcel_id)
            return
        c, parcel = owed
        match intent.action:
            case "pickup":
                assert parcel is not None
                self._move(c, Compartment.OPEN, parcel_id=parcel.parcel_id, opened_at=now)
                # One-time: the code dies as the door opens.
                self._store.put_parcel(replace(parcel, state=Held.COLLECTING, code_hmac=None))
            case "take_back":
                assert parcel is not None
                self._move(c, Compartment.OPEN, parcel_id=parcel.parcel_id, opened_at=now)
                self._store.put_parcel(replace(parcel, state=Held.RETURNING, courier=intent.actor, code_hmac=None))
            case "deposit":
                assert intent.parcel_id is not None
                base = parcel if parcel is not None and parcel.state is Held.EXPECTED else None
                self._move(c, Compartment.RESERVED, parcel_id=intent.parcel_id, opened_at=now)
                self._store.put_parcel(ParcelRow(
                    parcel_id=intent.parcel_id, state=Held.DEPOSITING, size=intent.details.get("size", "S"),
                    code_hmac=base.code_hmac if base else None, expires_at=None,
                    recipient_phone=base.recipient_phone if base else "", board=c.board, lock=c.lock,
                    deposited_at=None, courier=intent.actor, code_issued_at=base.code_issued_at if base else None))
            case "remote_open":
                if c.state is Compartment.FAULTY:
                    back = Compartment.OCCUPIED if c.parcel_id else Compartment.FREE
                    self._move(c, back, parcel_id=c.parcel_id, opened_at=now)
                else:
                    self._store.update_compartment(c.board, c.lock, state=c.state, parcel_id=c.parcel_id,
                                                   opened_at=now)
                self._store.emit("remote_open", now, {
                    "command_id": intent.details.get("command_id"), "board": c.board, "lock": c.lock,
                    "reason": intent.details.get("reason", ""), "ok": True}, uid=intent.uid)

    def _unconfirmed(self, intent: IntentRow, now: datetime) -> None:
        """Settle an intent whose door reads closed at restart: it may have opened and closed (docstring)."""
        self._store.drop_intent(intent.board, intent.lock)
        owed = self._still_owed(intent)
        if owed is None:
            return
        c, parcel = owed
        payload: dict[str, Any] = {"action": intent.action, "parcel_id": intent.parcel_id, "board": c.board,
                                   "lock": c.lock, "by": intent.actor, "begun_at": intent.at.isoformat()}
        match intent.action:
            case "pickup" | "take_back":
                assert parcel is not None
                # The parcel stays held (or expired) with its code: the recipient may not have it.
                self._store.put_parcel(replace(parcel, unconfirmed_open_at=intent.at))
                self._store.emit("opening_unconfirmed", now, payload, uid=intent.uid)
            case "deposit":
                # The courier may have left the parcel inside: nobody else gets this door until staff look.
                self._move(c, Compartment.FAULTY, parcel_id=None)
                self._store.emit("opening_unconfirmed", now, payload | {"out_of_service": True}, uid=intent.uid)
            case "remote_open":
                self._store.emit("remote_open", now, {
                    "command_id": intent.details.get("command_id"), "board": c.board, "lock": c.lock,
                    "reason": intent.details.get("reason", ""), "ok": False, "error": "opening_unconfirmed"},
                    uid=intent.uid)
        log.warning("locker %s door %d/%d: %s of %s begun at %s but not confirmed; flagged for staff",
                    self.config.locker_id, c.board, c.lock, intent.action, intent.parcel_id, intent.at)

    def _settle(self, c: CompartmentRow, *, door_open: bool) -> None:
        """Bring one compartment in line with its door reading (inside a transaction)."""
        now = self._clock.now()
        if door_open:
            if c.opened_at is None:  # opened by hand or left open across a power loss
                self._store.update_compartment(c.board, c.lock, state=c.state, parcel_id=c.parcel_id, opened_at=now)
            elif (not c.open_alerted
                  and (now - c.opened_at).total_seconds() >= self.config.door_open_alert_s):
                self._store.mark_open_alerted(c.board, c.lock)
                self._store.emit("door_left_open", now, {
                    "board": c.board, "lock": c.lock, "state": c.state.value, "parcel_id": c.parcel_id,
                    "open_s": round((now - c.opened_at).total_seconds())})
            return
        if c.state is Compartment.RESERVED and c.parcel_id is not None:
            self._complete_deposit(c, now)
        elif c.state is Compartment.OPEN and c.parcel_id is not None:
            self._complete_collection(c, now)
        elif c.state is Compartment.OPEN:
            self._move(c, Compartment.FREE, parcel_id=None)
        elif c.opened_at is not None:
            self._store.update_compartment(c.board, c.lock, state=c.state, parcel_id=c.parcel_id, opened_at=None)

    def _complete_deposit(self, c: CompartmentRow, now: datetime) -> None:
        parcel = self._store.parcel(c.parcel_id or "")
        assert parcel is not None
        expires_at = now + timedelta(seconds=self.config.policy.ttl_s)
        code: str | None = None
        code_hmac, issued_at = parcel.code_hmac, parcel.code_issued_at
        if code_hmac is None:  # not in the manifest: issue the code here, unique among live codes
            live = set(self._store.codes(Held.HELD, Held.EXPECTED, Held.DEPOSITING).values())
            while code is None or code_hmac in live:
                code = codes.new_code(self.config.policy.digits)
                code_hmac = codes.code_hmac(self.config.code_key, code)
            issued_at = now
        self._move(c, Compartment.OCCUPIED, parcel_id=c.parcel_id)
        self._store.put_parcel(replace(parcel, state=Held.HELD, code_hmac=code_hmac, expires_at=expires_at,
                                       deposited_at=now, code_issued_at=issued_at))
        payload: dict[str, Any] = {"parcel_id": parcel.parcel_id, "board": c.board, "lock": c.lock, "size": c.size,
                                   "courier": parcel.courier, "expires_at": expires_at.isoformat(),
                                   "code_issued_by": "agent" if code is not None else "controller"}
        if code is not None:
            payload["code_hmac"] = code_hmac  # the controller keeps the hash too; never the code
            payload["code_issued_at"] = now.isoformat()  # orders it against a code the controller re-issues
        self._store.emit("deposit", now, payload)
        self._pending_notices.append(PickupNotice(
            locker_id=self.config.locker_id, parcel_id=parcel.parcel_id, recipient_phone=parcel.recipient_phone,
            code=code, door=c.lock, expires_at=expires_at))

    def _complete_collection(self, c: CompartmentRow, now: datetime) -> None:
        parcel = self._store.parcel(c.parcel_id or "")
        if parcel is None or parcel.state not in (Held.COLLECTING, Held.RETURNING):
            # An admin opened an occupied door: it still holds its parcel.
            self._move(c, Compartment.OCCUPIED, parcel_id=c.parcel_id)
            return
        returning = parcel.state is Held.RETURNING
        self._move(c, Compartment.FREE, parcel_id=None)
        self._store.put_parcel(replace(parcel, state=Held.RETURNED if returning else Held.PICKED_UP))
        self._store.emit("take_back" if returning else "pickup", now, {
            "parcel_id": parcel.parcel_id, "board": c.board, "lock": c.lock,
            **({"courier": parcel.courier} if returning else {})})

    def _expire(self, parcel: ParcelRow) -> None:
        with self._store.transaction():
            self._store.put_parcel(replace(parcel, state=Held.EXPIRED))
            self._store.emit("code_expired", self._clock.now(), {
                "parcel_id": parcel.parcel_id, "board": parcel.board, "lock": parcel.lock})

    def _flag_expired(self) -> None:
        for parcel in self._store.expired(Held.HELD, self._clock.now()):
            # A code whose door is opening was right when typed: the opening decides.
            if (parcel.board, parcel.lock) not in self._in_flight:
                self._expire(parcel)

    def _record_position(self) -> None:
        fix = self._gps.latest()
        now = self._clock.now()
        if fix is None or fix.lat_deg is None or fix.lon_deg is None:
            return
        if self._last_position_at is not None and \
                (now - self._last_position_at).total_seconds() < self.config.position_period_s:
            return
        self._last_position_at = now
        self._store.emit("position", now, {"lat_deg": fix.lat_deg, "lon_deg": fix.lon_deg,
                                           "speed_m_s": round(fix.speed_kmh / 3.6, 2)})

    async def _send_notices(self) -> None:
        notices, self._pending_notices = self._pending_notices, []
        for notice in notices:
            try:
                await self._call(self._notifier.notify, notice)
            except Exception as error:  # noqa: BLE001 - any gateway failure is recorded for staff, not lost
                log.error("pickup notice for %s failed: %s", notice.parcel_id, error)
                self._store.emit("notify_failed", self._clock.now(), {
                    "parcel_id": notice.parcel_id, "error": error.__class__.__name__})
