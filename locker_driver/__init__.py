"""Driver for serial lock-control boards in bus-borne smart lockers.

Quick start::

    from locker_driver import open_bus
    with open_bus("/dev/ttyUSB0") as bus:
        bus.unlock(1, 3)
        print(bus.door_states(1))

Layers: :mod:`locker_driver.protocol` (pure frames), :mod:`locker_driver.transport` (pyserial),
:mod:`locker_driver.bus` (boards by address, thread-safe), :mod:`locker_driver.sim` (simulator).
"""

from __future__ import annotations

from locker_driver.bus import DEFAULT_ATTEMPTS, DEFAULT_TIMEOUT_S, LockerBus, Transport
from locker_driver.errors import (
    AddressError,
    BadFrame,
    BadReply,
    BoardTimeout,
    DoorDidNotOpen,
    LinkError,
    LockerError,
    RejectReason,
)
from locker_driver.frames import DoorState, FrameCodec

__all__ = [
    "AddressError",
    "BadFrame",
    "BadReply",
    "BoardTimeout",
    "DoorDidNotOpen",
    "DoorState",
    "FrameCodec",
    "LinkError",
    "LockerBus",
    "LockerError",
    "RejectReason",
    "Transport",
    "open_bus",
]


def open_bus(
    url: str,
    baudrate: int = 9600,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    attempts: int = DEFAULT_ATTEMPTS,
    echo: bool = False,
    rs485: bool = False,
    inter_frame_gap_s: float | None = None,
    codec: FrameCodec | None = None,
) -> LockerBus:
    """Open the lock-board line at ``url`` and return a bus.

    Parameters:
        url: anything :func:`serial.serial_for_url` accepts (device, pty path, ``loop://``,
            ``socket://host:port``).
        baudrate: line speed in baud (8N1).
        timeout_s: reply wait per attempt, in s.
        attempts: sends per request before :class:`BoardTimeout`.
        echo: the adapter echoes what is sent; drop the copy.
        rs485: let the kernel drive RTS for the transceiver direction (see transport docs).
        inter_frame_gap_s: idle time before each request, in s (default 3.5 characters:
            3.6 ms at 9600 baud).
        codec: board family (default generic 24-channel).

    Raises:
        LinkError: the port cannot be opened.
    """
    from locker_driver.transport import SerialTransport  # keeps `serial` out of pure imports

    transport = SerialTransport.open(
        url, baudrate=baudrate, echo=echo, rs485=rs485, inter_frame_gap_s=inter_frame_gap_s
    )
    return LockerBus(transport, codec=codec, timeout_s=timeout_s, attempts=attempts)
