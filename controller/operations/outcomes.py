"""What a sortie's progress means for its parcels and its drone (synchronous, one transaction each)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.db.models import Drone, Pad, Parcel, Sortie, SortieParcel
from controller.domain.parcel_states import ParcelState
from controller.services import parcels
from controller.vehicle.telemetry import distance_m

# A drone that comes down this close to a pad has landed on it (m); GPS labels are approximate.
PAD_CAPTURE_RADIUS_M = 150.0


def nearest_pad(session: Session, lat_deg: float | None, lon_deg: float | None) -> Pad | None:
    """The pad within PAD_CAPTURE_RADIUS_M of the position, if any."""
    if lat_deg is None or lon_deg is None:
        return None
    best: tuple[float, Pad] | None = None
    for pad in session.scalars(select(Pad)):
        d = distance_m(lat_deg, lon_deg, pad.lat_deg, pad.lon_deg)
        if d <= PAD_CAPTURE_RADIUS_M and (best is None or d < best[0]):
            best = (d, pad)
    return best[1] if best else None


def _drops(session: Session, sortie_id: str) -> list[SortieParcel]:
    return list(session.scalars(select(SortieParcel).where(SortieParcel.sortie_id == sortie_id)))


def parcels_took_off(session: Session, *, sortie: Sortie, actor: str) -> None:
    """The drone is airborne: its parcels are in transit by drone (those scheduled, and first-mile
    parcels that a bus brought to the origin's service point)."""
    origin = session.get(Pad, sortie.origin_pad_id)
    boarding = {ParcelState.SCHEDULED.value, ParcelState.AT_SERVICE_POINT.value}
    for drop in _drops(session, sortie.id):
        parcel = session.get(Parcel, drop.parcel_id)
        if parcel is not None and parcel.state in boarding and parcel.sortie_id == sortie.id:
            parcels.transition_parcel(session, parcel_id=parcel.id, to_state=ParcelState.IN_TRANSIT_DRONE,
                                      actor=actor, place_id=origin.service_point_id if origin else None,
                                      reason=f"sortie {sortie.id} took off", sortie_id=sortie.id)


def parcels_dropped_at(session: Session, *, sortie: Sortie, pad_id: str, actor: str) -> list[str]:
    """Parcels for ``pad_id`` left the drone there: they are at that pad's service point."""
    pad = session.get(Pad, pad_id)
    done = []
    for drop in _drops(session, sortie.id):
        parcel = session.get(Parcel, drop.parcel_id)
        if drop.drop_pad_id == pad_id and parcel is not None and parcel.state == ParcelState.IN_TRANSIT_DRONE.value:
            parcels.transition_parcel(session, parcel_id=parcel.id, to_state=ParcelState.AT_SERVICE_POINT,
                                      actor=actor, place_id=pad.service_point_id if pad else pad_id,
                                      reason=f"delivered by sortie {sortie.id} at pad {pad_id}")
            done.append(parcel.id)
    return done


def sortie_landed(session: Session, *, sortie: Sortie, lat_deg: float | None, lon_deg: float | None,
                  battery_pct: float | None, actor: str) -> dict[str, Any]:
    """The drone is down: deliver what was for this pad, bring the rest back, move the drone."""
    pad = nearest_pad(session, lat_deg, lon_deg)
    delivered = parcels_dropped_at(session, sortie=sortie, pad_id=pad.id, actor=actor) if pad else []
    returned = []
    for drop in _drops(session, sortie.id):
        parcel = session.get(Parcel, drop.parcel_id)
        if parcel is None or parcel.state not in (ParcelState.IN_TRANSIT_DRONE.value, ParcelState.SCHEDULED.value):
            continue
        where = pad.id if pad else "unknown position"
        if pad is None:
            # Down away from any pad: a courier has to recover it; say so rather than guess.
            parcels.transition_parcel(session, parcel_id=parcel.id, to_state=ParcelState.LOST, actor=actor,
                                      reason=f"sortie {sortie.id} landed away from any pad at {lat_deg},{lon_deg}")
        elif pad.id == sortie.origin_pad_id or parcel.state == ParcelState.SCHEDULED.value:
            parcels.transition_parcel(session, parcel_id=parcel.id, to_state=ParcelState.RECEIVED, actor=actor,
                                      place_id=pad.service_point_id,
                                      reason=f"back at {where}: sortie {sortie.id} did not deliver it")
            parcel.sortie_id = None
        else:
            parcels.transition_parcel(session, parcel_id=parcel.id, to_state=ParcelState.AT_SERVICE_POINT,
                                      actor=actor, place_id=pad.service_point_id,
                                      reason=f"left at {where}: sortie {sortie.id} ended before its stop")
        returned.append(parcel.id)
    drone = session.get(Drone, sortie.drone_id)
    if drone is not None:
        if pad is not None:
            drone.current_pad_id = pad.id
        if battery_pct is not None:
            drone.battery_pct = battery_pct
    return {"landed_pad": pad.id if pad else None, "delivered": delivered, "not_delivered": returned}


def sortie_never_flew(session: Session, *, sortie: Sortie, actor: str, reason: str) -> None:
    """Upload or pre-flight failed: the parcels go back to the scheduling pool."""
    for drop in _drops(session, sortie.id):
        parcel = session.get(Parcel, drop.parcel_id)
        if parcel is not None and parcel.state == ParcelState.SCHEDULED.value and parcel.sortie_id == sortie.id:
            parcels.transition_parcel(session, parcel_id=parcel.id, to_state=ParcelState.RECEIVED, actor=actor,
                                      reason=f"sortie {sortie.id}: {reason}")
            parcel.sortie_id = None
