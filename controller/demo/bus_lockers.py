"""The real locker stack on every simulated bus: a lock-board simulator on a pty, a locker agent on it
and its sync to the controller over loopback HTTP, as a bus would run them.

Per bus locker of the scenario, :class:`BusLockerFleet` runs (on the application's event loop):

- :class:`locker_driver.sim.BoardSimulator` (one 24-lock board) on a real pseudo-terminal, opened with
  :func:`locker_driver.open_bus`;
- a :class:`locker_driver.agent.service.LockerService` with its own SQLite store under the run's data
  directory, a :class:`SimulatedGps` fed from the simulated bus position and speed, and a
  :class:`RecipientInbox` notifier that keeps the pickup notices (the recipients' SMS);
- a :class:`locker_driver.agent.sync.SyncClient` signed in as the locker's kiosk user
  (``locker:<id>``), pushing the agent's events and pulling its manifest.

The network hands the fleet parcels to load (:meth:`BusLockerFleet.expect_deposit`, after assigning
them through :func:`controller.services.lockers.assign_parcel`); on each tick (:meth:`BusLockerFleet.tick`)
a simulated courier deposits them while the bus stands at the hub stop and closes the door, and a
simulated recipient opens the door with the code from the SMS while the bus stands at the village stop
and closes it. The controller learns all of it only from the agent's synced events.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from controller.db.engine import transaction
from controller.demo.timetable import Line
from controller.services import auth
from controller.services import lockers as locker_service
from controller.services.auth import Role
from locker_driver import LockerBus, open_bus
from locker_driver.agent.errors import AgentError
from locker_driver.agent.gps import SimulatedGps
from locker_driver.agent.notifier import PickupNotice
from locker_driver.agent.service import DEFAULT_LAYOUT, AgentConfig, LockerService, parse_layout
from locker_driver.agent.states import Held
from locker_driver.agent.store import Store
from locker_driver.agent.sync import SyncClient, SyncUnavailable
from locker_driver.errors import LockerError
from locker_driver.sim import BoardSimulator

log = logging.getLogger(__name__)
COURIER = "courier (simulated)"
FLEET_ACTOR = "simulated-network"


class SimClock:
    """The agent's :class:`~locker_driver.agent.clock.Clock` over the run's simulated clock."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now()


class RecipientInbox:
    """The recipients' phones: pickup notices from the agent, and the code the controller issued at
    assignment (an agent notice carries no code when the code came with the manifest)."""

    def __init__(self) -> None:
        self.notices: list[PickupNotice] = []
        self.assigned: dict[str, str] = {}

    def notify(self, notice: PickupNotice) -> None:
        self.notices.append(notice)

    def notified(self, parcel_id: str) -> PickupNotice | None:
        return next((n for n in reversed(self.notices) if n.parcel_id == parcel_id), None)

    def code_for(self, parcel_id: str) -> str | None:
        notice = self.notified(parcel_id)
        if notice is None:
            return None
        return notice.code or self.assigned.get(parcel_id)


@dataclass(kw_only=True)
class _Job:
    parcel_id: str
    hub: str
    village: str
    deposited_at: datetime | None = None
    come_after: datetime | None = None


@dataclass(kw_only=True)
class BusLocker:
    """One bus's locker: simulator, driver, agent, sync and its pending work."""

    locker_id: str
    line: Line
    sim: BoardSimulator
    bus: LockerBus
    store: Store
    gps: SimulatedGps
    inbox: RecipientInbox
    service: LockerService
    sync: SyncClient
    jobs: dict[str, _Job] = field(default_factory=dict)


@dataclass(kw_only=True)
class FleetStats:
    deposits: int = 0
    pickups: int = 0
    refused: int = 0  # operations the agent refused (bus moving, locker full, …) and retried later


