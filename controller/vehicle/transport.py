"""MAVLink 2 transport: the only module that opens a connection (through pymavlink's mavutil).

URLs are what mavutil understands: ``tcp:HOST:PORT``, ``tcpin:``, ``udp:``/``udpin:HOST:PORT``
(listen), ``udpout:HOST:PORT``, or a serial device path with ``baud`` (``/dev/ttyUSB0``; a
``/dev/ttyUSB0:57600`` suffix is accepted too).

One I/O thread per connection owns the pymavlink object: it packs and writes queued outgoing messages
and reads incoming ones, handing each to the event loop with ``call_soon_threadsafe``. Keeping all
socket work on that thread matters because pymavlink's TCP reconnect (autoreconnect=True) blocks and
sleeps between attempts, which must never happen on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import select
import threading
from collections.abc import Callable
from typing import Any

# MAVLink 2 is required for mission_type (fence/rally); mavutil picks the wire version from this
# variable when it loads a dialect, so set it before importing mavutil.
os.environ.setdefault("MAVLINK20", "1")
from pymavlink import mavutil  # noqa: E402

from controller.vehicle.errors import VehicleLinkError  # noqa: E402

log = logging.getLogger(__name__)

#: MAV_COMP_ID_MISSIONPLANNER, the conventional component id of a ground control station.
GCS_COMPONENT_ID = 190


class ConnectionFailed(VehicleLinkError):
    """The connection URL could not be opened."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot open {url}: {reason}")


def split_serial_url(url: str, baud: int) -> tuple[str, int]:
    """Split ``/dev/ttyUSB0:57600`` into (device, baud); other URLs pass through unchanged.

    >>> split_serial_url("/dev/ttyUSB0:57600", 115200)
    ('/dev/ttyUSB0', 57600)
    >>> split_serial_url("tcp:127.0.0.1:5760", 115200)
    ('tcp:127.0.0.1:5760', 115200)
    """
    if url.startswith("/") or url.upper().startswith("COM"):
        device, sep, rate = url.rpartition(":")
        if sep and rate.isdigit():
            return device, int(rate)
    return url, baud


class MavlinkConnection:
    """One MAVLink 2 connection, addressed by URL, sending as (source_system, source_component).

    Parameters
    ----------
    url: connection URL (see module docstring).
    source_system: our MAVLink system id (255 = conventional GCS).
    source_component: our component id (190 = MAV_COMP_ID_MISSIONPLANNER).
    baud: serial baud rate in bit/s (ignored for network URLs).
    """

    def __init__(self, url: str, *, source_system: int = 255, source_component: int = GCS_COMPONENT_ID,
                 baud: int = 115200) -> None:
        self.url = url
        self.source_system = source_system
        self.source_component = source_component
        self.baud = baud
        self._conn: Any = None
        self._outgoing: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1
        self.messages_received = 0
        self.messages_sent = 0

    def _connect(self) -> Any:
        device, baud = split_serial_url(self.url, self.baud)
        conn = mavutil.mavlink_connection(device, baud=baud, source_system=self.source_system,
                                          source_component=self.source_component, autoreconnect=True,
                                          dialect="ardupilotmega")
        if float(conn.WIRE_PROTOCOL_VERSION) < 2.0:
            conn.close()
            raise ConnectionFailed(self.url, "pymavlink did not load a MAVLink 2 dialect")
        return conn

    async def open(self, on_message: Callable[[Any], None]) -> None:
        """Open the URL (in a worker thread: TCP connect may retry) and start the I/O thread.

        ``on_message(msg)`` is called on the running event loop for every valid message.
        Raises :class:`ConnectionFailed` when the URL cannot be opened.
        """
        loop = asyncio.get_running_loop()
        try:
            self._conn = await asyncio.to_thread(self._connect)
        except (OSError, ValueError) as exc:
            raise ConnectionFailed(self.url, str(exc)) from exc
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._io_loop, args=(loop, on_message),
                                        name=f"mavlink-io {self.url}", daemon=True)
        self._thread.start()

    def send(self, msg: Any) -> None:
        """Queue ``msg`` (a pymavlink message object) for sending; never blocks."""
        self._outgoing.put(msg)
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"\0")
            except OSError:
                pass  # closed during shutdown

    async def close(self) -> None:
        """Stop the I/O thread and close the connection."""
        self._stop.set()
        self.send(None)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)
        # A TCP link that lost its peer is mid-reconnect with no socket; there is nothing to close then.
        if self._conn is not None and getattr(self._conn, "port", True) is not None:
            self._conn.close()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    # --- I/O thread ---------------------------------------------------------------------------------

    def _fileno(self) -> int | None:
        port = getattr(self._conn, "port", None)  # tcp/udp sockets; replaced on TCP reconnect
        if port is not None and hasattr(port, "fileno"):
            try:
                return port.fileno()
            except OSError:
                return None
        fd = getattr(self._conn, "fd", None)
        return fd if isinstance(fd, int) and fd >= 0 else None

    def _io_loop(self, loop: asyncio.AbstractEventLoop, on_message: Callable[[Any], None]) -> None:
        conn = self._conn
        while not self._stop.is_set():
            try:
                while True:
                    try:
                        msg = self._outgoing.get_nowait()
                    except queue.Empty:
                        break
                    if msg is not None:
                        conn.mav.send(msg)
                        self.messages_sent += 1
                while True:
                    msg = conn.recv_msg()
                    if msg is None:
                        break
                    if msg.get_type() == "BAD_DATA":
                        continue
                    self.messages_received += 1
                    loop.call_soon_threadsafe(on_message, msg)
            except RuntimeError:
                return  # the event loop is closed: nobody is listening any more
            except OSError as exc:
                # TCP peer gone and reconnect attempts exhausted: keep trying, slowly.
                log.warning("%s: %s; retrying", self.url, exc)
                if self._stop.wait(1.0):
                    return
                continue
            fds = [self._wake_r]
            fd = self._fileno()
            if fd is not None:
                fds.append(fd)
            try:
                readable, _, _ = select.select(fds, [], [], 0.1)
            except (OSError, ValueError):
                readable = []
            if self._wake_r in readable:
                try:
                    os.read(self._wake_r, 4096)
                except OSError:
                    return
