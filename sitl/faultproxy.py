"""A MAVLink-aware TCP proxy that drops, duplicates, reorders and delays whole frames (for tests).

It sits between the controller and a vehicle (the simulator or real SITL), so the same fault
injection works on both backends::

    controller ──tcp──► FaultProxy (127.0.0.1:<free port>) ──tcp──► vehicle (tcp:127.0.0.1:5760)
               ◄──────  frames to_gcs: drop/dup/reorder/delay  ◄────
               ──────►  frames to_vehicle: drop/dup/reorder/delay ──►

Frames are cut from the byte stream by their header, never by guessing message types::

    MAVLink 2:  FD len incompat compat seq sysid compid msgid(3) payload(len) crc(2) [signature(13)]
                total = 12 + len (+ 13 when incompat & 0x01)
    MAVLink 1:  FE len seq sysid compid msgid payload(len) crc(2)
                total = 8 + len

Bytes before a start marker are passed through untouched in order (garbage is the vehicle's
business, not the proxy's). CRCs are not checked: a frame is forwarded or faulted as a whole.

Each accepted controller connection gets its own upstream connection; closing either side closes
both (SITL's SERIAL0 accepts the next connection afterwards). :meth:`FaultProxy.cut` stops every
frame both ways without closing sockets (a radio out of range); :meth:`FaultProxy.restore` ends it.
Decisions use one ``random.Random(seed)`` per direction, so a given seed gives the same decision
sequence for the same frame sequence.
"""

from __future__ import annotations

import heapq
import itertools
import random
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

MAVLINK2_STX = 0xFD
MAVLINK1_STX = 0xFE
_SIGNED = 0x01


class MavlinkFramer:
    """Split a MAVLink byte stream into whole frames; pure (no I/O).

    >>> framer = MavlinkFramer()
    >>> frame = bytes([0xFD, 1, 0, 0, 7, 1, 1, 0, 0, 0, 42, 0xAA, 0xBB])
    >>> framer.feed(b"xx" + frame[:5])
    [b'xx']
    >>> framer.feed(frame[5:] + frame) == [frame, frame]
    True
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return complete chunks in order (frames, and any non-frame bytes).

        A chunk that does not start with 0xFD/0xFE is inter-frame garbage, passed on as it came.
        """
        self._buffer += data
        out: list[bytes] = []
        while self._buffer:
            start = _find_stx(self._buffer)
            if start is None:
                out.append(bytes(self._buffer))
                self._buffer.clear()
                break
            if start > 0:
                out.append(bytes(self._buffer[:start]))
                del self._buffer[:start]
            size = frame_length(self._buffer)
            if size is None or len(self._buffer) < size:
                break  # wait for the rest of the header or frame
            out.append(bytes(self._buffer[:size]))
            del self._buffer[:size]
        return out


def _find_stx(buffer: bytearray) -> int | None:
    positions = [p for p in (buffer.find(MAVLINK2_STX), buffer.find(MAVLINK1_STX)) if p >= 0]
    return min(positions) if positions else None


def frame_length(header: bytes | bytearray) -> int | None:
    """Return the total length of the frame starting at ``header[0]``, or None until it is known.

    >>> frame_length(bytes([0xFE, 9]))
    17
    >>> frame_length(bytes([0xFD, 9, 0x01]))
    34
    >>> frame_length(bytes([0xFD])) is None
    True
    """
    if len(header) < 2:
        return None
    if header[0] == MAVLINK1_STX:
        return 8 + header[1]
    if len(header) < 3:
        return None
    return 12 + header[1] + (13 if header[2] & _SIGNED else 0)


def is_frame(chunk: bytes) -> bool:
    """True when ``chunk`` (from :meth:`MavlinkFramer.feed`) is a frame, not garbage."""
    return bool(chunk) and chunk[0] in (MAVLINK2_STX, MAVLINK1_STX)


