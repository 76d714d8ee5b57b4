"""Editing the geofence: a new version, validated, that voids every approval bound to the old one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.db.models import Geofence as GeofenceRow
from controller.db.models import Pad, Sortie
from controller.domain.errors import ValidationFailed
from controller.domain.sortie_states import SortieState
from controller.services import audit, sorties
from controller.services.network import current_geofence
from flight_plans import Geofence, GeofenceError


def replace_geofence(session: Session, *, geojson: dict[str, Any], actor: str, reason: str) -> dict[str, Any]:
    """Store ``geojson`` as the next geofence version after validating it.

    Refuses a fence that is invalid or that leaves a pad outside the operating area or inside a
    no-fly zone (drones could not take off there). Every ``approved`` sortie returns to ``planned``
    with the reason, and every ``planned`` one is marked: its plan was made for the old fence, so the
    upload gate would refuse it until it is re-planned.

    Returns the new version and the sortie ids whose approvals were voided.
    """
    try:
        fence = Geofence.from_geojson(geojson)
    except GeofenceError as exc:
        raise ValidationFailed(str(exc), feature_index=exc.feature_index, feature_name=exc.feature_name) from exc
    from shapely.geometry import Point

    for pad in session.scalars(select(Pad).order_by(Pad.id)):
        where = Point(fence.projection.to_xy(pad.lat_deg, pad.lon_deg))
        inside = any(fence.zone_geometry_m(z).covers(where) for z in fence.inclusions)
        blocked = [z.label for z in fence.exclusions if fence.zone_geometry_m(z).intersects(where)]
        if not inside or blocked:
            problem = "outside the operating area" if not inside else f"inside no-fly zone {blocked[0]!r}"
            raise ValidationFailed(f"pad {pad.id} would be {problem}", pad=pad.id)
    old = current_geofence(session)
    new = GeofenceRow(name=old.name, version=old.version + 1, geojson=geojson, created_by=actor)
    session.add(new)
    session.flush()
    why = f"geofence changed to v{new.version}: {reason}"
    voided = []
    for sortie in session.scalars(select(Sortie).where(Sortie.state == SortieState.APPROVED.value)
                                  .with_for_update()):
        sorties.void_approval(session, sortie=sortie, reason=why, actor=actor)
        voided.append(sortie.id)
    for sortie in session.scalars(select(Sortie).where(Sortie.state == SortieState.PLANNED.value)):
        sortie.void_reason = why
    audit.record(session, actor=actor, action="geofence.replace", object_type="geofence", object_id=str(new.version),
                 details={"reason": reason, "voided_approvals": voided, "previous_version": old.version})
    return {"version": new.version, "voided_approvals": voided}
