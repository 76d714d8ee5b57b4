"""Drones: register and list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from controller.api.deps import STAFF, SessionDep, allow
from controller.api.schemas import DroneIn, DroneOut
from controller.db.models import User
from controller.services import fleet
from controller.services.auth import Role

router = APIRouter(prefix="/api/v1/drones", tags=["drones"])


@router.get("", response_model=list[DroneOut])
def list_drones(session: SessionDep, _: Annotated[User, Depends(allow(*STAFF))]) -> list[DroneOut]:
    """The fleet with each drone's home pad, current pad and battery."""
    return [DroneOut.model_validate(d) for d in fleet.list_drones(session)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DroneOut)
def register_drone(body: DroneIn, session: SessionDep,
                   user: Annotated[User, Depends(allow(Role.ADMIN))]) -> DroneOut:
    """Register a drone (admin). Its model's limits come from the flight_plans model registry."""
    with session.begin():
        drone = fleet.register_drone(session, id=body.id, name=body.name, model=body.model,
                                     home_pad=body.home_pad, sysid=body.sysid,
                                     connection_url=body.connection_url, actor=user.name)
    return DroneOut.model_validate(drone)
