"""Dispatcher actions on sorties that are not in the air (no vehicle link needed)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from controller.db.engine import transaction
from controller.db.types import utc_now
from controller.domain.errors import Conflict
from controller.domain.sortie_states import SortieState
from controller.operations.resolution import resolve_sortie
from controller.services import sortie_views, sorties

NOT_FLYING = (SortieState.PLANNED, SortieState.APPROVED, SortieState.UPLOAD_FAILED, SortieState.PREFLIGHT_FAILED)


class GroundOperations:
    """Abort = cancel for a sortie still on the ground; flying sorties need the vehicle executor."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    def cancel(self, sortie_id: str, *, actor: str, reason: str) -> dict[str, Any]:
        with transaction(self._factory) as session:
            sortie = sorties.get_sortie(session, sortie_id, for_update=True)
            if sortie.state not in {s.value for s in NOT_FLYING}:
                raise Conflict(f"sortie {sortie_id} is {sortie.state} and no vehicle link is attached",
                               state=sortie.state)
            sorties.transition(session, sortie=sortie, to_state=SortieState.CANCELLED, actor=actor, reason=reason)
            sorties.release_parcels(session, sortie, actor=actor, reason=f"sortie {sortie_id} cancelled: {reason}")
            return sortie_views.summary(session, sortie)

    async def abort(self, sortie_id: str, *, actor: str, reason: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.cancel, sortie_id, actor=actor, reason=reason)

    async def land_now(self, sortie_id: str, *, actor: str, reason: str) -> dict[str, Any]:
        raise Conflict(f"sortie {sortie_id}: no vehicle link is attached to land it", sortie=sortie_id)

    async def continue_mission(self, sortie_id: str, *, actor: str, reason: str) -> dict[str, Any]:
        raise Conflict(f"sortie {sortie_id}: no vehicle link is attached", sortie=sortie_id)

    def _driven_here(self, sortie_id: str) -> bool:
        return False

    async def resolve(self, sortie_id: str, *, flown: bool, actor: str, reason: str) -> dict[str, Any]:
        """Settle a sortie no controller drives as flown or not flown (see controller.operations.resolution)."""
        driven_here = self._driven_here(sortie_id)

        def settle() -> dict[str, Any]:
            with transaction(self._factory) as session:
                sortie = resolve_sortie(session, sortie_id=sortie_id, flown=flown, actor=actor, reason=reason,
                                        now=utc_now(), driven_here=driven_here)
                return sortie_views.summary(session, sortie)

        return await asyncio.to_thread(settle)
