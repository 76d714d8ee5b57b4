"""The drone fleet."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.db.models import Drone, Pad
from controller.domain.errors import AlreadyExists, ValidationFailed
from controller.services import audit


def register_drone(session: Session, *, id: str, name: str, model: str, home_pad: str, sysid: int,
                   connection_url: str | None, actor: str) -> Drone:
    """Register a drone at its home pad; payload, battery and cruise speed come from its model."""
    from flight_plans.energy import get_drone_model  # the model registry lives with the energy model
    from flight_plans.errors import UnknownDroneModelError

    try:
        spec = get_drone_model(model)
    except UnknownDroneModelError as exc:
        raise ValidationFailed(str(exc), field="model", value=model) from exc
    if session.get(Drone, id) is not None:
        raise AlreadyExists("drone", id)
    if session.get(Pad, home_pad) is None:
        raise ValidationFailed(f"unknown home pad {home_pad!r}", field="home_pad", value=home_pad)
    if session.scalar(select(Drone).where(Drone.sysid == sysid)) is not None:
        raise AlreadyExists("drone with MAVLink sysid", str(sysid))
    drone = Drone(id=id, name=name, model=model, max_payload_kg=spec.max_payload_kg, battery_wh=spec.battery_wh,
                  cruise_speed_m_s=spec.cruise_speed_m_s, connection_url=connection_url, sysid=sysid,
                  home_pad_id=home_pad, current_pad_id=home_pad)
    session.add(drone)
    session.flush()
    audit.record(session, actor=actor, action="drone.register", object_type="drone", object_id=id,
                 details={"model": model, "home_pad": home_pad, "sysid": sysid})
    return drone


def list_drones(session: Session) -> list[Drone]:
    return list(session.scalars(select(Drone).order_by(Drone.id)))
