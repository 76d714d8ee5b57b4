"""Sorties: persistence, the state machine with stored transitions, and the approval workflow.

Safety rules enforced here (not in the API): a sortie is approved against the exact plan hash the
dispatcher saw; any change to the plan voids the approval; approvals expire; nothing may be uploaded
unless the approval is current and the plan's mission stays inside its fence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.db.models import Parcel, Sortie, SortieParcel, SortieTransition
from controller.db.types import utc_now
from controller.domain.errors import Conflict, DispatchError, NotFound
from controller.domain.parcel_states import ParcelState
from controller.domain.plan_hash import plan_hash
from controller.domain.sortie_states import FLYING, SORTIE_TRANSITIONS, SortieState
from controller.services import audit, parcels

S = SortieState


class PlanChanged(DispatchError):
    """The dispatcher approved a plan that is no longer the current one."""

    code = "plan_changed"
    http_status = 409


class UploadNotAllowed(DispatchError):
    """A safety gate refused the upload (no current approval, expired, fence check failed)."""

    code = "upload_not_allowed"
    http_status = 409


FenceCheck = Callable[[dict[str, Any]], str | None]
"""Returns None when the plan's mission stays inside its fence, else the reason it does not."""


def get_sortie(session: Session, sortie_id: str, *, for_update: bool = False) -> Sortie:
    query = select(Sortie).where(Sortie.id == sortie_id)
    if for_update:
        query = query.with_for_update()
    sortie = session.scalar(query)
    if sortie is None:
        raise NotFound("sortie", sortie_id)
    return sortie


def create_planned(session: Session, *, sortie_id: str, drone_id: str, origin_pad: str, stops: Sequence[str],
                   plan: dict[str, Any], drops: dict[str, str], payload_kg: float, energy_wh: float,
                   battery_wh: float, altitude_m: float, depart_at: datetime, arrive_at: datetime,
                   geofence_version: int | None, actor: str) -> Sortie:
    """Persist a scheduled sortie as ``planned`` and mark its parcels ``scheduled``.

    ``drops`` maps each parcel id to the pad where it leaves the drone.
    """
    sortie = Sortie(id=sortie_id, drone_id=drone_id, origin_pad_id=origin_pad, stops=list(stops),
                    state=S.PLANNED.value, plan=plan, plan_hash=plan_hash(plan), payload_kg=payload_kg,
                    energy_wh=energy_wh, battery_wh=battery_wh, altitude_m=altitude_m, depart_at=depart_at,
                    arrive_at=arrive_at, geofence_version=geofence_version)
    session.add(sortie)
    session.flush()
    session.add(SortieTransition(sortie_id=sortie_id, from_state=None, to_state=S.PLANNED.value, actor=actor,
                                 reason="scheduled"))
    for parcel_id, pad in drops.items():
        session.add(SortieParcel(sortie_id=sortie_id, parcel_id=parcel_id, drop_pad_id=pad))
        parcels.transition_parcel(session, parcel_id=parcel_id, to_state=ParcelState.SCHEDULED, actor=actor,
                                  reason=f"sortie {sortie_id}", sortie_id=sortie_id)
    audit.record(session, actor=actor, action="sortie.plan", object_type="sortie", object_id=sortie_id,
                 details={"drone": drone_id, "stops": list(stops), "plan_hash": sortie.plan_hash})
    return sortie


def transition(session: Session, *, sortie: Sortie, to_state: SortieState, actor: str, reason: str = "",
               data: dict[str, Any] | None = None, at: datetime | None = None) -> SortieTransition:
    """Move ``sortie`` to ``to_state`` if the table allows it and store who/why."""
    from_state = S(sortie.state)
    SORTIE_TRANSITIONS.check(sortie.id, from_state, to_state)
    at = at or utc_now()
    sortie.state = to_state.value
    sortie.state_changed_at = at
    sortie.state_reason = reason
    row = SortieTransition(sortie_id=sortie.id, at=at, from_state=from_state.value, to_state=to_state.value,
                           actor=actor, reason=reason, data=data or {})
    session.add(row)
    audit.record(session, actor=actor, action="sortie.transition", object_type="sortie", object_id=sortie.id,
                 details={"from": from_state.value, "to": to_state.value, "reason": reason})
    session.flush()
    return row


def parcel_ids(session: Session, sortie_id: str) -> list[str]:
    rows = session.scalars(select(SortieParcel.parcel_id).where(SortieParcel.sortie_id == sortie_id)
                           .order_by(SortieParcel.parcel_id))
    return list(rows)


def approve(session: Session, *, sortie_id: str, seen_plan_hash: str, actor: str, ttl_s: float,
            fence_check: FenceCheck, now: datetime | None = None) -> Sortie:
    """Approve the plan the dispatcher saw (``seen_plan_hash``); it must still be the current plan.

    Raises PlanChanged when the plan moved on, UploadNotAllowed when the fence check fails,
    InvalidTransition when the sortie is not ``planned``.
    """
    now = now or utc_now()
    sortie = get_sortie(session, sortie_id, for_update=True)
    SORTIE_TRANSITIONS.check(sortie.id, S(sortie.state), S.APPROVED)
    if seen_plan_hash != sortie.plan_hash:
        raise PlanChanged(f"sortie {sortie_id} was re-planned since you looked at it; review the new plan",
                          sortie=sortie_id, seen=seen_plan_hash, current=sortie.plan_hash)
    problem = fence_check(sortie.plan)
    if problem:
        raise UploadNotAllowed(f"sortie {sortie_id} fails the fence check: {problem}", sortie=sortie_id)
    sortie.approved_by = actor
    sortie.approved_at = now
    sortie.approved_plan_hash = sortie.plan_hash
    sortie.approval_expires_at = now + timedelta(seconds=ttl_s)
    sortie.void_reason = None
    transition(session, sortie=sortie, to_state=S.APPROVED, actor=actor, reason="approved by dispatcher",
               data={"plan_hash": sortie.plan_hash, "expires_at": sortie.approval_expires_at.isoformat()}, at=now)
    return sortie


