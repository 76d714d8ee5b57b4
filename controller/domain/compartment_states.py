"""Locker compartment states as the controller tracks them (the agent owns the door hardware)."""

from __future__ import annotations

import enum

from controller.domain.state_machine import TransitionTable


class CompartmentState(str, enum.Enum):
    FREE = "free"
    RESERVED = "reserved"  # a courier's door is open for a deposit
    OCCUPIED = "occupied"
    OPEN = "open"  # door open for a pickup or admin action
    FAULTY = "faulty"
    OFFLINE = "offline"  # its board stopped answering


_C = CompartmentState
COMPARTMENT_TRANSITIONS: TransitionTable[CompartmentState] = TransitionTable.build(
    "compartment",
    {
        _C.FREE: {_C.RESERVED, _C.OCCUPIED, _C.OPEN, _C.FAULTY, _C.OFFLINE},
        _C.RESERVED: {_C.OCCUPIED, _C.FREE, _C.FAULTY, _C.OFFLINE},
        _C.OCCUPIED: {_C.OPEN, _C.FREE, _C.FAULTY, _C.OFFLINE},
        _C.OPEN: {_C.FREE, _C.OCCUPIED, _C.FAULTY, _C.OFFLINE},
        _C.FAULTY: {_C.FREE, _C.OCCUPIED, _C.OFFLINE},
        _C.OFFLINE: {_C.FREE, _C.OCCUPIED, _C.FAULTY},
    },
)
