"""TCP server side of the simulated serial port, with fault injection (the only socket code).

One listening socket like SITL's SERIAL0 (127.0.0.1:5760 + 10 * instance). Several GCS connections
may be open at once (SITL takes one per serial port; see README); each has its own fault-injected
outbound queue. Faults act per MAVLink packet, in wall-clock time:

* ``packet_loss``: probability a packet (either direction) is dropped;
* ``duplicate``: probability an outbound packet is sent twice;
* ``reorder``: probability an outbound packet is held back behind the next one;
* ``latency_s``: fixed one-way delay added to outbound packets (inbound ones are not delayed).

``silenced`` stops all traffic both ways (a cut radio link) without closing the sockets.
"""

from __future__ import annotations

import random
import selectors
import socket
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class LinkFaults:
    """Fault probabilities (0..1) and latency in seconds of wall-clock time."""

    packet_loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    latency_s: float = 0.0


class _Conn:
    def __init__(self, conn_id: int, sock: socket.socket) -> None:
        self.conn_id = conn_id
        self.sock = sock
        self.queue: list[tuple[float, bytes]] = []  # (due wall time, packet)
        self.held: bytes | None = None
        self.out_buffer = bytearray()


class TcpLink:
    """Non-blocking TCP server driven by :meth:`poll` from the simulator's own thread."""

    def __init__(self, *, host: str, port: int, faults: LinkFaults, seed: int) -> None:
        self._selector = selectors.DefaultSelector()
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind((host, port))
        self._server.listen(4)
        self._server.setblocking(False)
        self._selector.register(self._server, selectors.EVENT_READ, None)
        self.port = self._server.getsockname()[1]
        self.faults = faults
        self.silenced = False
        self._rng = random.Random(seed)
        self._conns: dict[int, _Conn] = {}
        self._next_id = 1
        self.stats = {"sent": 0, "dropped_out": 0, "dropped_in": 0, "duplicated": 0, "reordered": 0}

    @property
    def connection_ids(self) -> list[int]:
        return list(self._conns)

    def poll(self, timeout_s: float, now_s: float) -> list[tuple[int, bytes]]:
        """Wait up to timeout_s for traffic; return [(conn_id, received bytes)] and flush due output."""
        received: list[tuple[int, bytes]] = []
        for key, _ in self._selector.select(timeout_s):
            if key.data is None:
                sock, _addr = self._server.accept()
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn = _Conn(self._next_id, sock)
                self._next_id += 1
                self._conns[conn.conn_id] = conn
                self._selector.register(sock, selectors.EVENT_READ, conn.conn_id)
                continue
            conn = self._conns.get(key.data)
            if conn is None:
                continue
            try:
                data = conn.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                self._close(conn)
                continue
            if not self.silenced:
                received.append((conn.conn_id, data))
        self._flush(now_s)
        return received

    def drop_inbound(self) -> bool:
        """Decide whether one inbound packet is lost (called per parsed packet)."""
        if self.silenced:
            return True
        if self.faults.packet_loss > 0 and self._rng.random() < self.faults.packet_loss:
            self.stats["dropped_in"] += 1
            return True
        return False

    def send(self, packet: bytes, now_s: float, conn_id: int | None = None) -> None:
        """Queue one packet to one connection (conn_id) or to all connections (None)."""
        if self.silenced:
            return
        targets = [self._conns[conn_id]] if conn_id in self._conns else (
            list(self._conns.values()) if conn_id is None else [])
        for conn in targets:
            if self.faults.packet_loss > 0 and self._rng.random() < self.faults.packet_loss:
                self.stats["dropped_out"] += 1
                continue
            copies = 2 if self.faults.duplicate > 0 and self._rng.random() < self.faults.duplicate else 1
            self.stats["duplicated"] += copies - 1
            due = now_s + self.faults.latency_s
            for _ in range(copies):
                if conn.held is None and self.faults.reorder > 0 and self._rng.random() < self.faults.reorder:
                    conn.held = packet  # goes out right after the next packet
                    self.stats["reordered"] += 1
                    continue
                conn.queue.append((due, packet))
                if conn.held is not None:
                    conn.queue.append((due, conn.held))
                    conn.held = None

    def _flush(self, now_s: float) -> None:
        for conn in list(self._conns.values()):
            while conn.queue and conn.queue[0][0] <= now_s:
                conn.out_buffer += conn.queue.pop(0)[1]
                self.stats["sent"] += 1
            if not conn.out_buffer:
                continue
            try:
                sent = conn.sock.send(conn.out_buffer)
                del conn.out_buffer[:sent]
            except (BlockingIOError, InterruptedError):
                if len(conn.out_buffer) > 4_000_000:
                    conn.out_buffer.clear()  # a GCS that never reads: drop like a full UART buffer
            except OSError:
                self._close(conn)

    def clear_queues(self) -> None:
        """Forget everything not yet sent (used when the link is cut)."""
        for conn in self._conns.values():
            conn.queue.clear()
            conn.held = None

    def _close(self, conn: _Conn) -> None:
        self._conns.pop(conn.conn_id, None)
        try:
            self._selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()

    def close(self) -> None:
        """Close every connection and the listening socket."""
        for conn in list(self._conns.values()):
            self._close(conn)
        self._selector.unregister(self._server)
        self._server.close()
        self._selector.close()
