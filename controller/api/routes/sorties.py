"""Sorties: the approval queue and dispatcher actions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from controller.api.deps import STAFF, SessionDep, SettingsDep, allow
from controller.db.models import User
from controller.domain.sortie_states import SortieState
from controller.services import sortie_views, sorties
from controller.services.plan_checks import fence_check_for

router = APIRouter(prefix="/api/v1/sorties", tags=["sorties"])
Staff = Annotated[User, Depends(allow(*STAFF))]


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan_hash: str = Field(min_length=64, max_length=64, description="The plan hash the dispatcher reviewed")


class BatchApproveItem(ApproveIn):
    id: str = Field(min_length=1, max_length=64)


class BatchApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[BatchApproveItem] = Field(min_length=1, max_length=100)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flown: bool = Field(description="true: the whole mission was flown and the parcels left at their stops; "
                                    "false: the drone never left the pad")
    reason: str = Field(min_length=1, max_length=500, description="What was checked (who looked at the drone)")


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=500)


@router.get("")
def list_sorties(session: SessionDep, _: Staff,
                 status: Annotated[list[SortieState] | None, Query()] = None) -> list[dict[str, Any]]:
    """Sorties (filter with one or more ``status``), each with what a dispatcher needs to judge it."""
    return sortie_views.summaries(session, sorties.list_sorties(session, states=status or ()))


@router.get("/{sortie_id}")
def get_sortie(sortie_id: str, session: SessionDep, _: Staff) -> dict[str, Any]:
    """One sortie with its plan, parcels, transitions and flown track."""
    return sortie_views.detail(session, sorties.get_sortie(session, sortie_id))


@router.post("/{sortie_id}/approve")
def approve(sortie_id: str, body: ApproveIn, session: SessionDep, settings: SettingsDep,
            user: Staff) -> dict[str, Any]:
    """Approve the reviewed plan (409 ``plan_changed`` if it was re-planned meanwhile)."""
    with session.begin():
        sortie = sorties.approve(session, sortie_id=sortie_id, seen_plan_hash=body.plan_hash, actor=user.name,
                                 ttl_s=settings.approval_ttl_s, fence_check=fence_check_for(session))
    return sortie_views.summary(session, sortie)


@router.post("/approve")
def approve_batch(body: BatchApproveIn, session: SessionDep, settings: SettingsDep,
                  user: Staff) -> dict[str, Any]:
    """Approve several sorties; each succeeds or fails on its own and the result says which."""
    approved: list[str] = []
    failed: list[dict[str, str]] = []
    for item in body.items:
        try:
            with session.begin():
                sorties.approve(session, sortie_id=item.id, seen_plan_hash=item.plan_hash, actor=user.name,
                                ttl_s=settings.approval_ttl_s, fence_check=fence_check_for(session))
            approved.append(item.id)
        except sorties.DispatchError as exc:
            failed.append({"id": item.id, "code": exc.code, "message": exc.message})
    return {"approved": approved, "failed": failed}


@router.post("/{sortie_id}/reject")
def reject(sortie_id: str, body: ReasonIn, session: SessionDep, user: Staff) -> dict[str, Any]:
    """Reject a planned sortie with a reason; its parcels return to the scheduling pool."""
    with session.begin():
        sortie = sorties.reject(session, sortie_id=sortie_id, reason=body.reason, actor=user.name)
    return sortie_views.summary(session, sortie)


@router.post("/{sortie_id}/abort")
async def abort(sortie_id: str, body: ActionIn, request: Request, user: Staff) -> dict[str, Any]:
    """Abort: a flying sortie returns to launch (RTL); one not yet flying is cancelled."""
    return await request.app.state.operations.abort(sortie_id, actor=user.name, reason=body.reason or "aborted")


@router.post("/{sortie_id}/land")
async def land_now(sortie_id: str, body: ActionIn, request: Request, user: Staff) -> dict[str, Any]:
    """Land where the drone is now."""
    return await request.app.state.operations.land_now(sortie_id, actor=user.name, reason=body.reason or "land now")


@router.post("/{sortie_id}/continue")
async def continue_mission(sortie_id: str, body: ActionIn, request: Request, user: Staff) -> dict[str, Any]:
    """Resume the mission (AUTO) after a hold or a conformance alert."""
    return await request.app.state.operations.continue_mission(sortie_id, actor=user.name,
                                                               reason=body.reason or "continue")


@router.post("/{sortie_id}/resolve")
async def resolve(sortie_id: str, body: ResolveIn, request: Request, user: Staff) -> dict[str, Any]:
    """Settle a sortie the controller handed to an operator (alert ``launch_outcome_unknown``, or an
    executor that gave up): flown -> ``completed``, parcels delivered at their stops; not flown ->
    ``cancelled``, parcels back to the pool. 409 while a controller is driving the sortie."""
    return await request.app.state.operations.resolve(sortie_id, flown=body.flown, actor=user.name,
                                                      reason=body.reason)
