"""Compartment and held-parcel states on the agent, with an explicit transition table.

The values match the controller's ``CompartmentState`` so events map one to one. A board that stops
answering is a property of the board (see :class:`locker_driver.agent.store.Store`), not a
compartment state: its compartments *show* ``offline`` and keep their real state underneath.
"""

from __future__ import annotations

import enum

from locker_driver.agent.errors import AgentError


class Compartment(enum.StrEnum):
    FREE = "free"
    RESERVED = "reserved"  # door open for a courier's deposit, waiting to be closed
    OCCUPIED = "occupied"
    OPEN = "open"  # door open for a pickup, a take-back or an admin, waiting to be closed
    FAULTY = "faulty"


class Held(enum.StrEnum):
    """A parcel the agent knows of."""

    EXPECTED = "expected"  # in the manifest, code synced, not deposited yet
    DEPOSITING = "depositing"
    HELD = "held"  # in a closed compartment, code live
    EXPIRED = "expired"  # code expired: flagged for a courier to take back
    COLLECTING = "collecting"  # door open for the recipient
    RETURNING = "returning"  # door open for a courier taking an expired parcel back
    PICKED_UP = "picked_up"
    RETURNED = "returned"


OFFLINE = "offline"  # shown for compartments of an offline board

_C = Compartment
TRANSITIONS: dict[Compartment, frozenset[Compartment]] = {
    _C.FREE: frozenset({_C.RESERVED, _C.FAULTY, _C.OPEN}),
    _C.RESERVED: frozenset({_C.OCCUPIED, _C.FREE, _C.FAULTY}),
    _C.OCCUPIED: frozenset({_C.OPEN, _C.FAULTY}),
    _C.OPEN: frozenset({_C.FREE, _C.OCCUPIED, _C.FAULTY}),
    _C.FAULTY: frozenset({_C.FREE, _C.OCCUPIED}),  # after a repair, by staff
}


class IllegalTransition(AgentError):
    code = "illegal_transition"
    http_status = 409


def check(board: int, lock: int, from_state: Compartment, to_state: Compartment) -> None:
    """Raise :class:`IllegalTransition` unless the table allows ``from_state -> to_state``."""
    if to_state not in TRANSITIONS[from_state]:
        raise IllegalTransition(f"compartment {board}/{lock} cannot go from {from_state} to {to_state}",
                                board=board, lock=lock, from_state=from_state.value, to_state=to_state.value)
