"""Bus-locker steps of the simulated network: a courier deposits, a recipient collects with a code.

Stand-in until the controller's locker service (``controller/services/lockers.py``) and the on-bus
locker agent land: these functions write the same tables (compartments and their transitions, the
HMAC of the pickup code, the parcel's tracking events) directly.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.db.models import Compartment, CompartmentTransition, Parcel, PickupCode
from controller.domain.compartment_states import COMPARTMENT_TRANSITIONS, CompartmentState
from controller.domain.errors import Conflict
from controller.domain.parcel_states import ParcelState
from controller.services import parcels
from controller.services.auth import hash_secret

_SIZES = ("S", "M", "L")


class LockerFull(Conflict):
    """No free compartment big enough in the locker."""

    code = "locker_full"


def _size_for(parcel: Parcel) -> str:
    litres = parcel.length_cm * parcel.width_cm * parcel.height_cm / 1000.0
    return "S" if litres <= 6 else "M" if litres <= 15 else "L"


def _move(session: Session, compartment: Compartment, to: CompartmentState, *, actor: str, reason: str,
          at: datetime) -> None:
    COMPARTMENT_TRANSITIONS.check(str(compartment.id), CompartmentState(compartment.state), to)
    session.add(CompartmentTransition(compartment_id=compartment.id, at=at, from_state=compartment.state,
                                      to_state=to.value, actor=actor, reason=reason))
    compartment.state = to.value
    compartment.state_changed_at = at


def deposit_on_bus(session: Session, *, parcel_id: str, locker_id: str, place_id: str, actor: str,
                   at: datetime, reason: str) -> Compartment:
    """Put the parcel in a free compartment of the bus locker: it rides the bus (``in_transit_bus``).

    Raises LockerFull when no compartment of its size or larger is free.
    """
    parcel = parcels.get_parcel(session, parcel_id)
    wanted = _SIZES[_SIZES.index(_size_for(parcel)):]
    free = list(session.scalars(select(Compartment).where(
        Compartment.locker_id == locker_id, Compartment.state == CompartmentState.FREE.value,
        Compartment.size.in_(wanted)).order_by(Compartment.size.desc(), Compartment.lock)))
    free.sort(key=lambda c: _SIZES.index(c.size))
    if not free:
        raise LockerFull(f"locker {locker_id} has no free {'/'.join(wanted)} compartment", locker=locker_id)
    compartment = free[0]
    _move(session, compartment, CompartmentState.OCCUPIED, actor=actor, reason=f"deposit {parcel_id}", at=at)
    compartment.parcel_id = parcel_id
    parcels.transition_parcel(session, parcel_id=parcel_id, to_state=ParcelState.IN_TRANSIT_BUS, actor=actor,
                              place_id=place_id, locker_id=locker_id, scanned_code=parcel_id, reason=reason, at=at)
    return compartment


def issue_pickup_code(session: Session, *, parcel_id: str, locker_id: str, place_id: str, secret_key: str,
                      ttl_h: float, actor: str, at: datetime) -> str:
    """The bus is at the recipient's stop: the parcel is ``at_locker`` and gets a 6-digit code (returned once)."""
    code = f"{secrets.randbelow(1_000_000):06d}"
    session.merge(PickupCode(parcel_id=parcel_id, locker_id=locker_id, code_hmac=hash_secret(secret_key, code),
                             expires_at=at + timedelta(hours=ttl_h), used_at=None))
    parcels.transition_parcel(session, parcel_id=parcel_id, to_state=ParcelState.AT_LOCKER, actor=actor,
                              place_id=place_id, locker_id=locker_id, at=at,
                              reason=f"bus locker {locker_id} at the stop; pickup code sent to the recipient")
    return code


def pick_up(session: Session, *, parcel_id: str, code: str, secret_key: str, actor: str, at: datetime,
            place_id: str) -> None:
    """Open the compartment for the right code; the parcel is ``picked_up`` and the compartment free.

    Raises Conflict for a wrong, used or expired code.
    """
    row = session.get(PickupCode, parcel_id)
    if row is None or row.used_at is not None or row.expires_at < at:
        raise Conflict(f"no valid pickup code for {parcel_id}", parcel=parcel_id)
    if not hmac.compare_digest(row.code_hmac, hash_secret(secret_key, code)):
        raise Conflict(f"wrong pickup code for {parcel_id}", parcel=parcel_id)
    row.used_at = at
    compartment = session.scalar(select(Compartment).where(Compartment.parcel_id == parcel_id))
    if compartment is not None:
        _move(session, compartment, CompartmentState.OPEN, actor=actor, reason=f"pickup {parcel_id}", at=at)
        _move(session, compartment, CompartmentState.FREE, actor=actor, reason="door closed, empty", at=at)
        compartment.parcel_id = None
    parcels.transition_parcel(session, parcel_id=parcel_id, to_state=ParcelState.PICKED_UP, actor=actor,
                              place_id=place_id, scanned_code="pickup-code", at=at,
                              reason=f"collected from locker {row.locker_id} with the pickup code")
