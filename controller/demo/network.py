"""The simulated Shengsi network around a running controller (``dispatch up`` and ``dispatch demo``).

One :class:`SimulatedNetwork` owns, in simulated time (:mod:`controller.clock`):

- a simulated ArduCopter per drone at its current pad (the project's ``SimVehicle``, or real SITL
  processes when ``ARDUPILOT_SITL`` points at an ``arducopter`` binary), its URL stored on the drone
  so the controller's executor flies approved sorties on it;
- a seeded parcel trickle in both directions (:mod:`controller.demo.trickle`);
- a scheduling run every ``schedule_every_s`` simulated seconds (``run_schedule``);
- optionally the operator's ``--auto-approve``: planned sorties approved with the dispatcher's own
  service call, one per idle drone, actor ``auto-approve (operator flag)``;
- ferries and buses on their timetable: parcels on surface legs board at departure and arrive at
  the destination call; bus lockers move along their line (``Locker.lat_deg/lon_deg/speed_m_s`` and
  ``bus`` events);
- last mile: parcels at a hub whose destination is a village on a bus line are assigned to the bus
  locker through the controller (a one-time code for the recipient); with a
  :class:`~controller.demo.bus_lockers.BusLockerFleet` a simulated courier deposits them through the
  bus's real locker agent while the bus stands at the hub and the recipient collects with the code
  while it stands at the village, and the controller's parcel states come from the agent's synced
  events. Without a fleet (the real stack failed to start) the stand-in :mod:`controller.demo.lockers`
  writes the locker tables directly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from controller.clock import ScaledClock
from controller.db.engine import make_engine, make_session_factory, transaction
from controller.db.models import Drone, Locker, Pad, Parcel, Sortie, SurfaceLeg, TransportLine
from controller.demo import lockers
from controller.demo.bus_lockers import BusLockerFleet
from controller.demo.timetable import Line
from controller.demo.trickle import ParcelTrickle, TrickleRates
from controller.domain.errors import DispatchError
from controller.domain.parcel_states import ParcelState
from controller.domain.sortie_states import ACTIVE, SortieState
from controller.events import EventBus
from controller.scenario import Scenario
from controller.scheduling import Wind
from controller.services import audit, parcels, sorties
from controller.services.plan_checks import fence_check_for
from controller.services.scheduling_run import ScheduleRequest, run_schedule

log = logging.getLogger(__name__)
P = ParcelState
AUTO_APPROVE_ACTOR = "auto-approve (operator flag)"
NETWORK_ACTOR = "simulated-network"
COURIER_ACTOR = "courier (simulated)"
RECIPIENT_ACTOR = "recipient (simulated)"


class Vehicle(Protocol):
    url: str

    def stop(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """How the simulated day runs.

    Parameters
    ----------
    speedup: simulated seconds per wall second (vehicles run at the same rate).
    wind_m_s, wind_from_deg: the constant wind forecast handed to the scheduler.
    seed: seeds the parcel trickle, the scheduler and the recipients.
    schedule_every_s: simulated seconds between scheduling runs.
    auto_approve: approve planned sorties without a dispatcher (the operator asked for it).
    approval_ttl_s: approval lifetime given to auto-approvals (the controller's setting).
    rates: the parcel trickle.
    parcel_prefix: parcel ids start with this (unique per run).
    approve_ahead_s: auto-approve sorties departing within this many simulated seconds.
    pickup_delay_s: a recipient comes this long (uniform range, simulated s) after being notified.
    """

    speedup: float = 1.0
    wind_m_s: float = 4.0
    wind_from_deg: float = 90.0
    seed: int = 0
    schedule_every_s: float = 900.0
    auto_approve: bool = False
    approval_ttl_s: float = 1800.0
    rates: TrickleRates = TrickleRates()
    parcel_prefix: str = "DM"
    approve_ahead_s: float = 600.0
    pickup_delay_s: tuple[float, float] = (600.0, 5400.0)
    gps_warmup_s: float = 5.0
    pickup_code_ttl_h: float = 72.0


@dataclass(kw_only=True)
class _Ride:
    parcel_id: str
    line_id: str
    mode: str
    destination: str
    arrive_at: datetime
    locker_id: str | None = None


@dataclass(kw_only=True)
class NetworkStats:
    """Counters of what the simulated network did (the report reads the database, not these)."""

    parcels_created: int = 0
    schedule_runs: int = 0
    auto_approved: int = 0
    boarded: Counter[str] = field(default_factory=Counter)
    pickups: int = 0


class SimulatedNetwork:
    """See the module docstring. Drive it with :meth:`run` (async) or :meth:`step` (one tick)."""

    def __init__(self, *, factory: sessionmaker[Session], scenario: Scenario, clock: ScaledClock,
                 config: NetworkConfig, secret_key: str, events: EventBus | None = None,
                 vehicle_factory: Callable[[Drone, Pad, float], Vehicle] | None = None,
                 fleet: BusLockerFleet | None = None) -> None:
        self._factory = factory
        self._scenario = scenario
        self._clock = clock
        self.config = config
        self._secret = secret_key
        self._events = events
        self._fleet = fleet
        self._tz = ZoneInfo(scenario.timezone)
        self._rng = random.Random(config.seed)
        self._trickle = ParcelTrickle(scenario=scenario, seed=config.seed, prefix=config.parcel_prefix,
                                      rates=config.rates)
        self._vehicle_factory = vehicle_factory or default_vehicle_factory(gps_warmup_s=config.gps_warmup_s)
        self.vehicles: dict[str, Vehicle] = {}
        self._lines: dict[str, Line] = {}
        self._rides: dict[str, _Ride] = {}
        self._pickups: dict[str, tuple[datetime, str | None]] = {}  # parcel -> (when, code or None)
        self._next_schedule_at: datetime | None = None
        self.stats = NetworkStats()
        self.accepting = True  # new parcels and scheduling runs (off while a demo winds down)

    # --- life cycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Load the lines, start a vehicle per drone at its pad, create the morning backlog."""
        with self._factory() as session:
            for row in session.scalars(select(TransportLine)):
                self._lines[row.id] = Line.from_definition(line_id=row.id, mode=row.mode, definition=row.definition)
            drones = [(d, session.get(Pad, d.current_pad_id or d.home_pad_id)) for d in
                      session.scalars(select(Drone).order_by(Drone.id))]
            session.expunge_all()
        try:
            for drone, pad in drones:
                vehicle = self._vehicle_factory(drone, pad, self.config.speedup)  # type: ignore[arg-type]
                self.vehicles[drone.id] = vehicle
                with transaction(self._factory) as session:
                    session.execute(update(Drone).where(Drone.id == drone.id).values(
                        connection_url=vehicle.url, current_pad_id=pad.id))  # type: ignore[union-attr]
        except BaseException:
            self.stop()
            raise
        now = self._clock()
        with transaction(self._factory) as session:
            if self.config.auto_approve:
                audit.record(session, actor=AUTO_APPROVE_ACTOR, action="sortie.auto_approve_enabled",
                             object_type="controller", object_id="demo",
                             details={"reason": "operator passed --auto-approve", "ttl_s": self.config.approval_ttl_s})
            for data in self._trickle.backlog(now):
                parcels.create_parcel(session, data=data, actor=NETWORK_ACTOR, at=now)
                self.stats.parcels_created += 1
        self._trickle.start(now)
        self._next_schedule_at = now

    def stop(self) -> None:
        """Stop every vehicle and forget their URLs (the drones are offline without the simulation)."""
        for vehicle in self.vehicles.values():
            try:
                vehicle.stop()
            except Exception:  # noqa: BLE001 - stop the others; report this one
                log.exception("stopping a simulated vehicle failed")
        if self.vehicles:
            with transaction(self._factory) as session:
                session.execute(update(Drone).where(Drone.id.in_(list(self.vehicles))).values(connection_url=None))
        self.vehicles.clear()

    async def run(self, *, until: datetime | None = None, tick_wall_s: float | None = None,
                  on_tick: Callable[[datetime], None] | None = None) -> None:
        """Step until simulated time ``until`` (forever when None), one tick per ``tick_wall_s`` wall seconds."""
        tick = tick_wall_s or min(1.0, max(0.1, 30.0 / self.config.speedup))
        while True:
            now = await self.advance()
            if on_tick:
                on_tick(now)
            if until is not None and now >= until:
                return
            await asyncio.sleep(tick)

    # --- one tick ------------------------------------------------------------------------------------

    async def advance(self) -> datetime:
        """One tick: :meth:`step` (in a thread), then the bus lockers' couriers and recipients."""
        now = await asyncio.to_thread(self.step)
        if self._fleet is not None:
            for parcel_id in await self._fleet.tick(now):
                self.stats.pickups += 1
                self._publish("parcel", {"id": parcel_id, "state": P.PICKED_UP.value})
        return now

    def step(self) -> datetime:
        """Advance everything to the clock's current time; return that time."""
        now = self._clock()
        if self.accepting:
            self._intake(now)
            if self._next_schedule_at is not None and now >= self._next_schedule_at:
                self._schedule(now)
                self._next_schedule_at = now + timedelta(seconds=self.config.schedule_every_s)
            if self.config.auto_approve:
                self._auto_approve(now)
        self._surface(now)
        self._last_mile(now)
        self._collect(now)
        self._buses(now)
        self._ground_crew()
        return now

    def _ground_crew(self) -> None:
        """Swap the battery of every drone that is down, disarmed and not flying a sortie, as the pad
        crew does during the turnaround the scheduler plans (real SITL processes keep their pack)."""
        with self._factory() as session:
            busy = set(session.scalars(select(Sortie.drone_id).where(Sortie.state.in_([s.value for s in ACTIVE]))))
        swapped = []
        for drone_id, vehicle in self.vehicles.items():
            replace = getattr(vehicle, "replace_battery", None)
            if replace is None or drone_id in busy:
                continue
            snap = vehicle.snapshot()
            if not snap.armed and snap.landed and snap.battery_remaining_pct < 95.0 and replace():
                swapped.append(drone_id)
        if swapped:
            with transaction(self._factory) as session:
                session.execute(update(Drone).where(Drone.id.in_(swapped)).values(battery_pct=100.0))

    def _intake(self, now: datetime) -> None:
        arrivals = self._trickle.due(now)
        if not arrivals:
            return
        with transaction(self._factory) as session:
            for data in arrivals:
                parcels.create_parcel(session, data=data, actor=NETWORK_ACTOR, at=data.ready_at)
        self.stats.parcels_created += len(arrivals)
        for data in arrivals:
            self._publish("parcel", {"id": data.id, "state": P.RECEIVED.value, "origin": data.origin,
                                     "destination": data.destination})

    def _schedule(self, now: datetime) -> None:
        request = ScheduleRequest(at=now, wind=Wind(speed_m_s=self.config.wind_m_s,
                                                     from_deg=self.config.wind_from_deg),
                                  seed=self.config.seed)
        with transaction(self._factory) as session:
            doc = run_schedule(session, scenario=self._scenario, request=request, actor=NETWORK_ACTOR)
        self.stats.schedule_runs += 1
        self._publish("schedule", {"sorties": len(doc["sorties"]), "surface_legs": len(doc["surface_legs"]),
                                   "unassigned": len(doc["unassigned"])})

    def _auto_approve(self, now: datetime) -> None:
        """Approve the next planned sortie of every idle drone, as a dispatcher would in the console."""
        busy_states = [S.value for S in ACTIVE] + [SortieState.APPROVED.value]
        with transaction(self._factory) as session:
            busy = set(session.scalars(select(Sortie.drone_id).where(Sortie.state.in_(busy_states))))
            planned = session.scalars(select(Sortie).where(
                Sortie.state == SortieState.PLANNED.value,
                Sortie.depart_at <= now + timedelta(seconds=self.config.approve_ahead_s)).order_by(Sortie.depart_at))
            fence_check = fence_check_for(session)
            for sortie in list(planned):
                if sortie.drone_id in busy:
                    continue
                busy.add(sortie.drone_id)
                drone = session.get(Drone, sortie.drone_id)
                if drone is not None and drone.current_pad_id not in (None, sortie.origin_pad_id):
                    sorties.reject(session, sortie_id=sortie.id, actor=AUTO_APPROVE_ACTOR,
                                   reason=f"drone {drone.id} is at {drone.current_pad_id}, "
                                          f"not at the sortie's origin {sortie.origin_pad_id}")
                    continue
                try:
                    with session.begin_nested():
                        sorties.approve(session, sortie_id=sortie.id, seen_plan_hash=sortie.plan_hash,
                                        actor=AUTO_APPROVE_ACTOR, ttl_s=self.config.approval_ttl_s,
                                        fence_check=fence_check)
                except DispatchError as exc:
                    log.warning("auto-approve refused %s: %s", sortie.id, exc)
                    continue
                self.stats.auto_approved += 1
                self._publish("sortie", {"id": sortie.id, "state": SortieState.APPROVED.value,
                                         "drone_id": sortie.drone_id, "actor": AUTO_APPROVE_ACTOR})

    # --- ferries and buses ---------------------------------------------------------------------------

    def _surface(self, now: datetime) -> None:
        """Board parcels on surface legs that departed; land rides that arrived."""
        with transaction(self._factory) as session:
            legs = session.scalars(select(SurfaceLeg).where(SurfaceLeg.depart_at <= now,
                                                            SurfaceLeg.depart_at >= now - timedelta(days=1)))
            for leg in list(legs):
                line = self._lines[leg.line_id]
                for parcel_id in leg.parcel_ids:
                    if parcel_id in self._rides or (self._fleet is not None and self._fleet.has(parcel_id)):
                        continue
                    parcel = session.get(Parcel, parcel_id)
                    if parcel is None or parcel.state != P.SCHEDULED.value:
                        continue
                    here = parcel.location_id or parcel.origin_id
                    if leg.id.startswith("C"):
                        # First mile of a bus + drone journey: to the hub the sortie leaves from.
                        if parcel.sortie_id is None:
                            continue
                        sortie = session.get(Sortie, parcel.sortie_id)
                        pad = session.get(Pad, sortie.origin_pad_id) if sortie else None
                        destination = pad.service_point_id if pad else None
                    else:
                        destination = parcel.destination_id
                    if destination is None or not line.serves(here, destination):
                        continue
                    self._board(session, parcel, line, here, destination, depart_at=leg.depart_at,
                                reason=f"{leg.mode} {leg.line_id} left {here} ({leg.reason})")
            for ride in sorted((r for r in self._rides.values() if r.arrive_at <= now), key=lambda r: r.arrive_at):
                self._arrive(session, ride)

    def _board(self, session: Session, parcel: Parcel, line: Line, here: str, destination: str, *,
               depart_at: datetime, reason: str) -> bool:
        arrive_at = depart_at + timedelta(seconds=line.travel_s(here, destination))
        if self._fleet is not None and line.mode == "bus" and line.locker_id:
            if destination == parcel.destination_id:
                # Last mile in the bus locker: the agent's deposit/pickup events move the parcel.
                self._fleet.expect_deposit(session, locker_id=line.locker_id, parcel_id=parcel.id, hub=here,
                                           village=destination, ttl_h=self.config.pickup_code_ttl_h,
                                           at=self._clock())
                self.stats.boarded[line.mode] += 1
                self._publish("parcel", {"id": parcel.id, "state": parcel.state, "locker": line.locker_id})
                return True
            # Towards a hub (first mile): carried as bus cargo, not in the recipients' locker.
            parcels.transition_parcel(session, parcel_id=parcel.id, to_state=P.IN_TRANSIT_BUS, actor=NETWORK_ACTOR,
                                      place_id=here, reason=reason, at=depart_at)
            self._rides[parcel.id] = _Ride(parcel_id=parcel.id, line_id=line.id, mode=line.mode,
                                           destination=destination, arrive_at=arrive_at)
            self.stats.boarded[line.mode] += 1
            self._publish("parcel", {"id": parcel.id, "state": parcel.state, "line": line.id})
            return True
        if line.mode == "bus" and line.locker_id:
            try:
                lockers.deposit_on_bus(session, parcel_id=parcel.id, locker_id=line.locker_id, place_id=here,
                                       actor=COURIER_ACTOR, at=depart_at, reason=reason)
            except lockers.LockerFull:
                return False
        else:
            state = P.IN_TRANSIT_BUS if line.mode == "bus" else P.IN_TRANSIT_FERRY
            parcels.transition_parcel(session, parcel_id=parcel.id, to_state=state, actor=NETWORK_ACTOR,
                                      place_id=here, reason=reason, at=depart_at)
        self._rides[parcel.id] = _Ride(parcel_id=parcel.id, line_id=line.id, mode=line.mode, destination=destination,
                                       arrive_at=arrive_at, locker_id=line.locker_id if line.mode == "bus" else None)
        self.stats.boarded[line.mode] += 1
        self._publish("parcel", {"id": parcel.id, "state": parcel.state, "line": line.id})
        return True

    def _arrive(self, session: Session, ride: _Ride) -> None:
        parcel = session.get(Parcel, ride.parcel_id)
        del self._rides[ride.parcel_id]
        if parcel is None or parcel.state not in (P.IN_TRANSIT_BUS.value, P.IN_TRANSIT_FERRY.value):
            return
        line = self._lines[ride.line_id]
        if ride.locker_id and ride.destination == parcel.destination_id:
            code = lockers.issue_pickup_code(session, parcel_id=parcel.id, locker_id=ride.locker_id,
                                             place_id=ride.destination, secret_key=self._secret,
                                             ttl_h=self.config.pickup_code_ttl_h, actor=NETWORK_ACTOR,
                                             at=ride.arrive_at)
            come_at = ride.arrive_at + timedelta(seconds=self._rng.uniform(*self.config.pickup_delay_s))
            # The locker rides with the bus: the recipient collects when it next stops at the village.
            self._pickups[parcel.id] = (line.next_pass(ride.destination, come_at, self._tz), code)
        else:
            if ride.locker_id:
                self._unload(session, parcel)
            parcels.transition_parcel(session, parcel_id=parcel.id, to_state=P.AT_SERVICE_POINT,
                                      actor=NETWORK_ACTOR, place_id=ride.destination, at=ride.arrive_at,
                                      reason=f"{ride.mode} {ride.line_id} arrived at {ride.destination}")
            if parcel.destination_id == ride.destination and parcel.direction == "down":
                come_at = ride.arrive_at + timedelta(seconds=self._rng.uniform(*self.config.pickup_delay_s))
                self._pickups[parcel.id] = (come_at, None)
        self._publish("parcel", {"id": parcel.id, "state": parcel.state, "place": ride.destination})

    def _unload(self, session: Session, parcel: Parcel) -> None:
        from controller.db.models import Compartment

        compartment = session.scalar(select(Compartment).where(Compartment.parcel_id == parcel.id))
        if compartment is not None:
            lockers._move(session, compartment, lockers.CompartmentState.OPEN, actor=COURIER_ACTOR,
                          reason=f"unload {parcel.id} at the hub", at=self._clock())
            lockers._move(session, compartment, lockers.CompartmentState.FREE, actor=COURIER_ACTOR,
                          reason="door closed, empty", at=self._clock())
            compartment.parcel_id = None

    def _last_mile(self, now: datetime) -> None:
        """Parcels at a hub for a village on a bus line from it go into the bus locker for the next run."""
        with transaction(self._factory) as session:
            waiting = session.scalars(select(Parcel).where(Parcel.state == P.AT_SERVICE_POINT.value,
                                                           Parcel.location_id != Parcel.destination_id))
            for parcel in list(waiting):
                if parcel.id in self._rides or (self._fleet is not None and self._fleet.has(parcel.id)) or (
                        parcel.sortie_id and self._waits_for_sortie(session, parcel)):
                    continue
                here = parcel.location_id
                line = next((ln for ln in self._lines.values()
                             if ln.mode == "bus" and here and ln.serves(here, parcel.destination_id)), None)
                if line is None:
                    continue
                depart_at, _ = line.next_ride(here, parcel.destination_id, parcel.state_changed_at, self._tz)
                if depart_at > now and self._fleet is None:
                    continue  # (with real lockers the code is issued now; the courier loads the next bus)
                self._board(session, parcel, line, here, parcel.destination_id, depart_at=depart_at,
                            reason=f"last mile: courier loaded the bus locker of {line.id} at {here}")

    @staticmethod
    def _waits_for_sortie(session: Session, parcel: Parcel) -> bool:
        """A first-mile parcel at the hub waiting for its (not yet flown) sortie."""
        sortie = session.get(Sortie, parcel.sortie_id)
        return sortie is not None and SortieState(sortie.state) in (
            {SortieState.PLANNED, SortieState.APPROVED} | set(ACTIVE))

    def _collect(self, now: datetime) -> None:
        due = sorted((at, pid) for pid, (at, _) in self._pickups.items() if at <= now)
        if not due:
            return
        with transaction(self._factory) as session:
            for at, parcel_id in due:
                _, code = self._pickups.pop(parcel_id)
                parcel = session.get(Parcel, parcel_id)
                if parcel is None:
                    continue
                if code is not None and parcel.state == P.AT_LOCKER.value:
                    lockers.pick_up(session, parcel_id=parcel_id, code=code, secret_key=self._secret,
                                    actor=RECIPIENT_ACTOR, at=at, place_id=parcel.destination_id)
                elif code is None and parcel.state == P.AT_SERVICE_POINT.value:
                    parcels.transition_parcel(session, parcel_id=parcel_id, to_state=P.PICKED_UP,
                                              actor=RECIPIENT_ACTOR, place_id=parcel.destination_id, at=at,
                                              reason="collected at the service point counter")
                else:
                    continue
                self.stats.pickups += 1
                self._publish("parcel", {"id": parcel_id, "state": P.PICKED_UP.value})

    def _buses(self, now: datetime) -> None:
        with transaction(self._factory) as session:
            for line in self._lines.values():
                if line.mode != "bus" or not line.locker_id:
                    continue
                lat, lon, speed, status = line.position(now, self._tz)
                if self._fleet is None:  # with real lockers the agents report their position
                    session.execute(update(Locker).where(Locker.id == line.locker_id).values(
                        lat_deg=lat, lon_deg=lon, speed_m_s=speed, last_seen_at=now))
                self._publish("bus", {"line_id": line.id, "locker_id": line.locker_id, "lat_deg": lat,
                                      "lon_deg": lon, "speed_m_s": round(speed, 2), "status": status})

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        if self._events is not None:
            self._events.publish(kind, data)

    # --- waiting for the end -------------------------------------------------------------------------

    def active_sorties(self) -> int:
        """Sorties uploading or in the air (approved ones not yet launched count too)."""
        states = [s.value for s in ACTIVE] + [SortieState.APPROVED.value]
        with self._factory() as session:
            return len(list(session.scalars(select(Sortie.id).where(Sortie.state.in_(states)))))


def writer_session_factory(database_url: str) -> tuple[Engine, sessionmaker[Session]]:
    """An engine + session factory for the network (its SQLite transactions begin IMMEDIATE, as every
    controller engine's do: see controller.db.engine)."""
    engine = make_engine(database_url)
    return engine, make_session_factory(engine)


def default_vehicle_factory(*, gps_warmup_s: float = 5.0) -> Callable[[Drone, Pad, float], Vehicle]:
    """SimVehicle per drone, or a real SITL process per drone when ``ARDUPILOT_SITL`` is set."""
    from sitl.launcher import SitlProcess, SitlSpec, find_sitl_binary

    binary = find_sitl_binary() if os.environ.get("ARDUPILOT_SITL") else None

    def start(drone: Drone, pad: Pad, speedup: float) -> Vehicle:
        if binary is not None:
            spec = SitlSpec(binary=binary, home_lat_deg=pad.lat_deg, home_lon_deg=pad.lon_deg,
                            home_alt_m=pad.alt_amsl_m, speedup=speedup, instance=drone.sysid - 10,
                            sysid=drone.sysid)
            return SitlProcess(spec).start()
        from sitl.copter import AIRFRAMES
        from sitl.simvehicle import SimVehicle, SimVehicleConfig

        # The simulator models one airframe so far; other models fly with its power/battery model.
        model = drone.model if drone.model in AIRFRAMES else "island-hauler-5"
        return SimVehicle(SimVehicleConfig(sysid=drone.sysid, home_lat_deg=pad.lat_deg, home_lon_deg=pad.lon_deg,
                                           home_alt_m=pad.alt_amsl_m, speedup=speedup, gps_warmup_s=gps_warmup_s,
                                           model=model)).start()

    return start
