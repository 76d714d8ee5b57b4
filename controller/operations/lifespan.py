"""Start and stop the vehicle side of the controller with the app (one TaskGroup owns it all)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator

from fastapi import FastAPI

from controller.operations.executor import SortieExecutor
from controller.operations.vehicle_ops import VehicleOperations
from controller.settings import Settings
from controller.vehicle.manager import LinkManager


def default_instance_id() -> str:
    """A name for this controller that survives its own restarts on the same machine and data dir."""
    return f"{socket.gethostname()}:{os.getcwd()}"


@contextlib.asynccontextmanager
async def run_vehicle_executor(app: FastAPI, settings: Settings) -> AsyncIterator[SortieExecutor]:
    """Run the link manager and the executor for the app's lifetime; expose them on ``app.state``."""
    async with LinkManager(source_system=settings.mavlink_system_id, source_component=settings.mavlink_component_id,
                           link_timeout_s=settings.vehicle_heartbeat_timeout_s,
                           heartbeat_period_s=settings.gcs_heartbeat_period_s) as manager:
        executor = SortieExecutor(
            factory=app.state.session_factory, events=app.state.events, manager=manager,
            instance_id=settings.instance_id or default_instance_id(), tick_s=settings.executor_tick_s,
            approval_ttl_s=settings.approval_ttl_s, corridor_max_deviation_m=settings.corridor_max_deviation_m,
            corridor_rtl=settings.corridor_rtl_on_breach, gcs_sysid=settings.mavlink_system_id,
            lease_s=settings.executor_lease_s)
        app.state.executor = executor
        app.state.operations = VehicleOperations(app.state.session_factory, executor)
        app.state.link_health = lambda: {str(sysid): ("ok" if link.link_ok else "lost")
                                         for sysid, link in manager.links.items()}
        loop_task = asyncio.create_task(executor.serve(), name="sortie-executor")
        try:
            yield executor
        finally:
            loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop_task
            await executor.shutdown()