@dataclass(frozen=True, kw_only=True)
class FrameFaults:
    """Per-frame fault probabilities (0..1) and delays in wall-clock seconds for one direction."""

    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0  # hold a frame back until the next frame has gone
    delay_s: float = 0.0
    jitter_s: float = 0.0  # extra uniform 0..jitter_s delay (may reorder frames itself)

    def __post_init__(self) -> None:
        for name in ("drop", "duplicate", "reorder"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1")
        if self.delay_s < 0 or self.jitter_s < 0:
            raise ValueError("delays must not be negative")


NO_FAULTS = FrameFaults()


@dataclass
class DirectionStats:
    """What one direction did to the frames it saw."""

    frames: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    cut: int = 0


class FaultPlan:
    """Decide, frame by frame, what reaches the other side and when (pure; seeded RNG).

    :meth:`decide` returns ``[(due_s, frame), ...]`` to send (empty when dropped or held back).
    """

    def __init__(self, faults: FrameFaults, rng: random.Random) -> None:
        self.faults = faults
        self.rng = rng
        self.stats = DirectionStats()
        self._held: bytes | None = None

    def decide(self, frame: bytes, now_s: float, *, cut: bool = False) -> list[tuple[float, bytes]]:
        """Return the (due time, frame) pairs to send for one received frame."""
        f = self.faults
        self.stats.frames += 1
        if cut:
            self.stats.cut += 1
            return []
        if f.drop and self.rng.random() < f.drop:
            self.stats.dropped += 1
            return []
        copies = 1
        if f.duplicate and self.rng.random() < f.duplicate:
            copies = 2
            self.stats.duplicated += 1
        due = now_s + f.delay_s + (self.rng.uniform(0.0, f.jitter_s) if f.jitter_s else 0.0)
        out: list[tuple[float, bytes]] = []
        for _ in range(copies):
            if self._held is None and f.reorder and self.rng.random() < f.reorder:
                self._held = frame
                self.stats.reordered += 1
                continue
            out.append((due, frame))
            if self._held is not None:
                out.append((due, self._held))
                self._held = None
        return out

    def flush_held(self, now_s: float) -> list[tuple[float, bytes]]:
        """Release a held-back frame (used when no further frame comes)."""
        if self._held is None:
            return []
        frame, self._held = self._held, None
        return [(now_s + self.faults.delay_s, frame)]


@dataclass
class _Pipe:
    """One direction of one proxied connection: source socket -> destination socket."""

    src: socket.socket
    dst: socket.socket
    plan: FaultPlan
    framer: MavlinkFramer = field(default_factory=MavlinkFramer)
    pending: list[tuple[float, int, bytes]] = field(default_factory=list)  # heap (due, order, frame)
    out: bytearray = field(default_factory=bytearray)
    last_frame_s: float = 0.0


class FaultProxy:
    """Forward TCP between controller and vehicle, injecting faults per MAVLink frame.

    Parameters
    ----------
    upstream: the vehicle's ``tcp:HOST:PORT`` URL (or ``HOST:PORT``).
    to_vehicle, to_gcs: faults for frames going to the vehicle / to the controller.
    seed: RNG seed (each direction gets its own generator derived from it).
    listen_host, listen_port: where the controller connects (port 0 picks a free one).

    Use as a context manager; :attr:`url` is what the controller connects to.
    """

    def __init__(self, upstream: str, *, to_vehicle: FrameFaults = NO_FAULTS, to_gcs: FrameFaults = NO_FAULTS,
                 seed: int = 0, listen_host: str = "127.0.0.1", listen_port: int = 0,
                 connect_timeout_s: float = 5.0) -> None:
        host, port = _host_port(upstream)
        self.upstream = (host, port)
        self.connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._faults = {"to_vehicle": to_vehicle, "to_gcs": to_gcs}
        self._rngs = {"to_vehicle": random.Random(f"{seed}/to_vehicle"), "to_gcs": random.Random(f"{seed}/to_gcs")}
        self.stats = {"to_vehicle": DirectionStats(), "to_gcs": DirectionStats()}
        self._cut = False
        self._server = socket.create_server((listen_host, listen_port))
        self._server.setblocking(False)
        self.listen_host = listen_host
        self.port = self._server.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._server, selectors.EVENT_READ, None)
        self._pipes: list[tuple[_Pipe, _Pipe]] = []
        self._order = itertools.count()
        self._stop = threading.Event()
        self._disconnect = threading.Event()
        self._thread: threading.Thread | None = None
        self.connections_accepted = 0

    @property
    def url(self) -> str:
        """The URL the controller should connect to."""
        return f"tcp:{self.listen_host}:{self.port}"

    # --- control (any thread) --------------------------------------------------------------------

    def set_faults(self, *, to_vehicle: FrameFaults | None = None, to_gcs: FrameFaults | None = None) -> None:
        """Change the faults of one or both directions from now on."""
        with self._lock:
            if to_vehicle is not None:
                self._faults["to_vehicle"] = to_vehicle
            if to_gcs is not None:
                self._faults["to_gcs"] = to_gcs
            for pair in self._pipes:
                pair[0].plan.faults = self._faults["to_vehicle"]
                pair[1].plan.faults = self._faults["to_gcs"]

    def cut(self) -> None:
        """Stop every frame both ways (sockets stay open) until :meth:`restore`."""
        with self._lock:
            self._cut = True
            for pair in self._pipes:
                for pipe in pair:
                    pipe.pending.clear()

    def restore(self) -> None:
        """Forward frames again after :meth:`cut`."""
        with self._lock:
            self._cut = False

    def disconnect(self) -> None:
        """Close every proxied connection (both sides); new connections are still accepted."""
        self._disconnect.set()

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Start the proxy thread; return self."""
        self._thread = threading.Thread(target=self._run, name=f"faultproxy-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread and close every socket (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- proxy thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self._disconnect.is_set():
                    self._disconnect.clear()
                    for pair in list(self._pipes):
                        self._close_pair(pair)
                timeout = self._next_due_in(time.monotonic())
                for key, _events in self._selector.select(timeout):
                    if key.data is None:
                        self._accept()
                    else:
                        self._read(key.data)
                self._flush(time.monotonic())
        finally:
            for pair in list(self._pipes):
                self._close_pair(pair)
            self._selector.close()
            self._server.close()

    def _next_due_in(self, now_s: float) -> float:
        due = [pipe.pending[0][0] for pair in self._pipes for pipe in pair if pipe.pending]
        if any(pipe.out for pair in self._pipes for pipe in pair):
            return 0.005
        return max(0.0, min(min(due) - now_s, 0.05)) if due else 0.05

    def _accept(self) -> None:
        try:
            client, _addr = self._server.accept()
        except BlockingIOError:
            return
        try:
            vehicle = socket.create_connection(self.upstream, timeout=self.connect_timeout_s)
        except OSError:
            client.close()  # the vehicle is not there: the controller sees a refused/closed link
            return
        self.connections_accepted += 1
        for sock in (client, vehicle):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            up = _Pipe(src=client, dst=vehicle, plan=self._shared_plan("to_vehicle"))
            down = _Pipe(src=vehicle, dst=client, plan=self._shared_plan("to_gcs"))
            pair = (up, down)
            self._pipes.append(pair)
        self._selector.register(client, selectors.EVENT_READ, (pair, 0))
        self._selector.register(vehicle, selectors.EVENT_READ, (pair, 1))

    def _shared_plan(self, direction: str) -> FaultPlan:
        plan = FaultPlan(self._faults[direction], self._rngs[direction])
        plan.stats = self.stats[direction]  # one tally per direction across connections
        return plan

    def _read(self, data: tuple[tuple[_Pipe, _Pipe], int]) -> None:
        pair, index = data
        pipe = pair[index]
        try:
            received = pipe.src.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            received = b""
        if not received:
            self._close_pair(pair)
            return
        now = time.monotonic()
        with self._lock:
            for chunk in pipe.framer.feed(received):
                if not is_frame(chunk):
                    if not self._cut:
                        self._push(pipe, now, chunk)
                    continue
                for due, frame in pipe.plan.decide(chunk, now, cut=self._cut):
                    self._push(pipe, due, frame)
                pipe.last_frame_s = now

    def _push(self, pipe: _Pipe, due_s: float, data: bytes) -> None:
        heapq.heappush(pipe.pending, (due_s, next(self._order), data))

    def _flush(self, now_s: float) -> None:
        for pair in list(self._pipes):
            for pipe in pair:
                with self._lock:
                    if pipe.plan._held is not None and now_s - pipe.last_frame_s > 0.2:
                        for due, frame in pipe.plan.flush_held(now_s):  # nothing followed: let it go
                            self._push(pipe, due, frame)
                    while pipe.pending and pipe.pending[0][0] <= now_s:
                        pipe.out += heapq.heappop(pipe.pending)[2]
                if not pipe.out:
                    continue
                try:
                    sent = pipe.dst.send(pipe.out)
                    del pipe.out[:sent]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self._close_pair(pair)
                    break

    def _close_pair(self, pair: tuple[_Pipe, _Pipe]) -> None:
        with self._lock:
            if pair not in self._pipes:
                return
            self._pipes.remove(pair)
        for sock in (pair[0].src, pair[0].dst):
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()


def _host_port(url: str) -> tuple[str, int]:
    """Parse ``tcp:HOST:PORT`` or ``HOST:PORT``.

    >>> _host_port("tcp:127.0.0.1:5760")
    ('127.0.0.1', 5760)
    """
    rest = url[4:] if url.startswith("tcp:") else url
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"not a tcp:HOST:PORT url: {url!r}")
    return host, int(port)