class BusLockerFleet:
    """See the module docstring. ``start`` (async) before use, ``stop`` (async) at the end."""

    def __init__(self, *, factory: sessionmaker[Session], lines: dict[str, Line], controller_url: str,
                 secret_key: str, data_dir: Path, clock: Callable[[], datetime], tz: ZoneInfo, seed: int = 0,
                 pickup_delay_s: tuple[float, float] = (600.0, 5400.0), sync_interval_s: float = 0.5,
                 poll_s: float = 0.1) -> None:
        self._factory = factory
        self._lines = lines
        self._url = controller_url
        self._secret = secret_key
        self._dir = data_dir
        self._clock = SimClock(clock)
        self._tz = tz
        self._rng = random.Random(seed)
        self._pickup_delay_s = pickup_delay_s
        self._sync_interval_s = sync_interval_s
        self._poll_s = poll_s
        self.lockers: dict[str, BusLocker] = {}
        self.stats = FleetStats()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start a board simulator, agent and sync loop per bus locker; raise if any fails (all are stopped)."""
        try:
            for line in self._lines.values():
                if line.mode == "bus" and line.locker_id:
                    await self._start_one(line)
        except BaseException:
            await self.stop()
            raise

    async def _start_one(self, line: Line) -> None:
        locker_id = line.locker_id
        assert locker_id is not None
        with transaction(self._factory) as session:
            token = auth.rotate_token(session, name=locker_service.agent_user_name(locker_id), role=Role.KIOSK,
                                      secret_key=self._secret, actor=FLEET_ACTOR)
        code_key = locker_service.locker_code_key(self._secret, locker_id)
        sim = BoardSimulator(boards=(1,), locks=24, pulse_s=0.02).start()
        try:
            bus = open_bus(sim.port_path, timeout_s=0.25, attempts=2)
        except BaseException:
            sim.stop()
            raise
        folder = self._dir / "lockers"
        folder.mkdir(parents=True, exist_ok=True)
        store = Store(folder / f"{locker_id}.sqlite")
        store.install_layout(parse_layout(DEFAULT_LAYOUT))
        lat, lon, speed, _ = line.position(self._clock.now(), self._tz)
        gps = SimulatedGps(self._clock, speed_kmh=speed * 3.6, lat_deg=lat, lon_deg=lon)
        inbox = RecipientInbox()
        service = LockerService(config=AgentConfig(locker_id=locker_id, code_key=code_key, position_period_s=30.0),
                                bus=bus, store=store, clock=self._clock, gps=gps, notifier=inbox)
        sync = SyncClient(base_url=self._url, token=token, locker_id=locker_id, service=service, store=store,
                          clock=self._clock, interval_s=self._sync_interval_s, backoff_max_s=5.0)
        unit = BusLocker(locker_id=locker_id, line=line, sim=sim, bus=bus, store=store, gps=gps, inbox=inbox,
                         service=service, sync=sync)
        self.lockers[locker_id] = unit
        await service.reconcile()
        self._tasks.append(asyncio.create_task(service.run(self._stop, period_s=self._poll_s),
                                               name=f"locker-agent {locker_id}"))
        self._tasks.append(asyncio.create_task(sync.run(self._stop), name=f"locker-sync {locker_id}"))
        log.info("bus locker %s: agent on %s, syncing to %s", locker_id, sim.port_path, self._url)

    async def stop(self) -> None:
        """Stop the agents (after a last sync), then close buses, stores and simulators."""
        self._stop.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for unit in self.lockers.values():
            try:
                await unit.sync.sync_once()
            except SyncUnavailable as error:  # the controller may be gone already; report it
                log.warning("final sync of %s failed: %s", unit.locker_id, error)
            await unit.sync.aclose()
            unit.bus.close()
            unit.store.close()
            unit.sim.stop()
        self.lockers.clear()

    # --- work from the network ------------------------------------------------------------------

    def has(self, parcel_id: str) -> bool:
        return any(parcel_id in unit.jobs for unit in self.lockers.values())

    def expect_deposit(self, session: Session, *, locker_id: str, parcel_id: str, hub: str, village: str,
                       ttl_h: float, at: datetime) -> None:
        """Assign the parcel to the locker through the controller (code to the recipient) and queue
        the courier's deposit at ``hub``."""
        unit = self.lockers[locker_id]
        assignment = locker_service.assign_parcel(session, locker_id=locker_id, parcel_id=parcel_id,
                                                  secret_key=self._secret, ttl_h=ttl_h, actor=FLEET_ACTOR, at=at)
        unit.inbox.assigned[parcel_id] = assignment.code
        unit.jobs[parcel_id] = _Job(parcel_id=parcel_id, hub=hub, village=village)

    async def tick(self, now: datetime) -> list[str]:
        """Feed the GPS, then let couriers and recipients at a standing bus do their part; return the
        parcels picked up in this tick."""
        picked: list[str] = []
        for unit in self.lockers.values():
            lat, lon, speed, _ = unit.line.position(now, self._tz)
            unit.gps.set(speed_kmh=speed * 3.6, lat_deg=lat, lon_deg=lon)
            stop = unit.line.stopped_at(now, self._tz)
            if stop is None:
                continue
            for job in list(unit.jobs.values()):
                try:
                    if job.deposited_at is None and stop == job.hub:
                        await self._deposit(unit, job, now)
                    elif (job.deposited_at is not None and stop == job.village and now >= (job.come_after or now)
                          and await self._pick_up(unit, job)):
                        picked.append(job.parcel_id)
                except (AgentError, LockerError) as error:
                    self.stats.refused += 1
                    log.info("locker %s refused %s for %s: %s", unit.locker_id,
                             "pickup" if job.deposited_at else "deposit", job.parcel_id, error)
        return picked

    async def _deposit(self, unit: BusLocker, job: _Job, now: datetime) -> None:
        held = unit.store.parcel(job.parcel_id)
        if held is None or held.state is not Held.HELD:
            opened = await unit.service.deposit(courier=COURIER, parcel_id=job.parcel_id)
            unit.sim.close_door(opened.board, opened.lock)  # the courier shuts the door
            await unit.service.poll()  # the watchdog sees it closed: deposit complete, event recorded
        held = unit.store.parcel(job.parcel_id)
        if held is not None and held.state is Held.HELD:
            job.deposited_at = now
            job.come_after = now + timedelta(seconds=self._rng.uniform(*self._pickup_delay_s))
            self.stats.deposits += 1

    async def _pick_up(self, unit: BusLocker, job: _Job) -> bool:
        code = unit.inbox.code_for(job.parcel_id)
        if code is None:
            return False  # no SMS yet
        held = unit.store.parcel(job.parcel_id)
        if held is not None and held.state is Held.HELD:
            opened = await unit.service.pickup(code)
            unit.sim.close_door(opened.board, opened.lock)  # the recipient takes the parcel, shuts the door
            await unit.service.poll()
        held = unit.store.parcel(job.parcel_id)
        if held is not None and held.state is Held.PICKED_UP:
            del unit.jobs[job.parcel_id]
            self.stats.pickups += 1
            return True
        return False
