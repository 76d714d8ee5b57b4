"""Dispatcher actions that reach a flying vehicle (abort = RTL, land now, continue the mission)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from controller.domain.errors import Conflict
from controller.operations.executor import SortieExecutor
from controller.operations.ground import GroundOperations
from controller.services import audit, sortie_views, sorties
from controller.db.engine import transaction


class VehicleOperations(GroundOperations):
    """Route each action to the sortie's live runner; sorties still on the ground are cancelled."""

    def __init__(self, factory: sessionmaker[Session], executor: SortieExecutor) -> None:
        super().__init__(factory)
        self._executor = executor

    def _audit(self, sortie_id: str, action: str, actor: str, reason: str) -> dict[str, Any]:
        with transaction(self._factory) as session:
            audit.record(session, actor=actor, action=f"sortie.{action}", object_type="sortie", object_id=sortie_id,
                         details={"reason": reason})
            return sortie_views.summary(session, sorties.get_sortie(session, sortie_id))

    def _driven_here(self, sortie_id: str) -> bool:
        running = self._executor.running.get(sortie_id)
        return running is not None and not running.task.done()

    def _runner(self, sortie_id: str):  # type: ignore[no-untyped-def]
        runner = self._executor.runner_for(sortie_id)
        if runner is None:
            raise Conflict(f"sortie {sortie_id} is not being flown by this controller", sortie=sortie_id)
        return runner

    async def abort(self, sortie_id: str, *, actor: str, reason: str) -> dict[str, Any]:
        runner = self._executor.runner_for(sortie_id)
        if runner is None:
            return await super().abort(sortie_id, actor=actor, reason=reason)
        await runner.abort(reason, requested_by=actor)
        return await asyncio.to_thread(self._audit, sortie_id, "abort", actor, reason)

    async def land_now(self, sortie_id: str, *, actor: str, reason: str) -> dict[str, Any]:
        await self._runner(sortie_id).land_now(reason, requested_by=actor)
        return await asyncio.to_thread(self._audit, sortie_id, "land", actor, reason)

    async def continue_mission(self, sortie_id: str, *, actor: str, reason: str) -> dict[str, Any]:
        runner = self._runner(sortie_id)
        await runner.link.set_mode("AUTO")
        return await asyncio.to_thread(self._audit, sortie_id, "continue", actor, reason)
