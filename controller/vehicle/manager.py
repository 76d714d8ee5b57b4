"""A hub of vehicle links: several connections, several vehicles, each keyed by its system id.

One connection may carry several vehicles (a ``udpin:`` port that many autopilots send to), or one
connection per vehicle (``tcp:``). The hub sends one GCS HEARTBEAT per connection at 1 Hz for as long
as the connection is open, creates a :class:`VehicleLink` the first time a vehicle's heartbeat is
seen, and runs the links' watchdogs in its own TaskGroup.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from controller.vehicle.errors import NotReady, VehicleLinkError
from controller.vehicle.link import VehicleLink, is_vehicle_heartbeat, send_gcs_heartbeats
from controller.vehicle.router import MessageRouter
from controller.vehicle.transport import GCS_COMPONENT_ID, MavlinkConnection


class DuplicateSysid(VehicleLinkError):
    """Two connections report the same vehicle system id."""

    def __init__(self, sysid: int, urls: list[str]) -> None:
        self.sysid = sysid
        self.urls = urls
        super().__init__(f"system id {sysid} seen on {urls}")


class LinkManager:
    """Own connections and their vehicle links; use as ``async with LinkManager() as hub:``.

    Parameters
    ----------
    source_system, source_component: the controller's own MAVLink ids.
    link_timeout_s: heartbeat silence that marks a vehicle's link lost.
    heartbeat_period_s: GCS HEARTBEAT period per connection.
    stream_rate_hz: telemetry rate requested from each new vehicle (0: do not ask).
    """

    def __init__(self, *, source_system: int = 255, source_component: int = GCS_COMPONENT_ID,
                 link_timeout_s: float = 3.0, heartbeat_period_s: float = 1.0, stream_rate_hz: int = 4) -> None:
        self.source_system = source_system
        self.source_component = source_component
        self.link_timeout_s = link_timeout_s
        self.heartbeat_period_s = heartbeat_period_s
        self.stream_rate_hz = stream_rate_hz
        self.links: dict[int, VehicleLink] = {}
        self.connections: list[MavlinkConnection] = []
        self._link_url: dict[int, str] = {}
        self._tg: asyncio.TaskGroup | None = None
        self._new_link = asyncio.Event()

    async def __aenter__(self) -> LinkManager:
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._tg is not None
        for task in list(self._tasks):
            task.cancel()
        try:
            await self._tg.__aexit__(*exc)
        finally:
            for conn in self.connections:
                await conn.close()

    @property
    def _tasks(self) -> set[asyncio.Task[Any]]:
        return getattr(self._tg, "_tasks", set())

    async def connect(self, url: str, *, baud: int = 115200) -> MavlinkConnection:
        """Open ``url`` and start discovering the vehicles on it; ConnectionFailed on error."""
        if self._tg is None:
            raise RuntimeError("use 'async with LinkManager() as hub' before connect()")
        router = MessageRouter()
        conn = MavlinkConnection(url, source_system=self.source_system,
                                 source_component=self.source_component, baud=baud)

        def discover(msg: Any) -> None:
            sysid = msg.get_srcSystem()
            if sysid in self.links or not is_vehicle_heartbeat(msg) or msg.get_srcComponent() != 1:
                return
            link = VehicleLink(sender=conn, router=router, sysid=sysid, own_sysid=self.source_system,
                               own_compid=self.source_component, link_timeout_s=self.link_timeout_s,
                               send_gcs_heartbeat=False)
            self.links[sysid] = link
            self._link_url[sysid] = url
            link._on_message(msg)  # the heartbeat that revealed it counts
            if self.stream_rate_hz:
                link.request_streams(rate_hz=self.stream_rate_hz)
            assert self._tg is not None
            self._tg.create_task(link.run(), name=f"vehicle-{sysid}")
            self._new_link.set()

        router.add_listener(discover)
        await conn.open(router.dispatch)
        self.connections.append(conn)
        self._tg.create_task(send_gcs_heartbeats(conn, period_s=self.heartbeat_period_s),
                             name=f"gcs-heartbeat {url}")
        return conn

    async def wait_vehicle(self, sysid: int | None = None, *, timeout_s: float = 10.0) -> VehicleLink:
        """Return the link of vehicle ``sysid`` (None: the first vehicle) once its heartbeat is seen."""
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    if sysid is None and self.links:
                        return next(iter(self.links.values()))
                    if sysid is not None and sysid in self.links:
                        return self.links[sysid]
                    self._new_link.clear()
                    await self._new_link.wait()
        except TimeoutError:
            raise NotReady(f"heartbeat of vehicle {sysid if sysid is not None else '(any)'}", timeout_s) from None


@contextlib.asynccontextmanager
async def connect_vehicle(url: str, *, sysid: int | None = None, timeout_s: float = 10.0,
                          **manager_options: Any) -> AsyncIterator[VehicleLink]:
    """Connect to ``url`` and yield the link of vehicle ``sysid`` (first seen when None)."""
    async with LinkManager(**manager_options) as hub:
        await hub.connect(url)
        yield await hub.wait_vehicle(sysid, timeout_s=timeout_s)
