"""Lockers: live state for staff, parcel assignment and code re-issue (pickup codes), agent sync, admin
remote open."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, ConfigDict, Field

from controller.api.deps import FIELD, STAFF, SessionDep, SettingsDep, allow
from controller.db.models import User
from controller.services import lockers
from controller.services.auth import Role

router = APIRouter(prefix="/api/v1/lockers", tags=["lockers"])
Staff = Annotated[User, Depends(allow(*STAFF))]
Field_ = Annotated[User, Depends(allow(*FIELD))]
Admin = Annotated[User, Depends(allow(Role.ADMIN))]
# Agent endpoints admit kiosk users; the route then checks it is this locker's own user.
AgentOrAdmin = Annotated[User, Depends(allow(Role.ADMIN, Role.KIOSK))]


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_uid: str = Field(min_length=8, max_length=60)
    kind: str = Field(min_length=1, max_length=32)
    at: datetime
    payload: dict[str, Any] = Field(default_factory=dict)


class EventBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(max_length=500)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parcel_id: str = Field(min_length=1, max_length=64)


class ReissueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


class OpenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    board: int = Field(ge=0, le=255)
    lock: int = Field(ge=1, le=255)
    reason: str = Field(min_length=1, max_length=500)


@router.get("")
def list_lockers(session: SessionDep, _: Staff) -> list[dict[str, Any]]:
    """Every locker: online (synced within 120 s), position, compartment counts by state."""
    return lockers.list_lockers(session)


@router.get("/{locker_id}")
def get_locker(locker_id: str, session: SessionDep, _: Staff) -> dict[str, Any]:
    """One locker with each compartment's live state (free, reserved, occupied, open, faulty, offline)."""
    return lockers.locker_status(session, locker_id)


@router.post("/{locker_id}/parcels", status_code=status.HTTP_201_CREATED)
def assign_parcel(locker_id: str, body: AssignIn, session: SessionDep, settings: SettingsDep,
                  user: Field_) -> dict[str, Any]:
    """Assign a parcel to the locker and issue its one-time pickup code.

    The code is in this response only (send it to the recipient); the controller keeps its HMAC and
    the locker's agent receives that with its manifest.
    """
    with session.begin():
        assignment = lockers.assign_parcel(session, locker_id=locker_id, parcel_id=body.parcel_id,
                                           secret_key=settings.secret_key, ttl_h=settings.pickup_code_ttl_h,
                                           actor=user.name)
    return _code_view(assignment)


@router.post("/{locker_id}/parcels/{parcel_id}/code")
def reissue_code(locker_id: str, parcel_id: str, body: ReissueIn, session: SessionDep, settings: SettingsDep,
                 user: Field_) -> dict[str, Any]:
    """Issue a new pickup code for a parcel assigned to or held in the locker (audited with the reason).

    The code is in this response only (send it to the recipient). The locker's agent adopts it on its
    next sync; from then the old code no longer opens the door. A parcel already in the locker keeps
    its expiry. 404 if the parcel is not assigned to this locker, 409 if it was collected, returned or
    its code expired.
    """
    with session.begin():
        assignment = lockers.reissue_code(session, locker_id=locker_id, parcel_id=parcel_id, reason=body.reason,
                                          secret_key=settings.secret_key, ttl_h=settings.pickup_code_ttl_h,
                                          actor=user.name)
    return _code_view(assignment)


def _code_view(assignment: lockers.Assignment) -> dict[str, Any]:
    return {"parcel_id": assignment.parcel_id, "locker_id": assignment.locker_id, "code": assignment.code,
            "issued_at": assignment.issued_at.isoformat(), "expires_at": assignment.expires_at.isoformat(),
            "size": assignment.size}


@router.post("/{locker_id}/events")
def post_events(locker_id: str, body: EventBatchIn, request: Request, session: SessionDep,
                user: AgentOrAdmin) -> dict[str, Any]:
    """Agent sync: apply a batch of events, each once by ``event_uid`` (re-sent ones come back as duplicates)."""
    events = [lockers.AgentEvent(event_uid=e.event_uid, kind=e.kind, at=e.at, payload=e.payload)
              for e in body.events]
    with session.begin():
        lockers.get_locker(session, locker_id)
        lockers.check_agent_access(role=user.role, user_name=user.name, locker_id=locker_id)
        result = lockers.apply_events(session, locker_id=locker_id, events=events, actor=user.name)
    for alert in result.alerts:
        request.app.state.events.publish("alert", alert)
    if result.accepted:
        request.app.state.events.publish("locker", {"locker_id": locker_id, "events": len(result.accepted)})
    return {"accepted": result.accepted, "duplicates": result.duplicates, "rejected": result.rejected}


@router.get("/{locker_id}/manifest")
def get_manifest(locker_id: str, session: SessionDep, user: AgentOrAdmin) -> dict[str, Any]:
    """Parcels assigned to the locker with live codes (HMAC only), for the agent to hold before departure."""
    lockers.get_locker(session, locker_id)
    lockers.check_agent_access(role=user.role, user_name=user.name, locker_id=locker_id)
    return {"locker_id": locker_id, "parcels": lockers.manifest(session, locker_id)}


@router.get("/{locker_id}/commands")
def get_commands(locker_id: str, session: SessionDep, user: AgentOrAdmin) -> dict[str, Any]:
    """Admin commands the agent has not reported done yet."""
    lockers.get_locker(session, locker_id)
    lockers.check_agent_access(role=user.role, user_name=user.name, locker_id=locker_id)
    return {"commands": [lockers.command_view(c) for c in lockers.pending_commands(session, locker_id)]}


@router.post("/{locker_id}/open", status_code=status.HTTP_202_ACCEPTED)
def remote_open(locker_id: str, body: OpenIn, session: SessionDep, user: Admin) -> dict[str, Any]:
    """Admin: open one door remotely (audited); the agent runs it on its next sync, interlock permitting."""
    with session.begin():
        command = lockers.remote_open(session, locker_id=locker_id, board=body.board, lock=body.lock,
                                      reason=body.reason, actor=user.name)
        view = lockers.command_view(command)
    return view
