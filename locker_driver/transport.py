"""Byte transport to lock boards over pyserial — the only module that imports ``serial``.

Any URL :func:`serial.serial_for_url` accepts works: ``/dev/ttyUSB0``, a pty path, ``loop://``,
``socket://host:port``, ``rfc2217://``. Defaults are the boards' 9600 baud 8N1.

RS-485 notes:

* Most USB-RS485 adapters switch the driver direction themselves; leave ``rs485=False``.
  ``rs485=True`` asks the kernel (Linux ``TIOCSRS485``) to drive RTS high while sending and low
  after, via :class:`serial.rs485.RS485Settings`; only for UARTs whose driver supports it
  (pseudo-terminals do not: that raises :class:`~locker_driver.errors.LinkError`).
* Adapters without echo suppression hand back every byte we send. With ``echo=True`` the transport
  reads the copy back right after each write and drops it, so the reply decoder never sees it.
* Before each write the line is left idle for ``inter_frame_gap_s`` after the last byte sent or
  received (default 3.5 character times, the Modbus RTU convention: 3.6 ms at 9600 baud), which
  gives a half-duplex board time to turn its transceiver around.
"""

from __future__ import annotations

import logging
import os
import select
import termios
import time

import serial
import serial.rs485
import serial.serialposix

from locker_driver.errors import LinkError

log = logging.getLogger(__name__)

DEFAULT_BAUDRATE = 9600
BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop
# Margin for the echo to come back: USB adapters buffer for up to a few ms (latency timer).
_ECHO_MARGIN_S = 0.05
# How long a write may wait for room in the port's output buffer, in s (frames are ~10 bytes).
_WRITE_TIMEOUT_S = 1.0


def wire_time_s(n_bytes: int, baudrate: int) -> float:
    """Return the time ``n_bytes`` take on an 8N1 line at ``baudrate`` baud, in s.

    >>> round(wire_time_s(10, 9600) * 1000, 2)
    10.42
    """
    return n_bytes * BITS_PER_BYTE / baudrate


