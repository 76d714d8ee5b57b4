"""An operator settles a sortie the controller cannot settle from the vehicle: flown, or not flown.

The executor hands a sortie to an operator when the vehicle is down and nothing it reports shows
whether it flew (:class:`controller.operations.executor.LaunchOutcomeUnknown`), or after it gave up
driving it. Someone then looks at the drone and the parcels and says which it was:

* ``flown`` — the whole mission was flown: the parcels left the drone at their stops and the drone is
  where the mission ends (the last point of its route). A parcel found elsewhere is corrected with a
  scan afterwards, like any other.
* not flown — the drone never left the pad: the sortie is ``cancelled`` (through ``aborted``, which
  records who decided) and its parcels go back to the scheduling pool.

Only a sortie nobody drives can be settled: no live task on this controller, and no unexpired lease
of another one. The decision, its reason and its author are in the sortie's transitions and the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from controller.db.models import Sortie
from controller.domain.errors import Conflict
from controller.domain.sortie_states import ACTIVE, SortieState
from controller.operations import outcomes
from controller.services import audit, sorties

S = SortieState


def resolve_sortie(session: Session, *, sortie_id: str, flown: bool, actor: str, reason: str, now: datetime,
                   driven_here: bool) -> Sortie:
    """Settle an active sortie that no controller drives as flown or not flown (see the module docstring).

    ``driven_here``: this controller has a live task for it. Raises :class:`Conflict` when the sortie is
    not active, is being driven (here, or under another controller's unexpired lease), or when "not
    flown" contradicts its recorded history (it was seen in the air).
    """
    sortie = sorties.get_sortie(session, sortie_id, for_update=True)
    state = S(sortie.state)
    if state not in ACTIVE:
        raise Conflict(f"sortie {sortie_id} is {state.value}: nothing to resolve", state=state.value)
    lease_live = sortie.lease_expires_at is not None and sortie.lease_expires_at > now
    if driven_here or (sortie.lease_owner is not None and lease_live):
        raise Conflict(f"sortie {sortie_id} is being driven by controller {sortie.lease_owner}; abort it instead",
                       state=state.value, lease_owner=sortie.lease_owner)
    seen_flying = sorties.was_seen_flying(session, sortie_id)
    what = "flown" if flown else "not flown"
    if flown:
        _settle_flown(session, sortie, state, actor=actor, reason=reason, now=now)
    else:
        if seen_flying:
            raise Conflict(f"sortie {sortie_id} was recorded in the air; it cannot be resolved as not flown",
                           state=state.value)
        if state is not S.ABORTED:
            sorties.transition(session, sortie=sortie, to_state=S.ABORTED, actor=actor,
                               reason=f"resolved as not flown: {reason}", at=now)
        sorties.transition(session, sortie=sortie, to_state=S.CANCELLED, actor=actor,
                           reason=f"the vehicle never left the pad (resolved by {actor})", at=now)
        outcomes.sortie_never_flew(session, sortie=sortie, actor=actor, reason=f"resolved as not flown: {reason}")
    sortie.lease_owner = None
    sortie.lease_expires_at = None
    audit.record(session, actor=actor, action="sortie.resolve", object_type="sortie", object_id=sortie_id,
                 details={"outcome": what, "reason": reason, "from_state": state.value})
    return sortie


def _settle_flown(session: Session, sortie: Sortie, state: SortieState, *, actor: str, reason: str,
                  now: datetime) -> None:
    if state is S.UPLOADING:
        raise Conflict(f"sortie {sortie.id} was still uploading: it cannot have been launched", state=state.value)
    if state in (S.READY, S.LINK_LOST):
        sorties.transition(session, sortie=sortie, to_state=S.AIRBORNE, actor=actor,
                           reason=f"resolved as flown: {reason}", at=now)
    outcomes.parcels_took_off(session, sortie=sortie, actor=actor)
    for pad_id in dict.fromkeys(sortie.stops):  # each stop once, in flight order
        outcomes.parcels_dropped_at(session, sortie=sortie, pad_id=pad_id, actor=actor)
    end = _route_end(sortie.plan)
    sorties.transition(session, sortie=sortie, to_state=S.COMPLETED, actor=actor,
                       reason=f"resolved as flown by {actor}: {reason}", at=now)
    landed = outcomes.sortie_landed(session, sortie=sortie, lat_deg=end[0] if end else None,
                                    lon_deg=end[1] if end else None, battery_pct=None, actor=actor)
    sortie.state_reason = f"resolved as flown by {actor}; landed at {landed['landed_pad'] or 'no pad'}"


def _route_end(plan: dict[str, Any] | None) -> tuple[float, float] | None:
    route = (plan or {}).get("route") or []
    return (float(route[-1][0]), float(route[-1][1])) if route else None
