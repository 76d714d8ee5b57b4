"""JSON views of sorties for the approval queue, the console and the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.db.models import Drone, Sortie, TrackPoint
from controller.db.types import utc_now
from controller.services import sorties


def _iso(value) -> str | None:  # type: ignore[no-untyped-def]
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _last_point(session: Session, sortie_id: str) -> TrackPoint | None:
    return session.scalar(select(TrackPoint).where(TrackPoint.sortie_id == sortie_id)
                          .order_by(TrackPoint.id.desc()).limit(1))


def summary(session: Session, sortie: Sortie) -> dict[str, Any]:
    """Everything the approval queue shows for one sortie."""
    plan = sortie.plan or {}
    drone = session.get(Drone, sortie.drone_id)
    point = _last_point(session, sortie.id)
    return {
        "id": sortie.id, "drone_id": sortie.drone_id, "drone_name": drone.name if drone else sortie.drone_id,
        "drone_model": drone.model if drone else None,
        "origin_pad": sortie.origin_pad_id, "stops": sortie.stops, "state": sortie.state,
        "state_reason": sortie.state_reason, "state_changed_at": _iso(sortie.state_changed_at),
        "parcels": sorties.parcel_ids(session, sortie.id), "payload_kg": sortie.payload_kg,
        "energy_wh": sortie.energy_wh, "battery_wh": sortie.battery_wh,
        "energy_budget_wh": plan.get("energy_budget_wh"), "reserve_fraction": plan.get("reserve_fraction"),
        "altitude_m": sortie.altitude_m, "depart_at": _iso(sortie.depart_at), "arrive_at": _iso(sortie.arrive_at),
        "wind": plan.get("wind"), "route": plan.get("route", []), "separation": plan.get("separation"),
        "length_m": plan.get("length_m"), "plan_hash": sortie.plan_hash,
        "created_at": _iso(sortie.created_at), "age_s": (utc_now() - sortie.created_at).total_seconds(),
        "approved_by": sortie.approved_by, "approved_at": _iso(sortie.approved_at),
        "approval_expires_at": _iso(sortie.approval_expires_at), "void_reason": sortie.void_reason,
        "progress_seq": sortie.progress_seq, "mission_total": len(plan.get("mission_items", [])),
        "position": None if point is None else {
            "lat_deg": point.lat_deg, "lon_deg": point.lon_deg, "alt_m": point.alt_m, "at": _iso(point.at),
            "groundspeed_m_s": point.groundspeed_m_s, "battery_pct": point.battery_pct, "mode": point.mode},
    }


def summaries(session: Session, rows: list[Sortie]) -> list[dict[str, Any]]:
    return [summary(session, s) for s in rows]


def detail(session: Session, sortie: Sortie) -> dict[str, Any]:
    """A sortie's summary plus its plan items, transitions and flown track."""
    track = session.scalars(select(TrackPoint).where(TrackPoint.sortie_id == sortie.id).order_by(TrackPoint.id))
    return {
        **summary(session, sortie),
        "mission_items": sortie.plan.get("mission_items", []),
        "fence_items": len(sortie.plan.get("fence_items", [])),
        "rally_items": len(sortie.plan.get("rally_items", [])),
        "legs": sortie.plan.get("legs", []),
        "transitions": [{"at": _iso(t.at), "from_state": t.from_state, "to_state": t.to_state, "actor": t.actor,
                         "reason": t.reason} for t in sorties.transitions(session, sortie.id)],
        "track": [[p.lat_deg, p.lon_deg, p.alt_m] for p in track],
    }