class SerialTransport:
    """Half-duplex byte link with echo suppression and inter-frame gap.

    Use :meth:`open` to build one from a URL; the constructor takes an already-configured
    pyserial port (constructor injection, e.g. for ``loop://`` in tests).
    """

    def __init__(
        self,
        port: serial.SerialBase,
        *,
        url: str,
        echo: bool = False,
        inter_frame_gap_s: float | None = None,
    ) -> None:
        self._port = port
        self.url = url
        self.echo = echo
        self.baudrate: int = port.baudrate
        self.inter_frame_gap_s = (
            wire_time_s(1, self.baudrate) * 3.5 if inter_frame_gap_s is None else inter_frame_gap_s
        )
        self._pending = bytearray()
        # A POSIX port (a device or a pty: a non-blocking file descriptor) is read directly (_read_fd);
        # others (loop://, socket://) through pyserial's read.
        self._posix = isinstance(port, serial.serialposix.Serial) and \
            not isinstance(port, serial.serialposix.VTIMESerial)  # that one blocks for VMIN bytes
        self._last_activity = 0.0
        self.echo_misses = 0

    @classmethod
    def open(
        cls,
        url: str,
        *,
        baudrate: int = DEFAULT_BAUDRATE,
        echo: bool = False,
        rs485: bool = False,
        inter_frame_gap_s: float | None = None,
    ) -> SerialTransport:
        """Open ``url`` at ``baudrate`` baud, 8N1, no flow control.

        Raises:
            LinkError: the port cannot be opened or configured.
        """
        try:
            port = serial.serial_for_url(url, do_not_open=True)
            port.baudrate = baudrate
            port.bytesize = serial.EIGHTBITS
            port.parity = serial.PARITY_NONE
            port.stopbits = serial.STOPBITS_ONE
            port.xonxoff = port.rtscts = port.dsrdtr = False
            if rs485:
                port.rs485_mode = serial.rs485.RS485Settings(rts_level_for_tx=True, rts_level_for_rx=False)
            port.open()
        except (serial.SerialException, OSError, ValueError) as error:
            raise LinkError(url=url, reason=str(error)) from error
        return cls(port, url=url, echo=echo, inter_frame_gap_s=inter_frame_gap_s)

    def write(self, frame: bytes) -> None:
        """Send ``frame`` once the inter-frame gap has passed; wait until it is on the wire.

        With ``echo`` on, also read back and drop the adapter's copy of ``frame``; bytes that
        arrive before it are dropped too, bytes after it are kept for :meth:`read`.

        Raises:
            LinkError: I/O error on the port.
        """
        idle_s = time.monotonic() - self._last_activity
        if idle_s < self.inter_frame_gap_s:
            time.sleep(self.inter_frame_gap_s - idle_s)  # line timing, not a test wait
        try:
            if self._posix:
                self._write_fd(frame)
                if self.inter_frame_gap_s > 0:
                    termios.tcdrain(self._port.fd)  # the gap counts from the last bit on the wire
            else:
                self._port.write(frame)
                self._port.flush()  # tcdrain: returns once the UART has shifted the bytes out
        except (serial.SerialException, OSError, termios.error) as error:
            raise LinkError(url=self.url, reason=f"write failed: {error}") from error
        self._last_activity = time.monotonic()
        if self.echo:
            self._drop_echo(frame)

    def _write_fd(self, frame: bytes) -> None:
        """Write ``frame`` to the non-blocking descriptor: ``os.write``, and ``select`` only if it is full.

        pyserial's ``write`` also selects after every write, and its ``flush`` (tcdrain) is only needed
        to time the inter-frame gap: system calls the agent saves (see :meth:`_read_fd`).
        """
        fd = self._port.fd
        view = memoryview(frame)
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                _, ready, _ = select.select([], [fd], [], _WRITE_TIMEOUT_S)
                if not ready:
                    raise LinkError(url=self.url, reason="write timed out: the line does not drain") from None

    def _drop_echo(self, frame: bytes) -> None:
        deadline = time.monotonic() + wire_time_s(len(frame), self.baudrate) * 2 + _ECHO_MARGIN_S
        while True:
            at = self._pending.find(frame)
            if at >= 0:
                del self._pending[: at + len(frame)]
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                # Leave what came for the decoder: it may hold the reply after a garbled echo.
                self.echo_misses += 1
                log.warning(
                    "%s: echo of %s not seen; %d echo misses", self.url, frame.hex(" "), self.echo_misses
                )
                return
            self._pending += self._read_port(64, remaining)

    def _read_port(self, max_bytes: int, timeout_s: float) -> bytes:
        if self._posix:
            return self._read_fd(self._port.fd, max_bytes, timeout_s)  # type: ignore[attr-defined]
        try:
            self._port.timeout = max(timeout_s, 0.0)
            first = self._port.read(1)
            if not first:
                return b""
            waiting = self._port.in_waiting
            data = first + (
                self._port.read(min(waiting, max_bytes - 1)) if waiting and max_bytes > 1 else b""
            )
        except (serial.SerialException, OSError) as error:
            raise LinkError(url=self.url, reason=f"read failed: {error}") from error
        self._last_activity = time.monotonic()
        return data

    def _read_fd(self, fd: int | None, max_bytes: int, timeout_s: float) -> bytes:
        """Read what is there (up to ``max_bytes``) once ``fd`` is readable: one ``select``, one ``read``.

        What pyserial's ``read`` does for a POSIX port, without setting ``timeout`` (a ``tcgetattr``
        each time) and asking ``in_waiting`` (an ``ioctl``): every system call releases the GIL, and in
        the agent each one waits to get it back from the busy event loop (~0.3 ms less per door).
        """
        if fd is None:
            raise LinkError(url=self.url, reason="read failed: port not open")
        try:
            ready, _, _ = select.select([fd], [], [], max(timeout_s, 0.0))
            if not ready:
                return b""
            data = os.read(fd, max_bytes)  # the descriptor is non-blocking (pyserial opens it so)
        except BlockingIOError:
            return b""
        except OSError as error:
            raise LinkError(url=self.url, reason=f"read failed: {error}") from error
        if not data:  # readable but empty: the device went away (as pyserial reports it)
            raise LinkError(url=self.url, reason="device reports readiness to read but returned no data")
        self._last_activity = time.monotonic()
        return data

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        """Return up to ``max_bytes`` bytes, waiting at most ``timeout_s`` s for the first one.

        Returns ``b""`` on timeout.

        Raises:
            LinkError: I/O error on the port.
        """
        if self._pending:
            data = bytes(self._pending[:max_bytes])
            del self._pending[:max_bytes]
            return data
        return self._read_port(max_bytes, timeout_s)

    def discard_input(self) -> None:
        """Drop every byte received and not yet read (stale replies, line noise)."""
        self._pending.clear()
        try:
            self._port.reset_input_buffer()
        except (serial.SerialException, OSError) as error:
            raise LinkError(url=self.url, reason=f"flush failed: {error}") from error

    def close(self) -> None:
        """Close the port."""
        self._port.close()