def reject(session: Session, *, sortie_id: str, reason: str, actor: str) -> Sortie:
    """Reject a planned sortie; its parcels go back to ``received`` to be scheduled again."""
    if not reason.strip():
        raise Conflict("a rejection needs a reason", field="reason")
    sortie = get_sortie(session, sortie_id, for_update=True)
    transition(session, sortie=sortie, to_state=S.REJECTED, actor=actor, reason=reason)
    release_parcels(session, sortie, actor=actor, reason=f"sortie {sortie_id} rejected: {reason}")
    return sortie


def void_approval(session: Session, *, sortie: Sortie, reason: str, actor: str) -> None:
    """Return an approved sortie to ``planned`` and say why (plan changed, expired, forecast over limit)."""
    sortie.approved_by = None
    sortie.approved_at = None
    sortie.approved_plan_hash = None
    sortie.approval_expires_at = None
    sortie.void_reason = reason
    transition(session, sortie=sortie, to_state=S.PLANNED, actor=actor, reason=f"approval void: {reason}")


def replace_plan(session: Session, *, sortie_id: str, plan: dict[str, Any], reason: str, actor: str) -> Sortie:
    """Store a new plan for a sortie not yet uploaded; an approval of the old plan becomes void."""
    sortie = get_sortie(session, sortie_id, for_update=True)
    if S(sortie.state) not in (S.PLANNED, S.APPROVED):
        raise Conflict(f"sortie {sortie_id} is {sortie.state}; its plan can no longer change", state=sortie.state)
    new_hash = plan_hash(plan)
    if new_hash == sortie.plan_hash:
        return sortie
    sortie.plan = plan
    sortie.plan_hash = new_hash
    audit.record(session, actor=actor, action="sortie.replan", object_type="sortie", object_id=sortie_id,
                 details={"reason": reason, "plan_hash": new_hash})
    if sortie.state == S.APPROVED.value:
        void_approval(session, sortie=sortie, reason=reason, actor=actor)
    else:
        sortie.void_reason = reason
    return sortie


def expire_approvals(session: Session, *, now: datetime | None = None, actor: str = "approval-expiry") -> list[str]:
    """Void every approval past its expiry time; return the sortie ids affected."""
    now = now or utc_now()
    expired = session.scalars(select(Sortie).where(Sortie.state == S.APPROVED.value,
                                                   Sortie.approval_expires_at < now).with_for_update())
    ids = []
    for sortie in expired:
        void_approval(session, sortie=sortie, reason="approval expired", actor=actor)
        ids.append(sortie.id)
    return ids


def check_upload_allowed(sortie: Sortie, *, fence_check: FenceCheck, now: datetime | None = None) -> None:
    """The last gate before anything goes to a vehicle. Raises UploadNotAllowed with the reason."""
    now = now or utc_now()
    if sortie.state != S.APPROVED.value:
        raise UploadNotAllowed(f"sortie {sortie.id} is {sortie.state}, not approved", sortie=sortie.id)
    if sortie.approved_plan_hash != sortie.plan_hash or sortie.approved_plan_hash != plan_hash(sortie.plan):
        raise UploadNotAllowed(f"sortie {sortie.id}: the approved plan is not the current plan", sortie=sortie.id)
    if sortie.approval_expires_at is None or sortie.approval_expires_at <= now:
        raise UploadNotAllowed(f"sortie {sortie.id}: the approval has expired", sortie=sortie.id)
    problem = fence_check(sortie.plan)
    if problem:
        raise UploadNotAllowed(f"sortie {sortie.id} fails the fence check: {problem}", sortie=sortie.id)


def release_parcels(session: Session, sortie: Sortie, *, actor: str, reason: str) -> None:
    for parcel_id in parcel_ids(session, sortie.id):
        parcel = session.get(Parcel, parcel_id)
        if parcel is not None and parcel.state == ParcelState.SCHEDULED.value and parcel.sortie_id == sortie.id:
            parcels.transition_parcel(session, parcel_id=parcel_id, to_state=ParcelState.RECEIVED, actor=actor,
                                      reason=reason)
            parcel.sortie_id = None


def list_sorties(session: Session, *, states: Sequence[SortieState] = (), limit: int = 200) -> list[Sortie]:
    query = select(Sortie).order_by(Sortie.depart_at, Sortie.id).limit(limit)
    if states:
        query = query.where(Sortie.state.in_([s.value for s in states]))
    return list(session.scalars(query))


def was_seen_flying(session: Session, sortie_id: str) -> bool:
    """True when the sortie's history has a flight state (it certainly took off)."""
    return session.scalar(select(SortieTransition.id).where(
        SortieTransition.sortie_id == sortie_id,
        SortieTransition.to_state.in_([s.value for s in FLYING])).limit(1)) is not None


def transitions(session: Session, sortie_id: str) -> list[SortieTransition]:
    query = select(SortieTransition).where(SortieTransition.sortie_id == sortie_id).order_by(SortieTransition.id)
    return list(session.scalars(query))
