"""The door line: where a batch's intents are made durable and its doors opened, and doors are read.

The locker service (``service.py``) writes a batch's intents, hands the doors to its line, and records
what the line reports. Two lines do the same work:

* :class:`InProcessLine` — on the service's own bus, in the calling thread (tests, tools, a locker
  that needs no second process);
* :class:`LineProcess` — the serial port and the intents' fsync in a child process. The agent is one
  Python process, so its event loop (HTTP, codes, the record) and the door opener share one GIL and
  one core: every system call of the opener (fsync, each serial write and read) waited to get the GIL
  back from the busy loop (~1 ms of wall time per door on top of ~0.75 ms of its own CPU). With the line
  in a process of its own the agent uses the second core; measured with valid pickups at 500/s (see
  ``benchmarks/api_load_bench.py``).

What a line reports per door, in order: ``None`` (opened, confirmed by a door query), ``NOT_SENT`` (its
board stopped answering earlier in the batch: no frame went out, the door did not open), or the
driver's error: :class:`DoorDidNotOpen` (it reads closed after the tries) or one of the board-down
errors (did it open? the caller keeps the intent in doubt). A child process that dies once it had a
batch makes every door of it a :class:`LineDown` (a :class:`LinkError`: in doubt, as for a silent
board, settled from the doors by the watchdog); a batch that never reached a child (it was dead
already, or a new one could not open the port) is ``NOT_SENT`` door by door. The next call starts a
new child.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Final, Protocol

from locker_driver import open_bus
from locker_driver.agent.store import fsync_file
from locker_driver.bus import DEFAULT_ATTEMPTS, DEFAULT_TIMEOUT_S, LockerBus
from locker_driver.errors import BadFrame, BadReply, BoardTimeout, DoorDidNotOpen, LinkError, RejectReason
from locker_driver.frames import DoorState

log = logging.getLogger(__name__)

# Errors meaning "this board did not answer properly": it is marked offline, the others keep working.
BOARD_DOWN = (BoardTimeout, BadReply, LinkError)
NOT_SENT: Final = "not sent"
# How long a new child may take to start and open the port, in s (a spawned interpreter imports us).
_START_TIMEOUT_S = 30.0

Outcome = None | str | Exception


class LineDown(LinkError):
    """The line process is not there: it could not start, or it died; ``sent``: it had the request."""

    def __init__(self, *, url: str, reason: str, sent: bool) -> None:
        super().__init__(url=url, reason=reason)
        self.sent = sent


class DoorLine(Protocol):
    """What the locker service needs from its line."""

    def open_doors(self, doors: list[tuple[int, int]]) -> list[Outcome]:
        """Make the committed intents durable (fsync), then open ``doors`` (board, lock) one by one."""
        ...

    def door_states(self, board: int) -> dict[int, DoorState]:
        """Return ``{lock: state}`` of every door of ``board`` (raises the board-down errors)."""
        ...

    def close(self) -> None:
        """Release the line."""
        ...


def open_doors_on(bus: LockerBus, doors: list[tuple[int, int]], unlock_tries: int) -> list[Outcome]:
    """Open ``doors`` on ``bus``, each with up to ``unlock_tries`` confirmed unlocks (module docstring).

    A door of a board that stopped answering earlier in the call is not tried (``NOT_SENT``).
    """
    silent: set[int] = set()
    out: list[Outcome] = []
    for board, lock in doors:
        if board in silent:
            out.append(NOT_SENT)
            continue
        try:
            for attempt in range(unlock_tries):
                try:
                    bus.unlock(board, lock, confirm=True)
                    break
                except DoorDidNotOpen:
                    if attempt + 1 == unlock_tries:
                        raise
            out.append(None)
        except DoorDidNotOpen as error:
            out.append(error)
        except BOARD_DOWN as error:
            out.append(error)
            silent.add(board)
    return out


class InProcessLine:
    """The line on ``bus`` in the calling thread; ``flush`` makes the committed intents durable."""

    def __init__(self, bus: LockerBus, flush: Callable[[], object], unlock_tries: int) -> None:
        self._bus = bus
        self._flush = flush
        self._unlock_tries = unlock_tries

    def open_doors(self, doors: list[tuple[int, int]]) -> list[Outcome]:
        self._flush()
        return open_doors_on(self._bus, doors, self._unlock_tries)

    def door_states(self, board: int) -> dict[int, DoorState]:
        return self._bus.door_states(board)

    def close(self) -> None:
        self._bus.close()


# -- the child process --------------------------------------------------------------------------------

def _encode(outcome: Outcome | dict[int, DoorState]) -> Any:
    """A picklable form of an outcome (the driver's errors take keyword-only arguments)."""
    if isinstance(outcome, BadReply):
        last = outcome.last
        return ("BadReply", {"board": outcome.board, "lock": outcome.lock, "attempts": outcome.attempts,
                             "last": (last.reason.value, last.raw, last.detail)})
    if isinstance(outcome, BoardTimeout):
        return ("BoardTimeout", {"board": outcome.board, "lock": outcome.lock, "attempts": outcome.attempts})
    if isinstance(outcome, DoorDidNotOpen):
        return ("DoorDidNotOpen", {"board": outcome.board, "lock": outcome.lock})
    if isinstance(outcome, LinkError):
        return ("LinkError", {"url": outcome.url, "reason": outcome.reason})
    if isinstance(outcome, dict):
        return ("states", {lock: state.value for lock, state in outcome.items()})
    return outcome  # None or NOT_SENT


def _decode(encoded: Any) -> Any:
    if not isinstance(encoded, tuple):
        return encoded
    kind, fields = encoded
    if kind == "states":
        return {lock: DoorState(value) for lock, value in fields.items()}
    if kind == "BadReply":
        reason, raw, detail = fields["last"]
        return BadReply(board=fields["board"], lock=fields["lock"], attempts=fields["attempts"],
                        last=BadFrame(RejectReason(reason), raw, detail))
    errors = {"BoardTimeout": BoardTimeout, "DoorDidNotOpen": DoorDidNotOpen, "LinkError": LinkError}
    return errors[kind](**fields)


def _die_with_parent(lifeline: Connection) -> None:
    """Exit at once when the parent's end of ``lifeline`` closes (it never sends): it died or closed us.

    Not only at the next request: a batch must not go on opening doors for an agent that was killed,
    and the agent started after it opens the line again (two masters on one RS-485 line collide).
    """
    try:
        lifeline.recv()
    except (EOFError, OSError):
        pass
    os._exit(0)


def _serve(conn: Connection, lifeline: Connection, bus_args: dict[str, Any], wal_path: str,
           unlock_tries: int) -> None:
    """The child: open the port, say so, then answer requests until the parent's end closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us
    threading.Thread(target=_die_with_parent, args=(lifeline,), name="lifeline", daemon=True).start()
    try:
        bus = open_bus(**bus_args)
    except LinkError as error:
        conn.send(("failed", _encode(error)))
        return
    conn.send(("ready", None))
    with bus:
        while True:
            try:
                kind, arg = conn.recv()
            except (EOFError, OSError):
                return  # the parent closed its end or died
            if kind == "open":
                fsync_file(wal_path)
                conn.send([_encode(o) for o in open_doors_on(bus, arg, unlock_tries)])
            else:
                try:
                    conn.send(_encode(bus.door_states(arg)))
                except BOARD_DOWN as error:
                    conn.send(_encode(error))


class LineProcess:
    """The line in a child process (module docstring): the port ``url`` and the fsync of ``wal_path``.

    Raises (constructor): LinkError if the child cannot open the port.
    """

    def __init__(self, url: str, *, baudrate: int = 9600, inter_frame_gap_s: float | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, attempts: int = DEFAULT_ATTEMPTS, wal_path: str,
                 unlock_tries: int) -> None:
        self.url = url
        self._bus_args = {"url": url, "baudrate": baudrate, "inter_frame_gap_s": inter_frame_gap_s,
                          "timeout_s": timeout_s, "attempts": attempts}
        self._wal_path = wal_path
        self._unlock_tries = unlock_tries
        self._lock = threading.Lock()  # one request on the pipe at a time (opener and watchdog threads)
        self._process: Any = None
        self._conn: Connection | None = None
        self._lifeline: Connection | None = None
        self._start()

    @property
    def pid(self) -> int | None:
        """The child's process id (None while none runs)."""
        return None if self._process is None else self._process.pid

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # not fork: the parent has threads and SQLite
        conn, child_end = context.Pipe()
        lifeline_child, lifeline = context.Pipe(duplex=False)  # we hold the sending end and never send
        args = (child_end, lifeline_child, self._bus_args, self._wal_path, self._unlock_tries)
        process = context.Process(target=_serve, args=args, name="locker-line", daemon=True)
        process.start()
        child_end.close()
        lifeline_child.close()
        if not conn.poll(_START_TIMEOUT_S):
            process.kill()
            raise LinkError(url=self.url, reason="the line process did not start")
        status, error = conn.recv()
        if status != "ready":
            process.join(5)
            raise _decode(error)
        self._process, self._conn, self._lifeline = process, conn, lifeline

    def _ask(self, kind: str, arg: Any) -> Any:
        """Send a request, return the child's answer.

        Raises:
            LineDown: no child (it could not start) or it died; ``sent`` says whether it had the request.
        """
        with self._lock:
            if self._conn is None:
                try:
                    self._start()
                except LinkError as error:
                    raise LineDown(url=self.url, reason=error.reason, sent=False) from None
            assert self._conn is not None
            sent = False
            try:
                self._conn.send((kind, arg))
                sent = True
                return self._conn.recv()
            except (EOFError, OSError) as error:
                log.error("line process %s for %s died: %s; starting a new one on the next request",
                          self.pid, self.url, error or type(error).__name__)
                self._stop_child()
                raise LineDown(url=self.url, reason="the line process died", sent=sent) from None

    def open_doors(self, doors: list[tuple[int, int]]) -> list[Outcome]:
        try:
            return [_decode(o) for o in self._ask("open", doors)]
        except LineDown as error:
            # Did they open? In doubt, like a silent board, once the child had the request.
            return [error if error.sent else NOT_SENT] * len(doors)

    def door_states(self, board: int) -> dict[int, DoorState]:
        answer = _decode(self._ask("states", board))
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        """Stop the child (it exits as its lifeline closes; the port closes with it)."""
        with self._lock:
            self._stop_child()

    def _stop_child(self) -> None:
        for conn in (self._conn, self._lifeline):
            if conn is not None:
                conn.close()
        self._conn = self._lifeline = None
        if self._process is not None:
            self._process.join(5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)
            self._process = None
