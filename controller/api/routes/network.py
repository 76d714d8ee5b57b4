"""The network: scenario metadata, service points, pads, transport lines, geofence."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy import select

from pydantic import BaseModel, ConfigDict, Field

from controller.api.deps import ANY_ROLE, SessionDep, allow
from controller.api.schemas import PadOut, ServicePointOut
from controller.db.models import Pad, ServicePoint, User
from controller.services import geofences, network
from controller.services.auth import Role

router = APIRouter(prefix="/api/v1", tags=["network"])
AnyUser = Annotated[User, Depends(allow(*ANY_ROLE))]


@router.get("/scenario")
def scenario_metadata(session: SessionDep, _: AnyUser) -> dict[str, Any]:
    """Which scenario is loaded, its defaults and counts of what it holds."""
    return network.scenario_metadata(session)


@router.get("/network")
def network_map(session: SessionDep, _: AnyUser) -> dict[str, Any]:
    """Everything a map needs: islands, service points, pads, lines, lockers and the current geofence."""
    return network.network_map(session)


@router.get("/service-points", response_model=list[ServicePointOut])
def service_points(session: SessionDep, _: AnyUser) -> list[ServicePointOut]:
    """All service points (county centre, township stations, village points)."""
    rows = session.scalars(select(ServicePoint).order_by(ServicePoint.id))
    return [ServicePointOut.model_validate(r) for r in rows]


@router.get("/pads", response_model=list[PadOut])
def pads(session: SessionDep, _: AnyUser) -> list[PadOut]:
    """All drone pads."""
    return [PadOut.model_validate(r) for r in session.scalars(select(Pad).order_by(Pad.id))]


class GeofenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    geojson: dict[str, Any] = Field(description="FeatureCollection: inclusion/exclusion zones (WGS84)")
    reason: str = Field(min_length=1, max_length=500)


@router.put("/geofence")
def replace_geofence(body: GeofenceIn, session: SessionDep,
                     user: Annotated[User, Depends(allow(Role.ADMIN))]) -> dict[str, Any]:
    """Store a new geofence version (admin). Approvals bound to the old fence become void."""
    with session.begin():
        return geofences.replace_geofence(session, geojson=body.geojson, actor=user.name, reason=body.reason)
