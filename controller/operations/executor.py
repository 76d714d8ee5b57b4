"""Fly approved sorties on their vehicles and keep the database in step with what the vehicles do.

One :class:`SortieExecutor` per controller process, owned by the app's lifespan. Each tick it:
expires stale approvals, re-attaches to sorties that are active in the database but not driven by a
live task (a restart, or another controller that died), and launches approved sorties whose
departure time has come. A sortie is driven by exactly one controller: a lease row
(``lease_owner``/``lease_expires_at``) is claimed with a compare-and-set UPDATE and renewed while
the task lives.

Nothing reaches a vehicle unless :func:`sorties.check_upload_allowed` passes inside the same
transaction that moves the sortie to ``uploading``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from controller.db.engine import transaction
from controller.db.models import Alert, Drone, Sortie, TrackPoint
from controller.db.types import utc_now
from controller.domain.sortie_states import ACTIVE, SORTIE_TRANSITIONS, SortieState
from controller.events import EventBus
from controller.operations import outcomes
from controller.services import sortie_views, sorties
from controller.services.plan_checks import fence_check_for, items_from_json
from controller.vehicle.errors import IllegalTransition, MissionMismatch, NotReady, VehicleLinkError
from controller.vehicle.link import VehicleLink
from controller.vehicle.manager import LinkManager
from controller.vehicle.sortie import LaunchEvidence, SortiePlan, SortieRunner, SortieTiming, read_flight_time_s
from controller.vehicle.sortie import SortieState as RunnerState
from controller.vehicle.telemetry import DecimatedTrack, Telemetry, VehicleEvent

log = logging.getLogger(__name__)
S = SortieState
REATTACH_STATES = [s.value for s in ACTIVE]
LEASE_S = 15.0  # default lease (s); ``DISPATCH_EXECUTOR_LEASE_S``
# A sortie whose driver task crashed is retried after tick_s * 2**attempts (capped), then given up.
RETRY_MAX_BACKOFF_S = 60.0
RETRY_MAX_ATTEMPTS = 6


# Battery used (percentage points) that proves a vehicle flew after its launch was commanded: more than
# arming and idling on the pad draws, much less than the shortest sortie.
FLIGHT_EVIDENCE_BATTERY_DROP_PCT = 2.0
# How long a re-attach waits for the first battery report (SYS_STATUS comes at 1-2 Hz on ArduPilot), s.
BATTERY_WAIT_S = 5.0
_RESUMED_ON_GROUND = (S.UPLOADING.value, S.READY.value, S.LINK_LOST.value)


class LaunchOutcomeUnknown(RuntimeError):
    """A launch was commanded, the vehicle is down, and nothing shows whether it flew: an operator decides."""


@dataclass(kw_only=True)
class _Launch:
    commanded: bool
    battery_pct: float | None
    flight_time_s: int | None = None
    airborne_recorded: bool = False  # the sortie's history shows a flight state


def _flew_since_launch(launch: _Launch, now: LaunchEvidence) -> str | None:
    """Why we know a grounded, disarmed vehicle flew after the launch was commanded; None if it did not.

    The flight time counter decides when the vehicle reported it both at the marker and now: it grew by
    any flight longer than about 30 s, and a swapped battery does not hide it. Otherwise the battery
    used since the marker decides. Raises :class:`LaunchOutcomeUnknown` when a launch was commanded and
    neither can tell.
    """
    if not launch.commanded:
        return None
    if launch.flight_time_s is not None and now.flight_time_s is not None:
        if now.flight_time_s > launch.flight_time_s:
            return f"flight time counter {launch.flight_time_s} s at launch, {now.flight_time_s} s now"
        return None
    if launch.battery_pct is None or now.battery_pct is None:
        raise LaunchOutcomeUnknown("launch was commanded before the restart and the vehicle is down, but it "
                                   "reports neither a flight time counter nor a battery level to show "
                                   "whether it flew")
    used = launch.battery_pct - now.battery_pct
    if used >= FLIGHT_EVIDENCE_BATTERY_DROP_PCT:
        return f"battery {launch.battery_pct:.0f}% at launch, {now.battery_pct:.0f}% now"
    return None


async def _evidence_now(link: VehicleLink, launch: _Launch) -> LaunchEvidence:
    """What the grounded vehicle shows now, read only when a launch was commanded: its flight time counter
    and its battery level (waiting briefly for a first SYS_STATUS: a heartbeat alone can come before it)."""
    if not launch.commanded:
        return LaunchEvidence(battery_pct=link.battery_remaining_pct, flight_time_s=None)
    if link.battery_remaining_pct is None:
        try:
            await link.wait_until(lambda v: v.battery_remaining_pct is not None, timeout_s=BATTERY_WAIT_S,
                                  what="battery level")
        except NotReady:
            pass
    return LaunchEvidence(battery_pct=link.battery_remaining_pct, flight_time_s=await read_flight_time_s(link))


@dataclass(kw_only=True)
class _Running:
    sortie_id: str
    drone_id: str
    task: asyncio.Task[Any]
    runner: SortieRunner | None = None
    link: VehicleLink | None = None
    drop_seqs: dict[int, str] = field(default_factory=dict)  # payload-place seq -> pad


class SortieExecutor:
    """Launch, monitor and re-attach sorties; see the module docstring."""

    def __init__(self, *, factory: sessionmaker[Session], events: EventBus, manager: LinkManager,
                 instance_id: str, clock: Callable[[], datetime] = utc_now, tick_s: float = 1.0,
                 approval_ttl_s: float = 1800.0, corridor_max_deviation_m: float = 150.0,
                 corridor_rtl: bool = False, timing: SortieTiming = SortieTiming(),
                 launch_early_s: float = 0.0, gcs_sysid: int = 255, lease_s: float = LEASE_S) -> None:
        self._factory = factory
        self._events = events
        self._manager = manager
        self.instance_id = instance_id
        self._clock = clock
        self._tick_s = tick_s
        self.lease_s = lease_s
        self._corridor_m = corridor_max_deviation_m
        self._corridor_rtl = corridor_rtl
        self._timing = timing
        self._launch_early_s = launch_early_s
        self._gcs_sysid = gcs_sysid
        self.running: dict[str, _Running] = {}
        # sortie id -> (failed attempts, monotonic time of the next attempt; inf once given up)
        self.failures: dict[str, tuple[int, float]] = {}
        self._connected_urls: set[str] = set()
        self._connect_lock = asyncio.Lock()

    # --- the loop ------------------------------------------------------------------------------------

    async def serve(self) -> None:
        """Tick forever (cancelled by the lifespan on shutdown)."""
        while True:
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - one bad tick must not stop every flight's supervision
                log.exception("executor tick failed; retrying next tick")
            await asyncio.sleep(self._tick_s)

    async def tick(self) -> None:
        """One pass: renew leases, expire approvals, re-attach, launch."""
        for sortie_id in [s for s, r in self.running.items() if r.task.done()]:
            del self.running[sortie_id]
        for sortie_id in await asyncio.to_thread(self._renew_leases):
            # Another instance took the lease (this one stalled past it): it drives the sortie now.
            log.warning("sortie %s: lease taken over by another controller; no longer supervising it", sortie_id)
            self.running.pop(sortie_id).task.cancel()
        expired = await asyncio.to_thread(self._expire_approvals)
        for sortie_id in expired:
            self._events.publish("sortie", {"id": sortie_id, "state": "planned", "reason": "approval expired"})
        loop_now = time.monotonic()
        for sortie_id, state in await asyncio.to_thread(self._claimable):
            if sortie_id in self.running:
                continue
            if sortie_id in self.failures and self.failures[sortie_id][1] > loop_now:
                continue  # backing off after a crash (or given up): no retry every tick
            claimed = await asyncio.to_thread(self._claim, sortie_id)
            if claimed:
                self._start(sortie_id, claimed, reattach=state != S.APPROVED.value)

    def _start(self, sortie_id: str, drone_id: str, *, reattach: bool) -> None:
        running = _Running(sortie_id=sortie_id, drone_id=drone_id, task=None)  # type: ignore[arg-type]
        running.task = asyncio.create_task(self._drive(running, reattach=reattach), name=f"sortie-{sortie_id}")
        self.running[sortie_id] = running

    # --- database side (run in threads) --------------------------------------------------------------

    def _expire_approvals(self) -> list[str]:
        with transaction(self._factory) as session:
            return sorties.expire_approvals(session, now=self._clock())

    def _claimable(self) -> list[tuple[str, str]]:
        now = self._clock()
        with self._factory() as session:
            due = select(Sortie.id, Sortie.state).join(Drone, Drone.id == Sortie.drone_id).where(
                Drone.connection_url.is_not(None),
                or_(Sortie.lease_owner.is_(None), Sortie.lease_owner == self.instance_id,
                    Sortie.lease_expires_at < now),
                or_(Sortie.state.in_(REATTACH_STATES),
                    (Sortie.state == S.APPROVED.value)
                    & (Sortie.depart_at <= now + timedelta(seconds=self._launch_early_s))
                    & ~_drone_has_active_sortie()),
            ).order_by(Sortie.depart_at)
            return [(row.id, row.state) for row in session.execute(due)]

    def _claim(self, sortie_id: str) -> str | None:
        """Take the lease if free, ours, or expired; return the drone id, or None when someone has it."""
        now = self._clock()
        with transaction(self._factory) as session:
            result = session.execute(
                update(Sortie).where(Sortie.id == sortie_id, or_(
                    Sortie.lease_owner.is_(None), Sortie.lease_owner == self.instance_id,
                    Sortie.lease_expires_at < now))
                .values(lease_owner=self.instance_id, lease_expires_at=now + timedelta(seconds=self.lease_s)))
            if result.rowcount != 1:
                return None
            return session.get(Sortie, sortie_id).drone_id  # type: ignore[union-attr]

    def _renew_leases(self) -> list[str]:
        """Renew the leases of the sorties this instance drives; return those whose lease another holds."""
        if not self.running:
            return []
        with transaction(self._factory) as session:
            session.execute(update(Sortie).where(Sortie.id.in_(list(self.running)),
                                                 Sortie.lease_owner == self.instance_id)
                            .values(lease_expires_at=self._clock() + timedelta(seconds=self.lease_s)))
            return list(session.scalars(select(Sortie.id).where(
                Sortie.id.in_(list(self.running)), Sortie.lease_owner.is_not(None),
                Sortie.lease_owner != self.instance_id)))

    def _release_lease(self, sortie_id: str) -> None:
        with transaction(self._factory) as session:
            session.execute(update(Sortie).where(Sortie.id == sortie_id, Sortie.lease_owner == self.instance_id)
                            .values(lease_owner=None, lease_expires_at=None))

    def _begin_upload(self, sortie_id: str) -> tuple[dict[str, Any], Drone] | None:
        """The upload gate and the move to ``uploading``, in one transaction."""
        with transaction(self._factory) as session:
            sortie = sorties.get_sortie(session, sortie_id, for_update=True)
            busy_with = session.scalar(select(Sortie.id).where(
                Sortie.drone_id == sortie.drone_id, Sortie.id != sortie.id, Sortie.state.in_(REATTACH_STATES)))
            if busy_with is not None:
                # Never send a mission to a drone that is still flying (or finishing) another sortie:
                # ArduPilot would replace the mission in flight.
                log.info("not uploading %s: drone %s is busy with %s", sortie_id, sortie.drone_id, busy_with)
                return None
            try:
                sorties.check_upload_allowed(sortie, fence_check=fence_check_for(session), now=self._clock())
            except sorties.UploadNotAllowed as exc:
                log.warning("not uploading %s: %s", sortie_id, exc.message)
                if sortie.state == S.APPROVED.value:
                    sorties.void_approval(session, sortie=sortie, reason=exc.message, actor=self._actor())
                return None
            sorties.transition(session, sortie=sortie, to_state=S.UPLOADING, actor=self._actor(),
                               reason="approved plan passed the upload gate", at=self._clock())
            drone = session.get(Drone, sortie.drone_id)
            session.expunge(drone)
            return dict(sortie.plan), drone  # type: ignore[return-value]

    def _load(self, sortie_id: str) -> tuple[dict[str, Any], Drone, str, _Launch]:
        with self._factory() as session:
            sortie = sorties.get_sortie(session, sortie_id)
            drone = session.get(Drone, sortie.drone_id)
            session.expunge(drone)
            launch = _Launch(commanded=sortie.launch_commanded_at is not None, battery_pct=sortie.launch_battery_pct,
                             flight_time_s=sortie.launch_flight_time_s,
                             airborne_recorded=sorties.was_seen_flying(session, sortie_id))
            return dict(sortie.plan), drone, sortie.state, launch  # type: ignore[return-value]

    def _mark_launch(self, sortie_id: str, evidence: LaunchEvidence) -> None:
        with transaction(self._factory) as session:
            session.execute(update(Sortie).where(Sortie.id == sortie_id).values(
                launch_commanded_at=self._clock(), launch_battery_pct=evidence.battery_pct,
                launch_flight_time_s=evidence.flight_time_s))

    def _persist(self, sortie_id: str, state: str, reason: str, data: dict[str, Any]) -> dict[str, Any]:
        with transaction(self._factory) as session:
            sortie = sorties.get_sortie(session, sortie_id, for_update=True)
            target = S(state)
            if sortie.state == target.value:
                return sortie_views.summary(session, sortie)
            # A dispatcher's action is recorded as theirs, not the controller's.
            actor = str(data.pop("requested_by", None) or self._actor())
            sorties.transition(session, sortie=sortie, to_state=target, actor=actor, reason=reason,
                               data=_jsonable(data), at=self._clock())
            if target is S.AIRBORNE:
                outcomes.parcels_took_off(session, sortie=sortie, actor=self._actor())
            elif target is S.COMPLETED:
                landed = outcomes.sortie_landed(session, sortie=sortie, lat_deg=data.get("lat_deg"),
                                                lon_deg=data.get("lon_deg"), battery_pct=data.get("battery_pct"),
                                                actor=self._actor())
                sortie.state_reason = f"{reason}; landed at {landed['landed_pad'] or 'no pad'}"
                if landed["not_delivered"]:
                    self._alert(session, sortie, "warning", "sortie_not_delivered",
                                f"sortie {sortie.id}: {len(landed['not_delivered'])} parcel(s) not delivered")
            elif target is S.CANCELLED:
                outcomes.sortie_never_flew(session, sortie=sortie, actor=actor, reason=reason)
            elif target in (S.UPLOAD_FAILED, S.PREFLIGHT_FAILED):
                outcomes.sortie_never_flew(session, sortie=sortie, actor=self._actor(), reason=reason)
                self._alert(session, sortie, "warning", target.value, f"sortie {sortie.id}: {reason}")
            elif target in (S.LINK_LOST, S.FAILSAFE, S.DIVERTED):
                self._alert(session, sortie, "critical", target.value, f"sortie {sortie.id}: {reason}")
            if "mission_seq" in data and data["mission_seq"] is not None:
                sortie.progress_seq = int(data["mission_seq"])
            return sortie_views.summary(session, sortie)

    def _alert(self, session: Session, sortie: Sortie, severity: str, kind: str, message: str) -> None:
        session.add(Alert(severity=severity, kind=kind, object_type="sortie", object_id=sortie.id, message=message))
        self._events.publish("alert", {"severity": severity, "kind": kind, "sortie_id": sortie.id,
                                       "message": message})

    def _drop(self, sortie_id: str, pad_id: str) -> list[str]:
        with transaction(self._factory) as session:
            return outcomes.parcels_dropped_at(session, sortie=sorties.get_sortie(session, sortie_id), pad_id=pad_id,
                                               actor=self._actor())

    def _track(self, sortie_id: str, snapshot: Telemetry, progress_seq: int | None) -> None:
        with transaction(self._factory) as session:
            session.add(TrackPoint(sortie_id=sortie_id, at=self._clock(), lat_deg=snapshot.lat_deg,
                                   lon_deg=snapshot.lon_deg, alt_m=snapshot.alt_rel_m or 0.0,
                                   groundspeed_m_s=snapshot.groundspeed_m_s or 0.0,
                                   battery_pct=snapshot.battery_remaining_pct, mode=snapshot.mode))
            if progress_seq is not None:
                session.execute(update(Sortie).where(Sortie.id == sortie_id).values(progress_seq=progress_seq))

    def _actor(self) -> str:
        return f"controller:{self.instance_id}"

    # --- vehicle side --------------------------------------------------------------------------------

    async def _link_for(self, drone: Drone) -> VehicleLink:
        if drone.sysid in self._manager.links:
            return self._manager.links[drone.sysid]
        async with self._connect_lock:
            if drone.connection_url not in self._connected_urls:
                await self._manager.connect(drone.connection_url)  # type: ignore[arg-type]
                self._connected_urls.add(drone.connection_url)  # type: ignore[arg-type]
        return await self._manager.wait_vehicle(drone.sysid, timeout_s=self._timing.ready_timeout_s)

    def _sortie_plan(self, plan: dict[str, Any], drone: Drone) -> SortiePlan:
        mission = items_from_json(plan["mission_items"])
        params = {"FENCE_ENABLE": 1.0, "FENCE_TYPE": 5.0, "FENCE_ALT_MAX": 120.0, "FENCE_ACTION": 1.0,
                  # The GCS failsafe only listens to SYSID_MYGCS. An approved, fenced mission continues
                  # if the controller goes quiet (FS_OPTIONS bit 1), so a controller restart or takeover
                  # does not turn every delivery around; outside AUTO the vehicle returns home.
                  "SYSID_MYGCS": float(self._gcs_sysid), "FS_GCS_ENABLE": 1.0, "FS_OPTIONS": 2.0,
                  "RTL_ALT": float(plan["altitude_m"]) * 100.0, "WPNAV_SPEED": drone.cruise_speed_m_s * 100.0}
        return SortiePlan(
            mission=mission, fence=items_from_json(plan["fence_items"]), rally=items_from_json(plan["rally_items"]),
            params=params, route=[tuple(p) for p in plan["route"]], max_deviation_m=self._corridor_m,
            rtl_on_deviation=self._corridor_rtl, energy_needed_wh=plan.get("energy_wh"),
            battery_capacity_wh=drone.battery_wh,
            reserve_fraction=float(plan.get("reserve_fraction") or 0.25))

    async def _drive(self, running: _Running, *, reattach: bool) -> None:
        sortie_id = running.sortie_id
        try:
            launch = _Launch(commanded=False, battery_pct=None)
            if reattach:
                plan, drone, state, launch = await asyncio.to_thread(self._load, sortie_id)
            else:
                begun = await asyncio.to_thread(self._begin_upload, sortie_id)
                if begun is None:
                    return
                (plan, drone), state = begun, S.UPLOADING.value
            self._events.publish("sortie", {"id": sortie_id, "state": state, "drone_id": drone.id})
            running.drop_seqs = {item.seq: _pad_at(plan, item) for item in items_from_json(plan["mission_items"])
                                 if item.command == 94}
            try:
                link = await self._link_for(drone)
            except VehicleLinkError as exc:
                await asyncio.to_thread(self._persist, sortie_id, S.LINK_LOST.value,
                                        f"cannot reach vehicle {drone.sysid}: {exc}", {})
                return
            running.link = link

            async def on_transition(new_state: str, reason: str, data: dict[str, Any]) -> None:
                # A payload place the vehicle is past happened, even if its MISSION_ITEM_REACHED was
                # missed (no controller was connected, or the link dropped): reconcile from progress.
                seq = data.get("mission_seq")
                if data.get("mission_completed"):
                    seq = max(running.drop_seqs, default=0) + 1  # the whole mission was flown
                for drop_seq, pad in running.drop_seqs.items():
                    if seq is not None and drop_seq < seq:
                        dropped = await asyncio.to_thread(self._drop, sortie_id, pad)
                        if dropped:
                            self._events.publish("parcel", {"sortie_id": sortie_id, "pad": pad, "delivered": dropped})
                if new_state == S.COMPLETED.value and link.battery_remaining_pct is not None:
                    data = {**data, "battery_pct": link.battery_remaining_pct}
                summary = await asyncio.to_thread(self._persist, sortie_id, new_state, reason, data)
                self._events.publish("sortie", {"id": sortie_id, "state": new_state, "reason": reason,
                                                "drone_id": drone.id, "summary": summary})

            async def on_event(event: VehicleEvent) -> None:
                if event.kind == "mission_item_reached" and event.data.get("seq") in running.drop_seqs:
                    pad = running.drop_seqs[event.data["seq"]]
                    dropped = await asyncio.to_thread(self._drop, sortie_id, pad)
                    self._events.publish("parcel", {"sortie_id": sortie_id, "pad": pad, "delivered": dropped})
                elif event.kind == "statustext":
                    self._events.publish("vehicle_text", {"drone_id": drone.id, "sortie_id": sortie_id,
                                                          "text": event.data.get("text", "")})

            async def before_arm(evidence: LaunchEvidence) -> None:
                await asyncio.to_thread(self._mark_launch, sortie_id, evidence)

            runner = SortieRunner(link, self._sortie_plan(plan, drone), on_transition=on_transition,
                                  on_event=on_event, timing=self._timing, initial_state=RunnerState(state),
                                  before_arm=before_arm)
            running.runner = runner
            telemetry = asyncio.create_task(self._pump_telemetry(sortie_id, drone, link))
            try:
                if reattach and state == S.ABORTED.value:
                    await self._resume_aborted(runner, launch)
                elif reattach and state not in _RESUMED_ON_GROUND:
                    await runner.reattach()
                    await runner.monitor()
                elif reattach:
                    await self._resume_on_ground(runner, state, launch)
                else:
                    await runner.run()
            finally:
                telemetry.cancel()
        except asyncio.CancelledError:
            raise
        except LaunchOutcomeUnknown as exc:
            # Retrying cannot help (the vehicle will not say more): hand it to an operator at once.
            await asyncio.to_thread(self._hand_to_operator, sortie_id, exc)
        except Exception as exc:  # noqa: BLE001 - the sortie must end in a stated failure, not vanish
            log.exception("sortie %s: executor failure", sortie_id)
            await asyncio.to_thread(self._record_failure, sortie_id, exc)
        else:
            self.failures.pop(sortie_id, None)
        finally:
            if not asyncio.current_task().cancelled():  # type: ignore[union-attr]
                await asyncio.to_thread(self._release_lease_if_done, sortie_id)

    async def _resume_on_ground(self, runner: SortieRunner, state: str, launch: _Launch) -> None:
        """After a restart in ``uploading``/``ready``/``link_lost``: finish preparing, launch, or follow
        what the vehicle did — never flying a sortie twice.

        A vehicle that is armed or in the air is followed (a ``ready`` sortie whose vehicle took off
        meanwhile goes through ``airborne`` first, so its parcels follow the flight). It is never
        uploaded to. A vehicle that is down and disarmed either never flew this sortie or flew all of it
        while no controller was watching. The launch marker, written just before arming, tells: without
        it the sortie certainly never flew; with it, only the battery used since then proves a flight
        (MISSION_CURRENT cannot: ArduCopter resets it on disarm). A sortie that never flew is prepared
        again from the start (``uploading``, ``link_lost``) or, in ``ready``, launched once its verified
        mission is confirmed on the vehicle — a vehicle that lost it fails pre-flight cleanly (its
        parcels go back to the pool; ``ready`` cannot go back to ``uploading``).
        """
        link = runner.link
        await link.wait_heartbeat(timeout_s=self._timing.ready_timeout_s)
        if runner.vehicle_down():
            flew = _flew_since_launch(launch, await _evidence_now(link, launch))
            if flew is not None:
                await self._force(runner, RunnerState.AIRBORNE, f"flew while no controller was supervising ({flew})")
                await runner.reattach()  # down and disarmed: completed, deliveries from the vehicle's mission state
                return
            if state != S.READY.value:
                await runner.run()
                return
            try:
                await runner.reattach()
            except MissionMismatch as exc:
                await self._force(runner, RunnerState.PREFLIGHT_FAILED,
                                  f"vehicle no longer holds the verified mission after a controller restart: {exc}")
                return
            if await runner.launch():
                await runner.monitor()
            return
        try:
            await runner.reattach()
        except IllegalTransition:
            if runner.state is not RunnerState.READY:
                raise
            await self._force(runner, RunnerState.AIRBORNE, "took off while no controller was supervising")
            await runner.reattach()
        await runner.monitor()

    async def _resume_aborted(self, runner: SortieRunner, launch: _Launch) -> None:
        """After a restart in ``aborted``: follow the return if the vehicle is up; if it is down, the
        launch marker and the battery tell a flight that came back (``completed``) from an abort that
        stopped the launch before take-off and was cut short by the restart (``cancelled``)."""
        link = runner.link
        await link.wait_heartbeat(timeout_s=self._timing.ready_timeout_s)
        if runner.vehicle_down() and not launch.airborne_recorded \
                and _flew_since_launch(launch, await _evidence_now(link, launch)) is None:
            await self._force(runner, RunnerState.CANCELLED,
                              "aborted before take-off: the vehicle never left the pad (found after a restart)")
            return
        await runner.reattach()
        await runner.monitor()

    @staticmethod
    async def _force(runner: SortieRunner, state: RunnerState, reason: str) -> None:
        """Move the runner (and, through its callback, the database) along one legal transition."""
        if not SORTIE_TRANSITIONS.can(runner.state, state):
            raise IllegalTransition(runner.state.value, state.value)
        runner.state = state
        await runner.on_transition(state.value, reason, {})

    def _record_failure(self, sortie_id: str, exc: Exception) -> None:
        """Back off before driving the sortie again; alert (persisted) on the first failure and on giving up.

        The lease is not renewed while backing off, so another live controller may try once it expires.
        """
        attempts = self.failures.get(sortie_id, (0, 0.0))[0] + 1
        given_up = attempts >= RETRY_MAX_ATTEMPTS
        delay_s = float("inf") if given_up else min(RETRY_MAX_BACKOFF_S, self._tick_s * 2 ** attempts)
        self.failures[sortie_id] = (attempts, time.monotonic() + delay_s)
        what = f"{exc.__class__.__name__}: {exc}"
        if attempts == 1 or given_up:
            message = (f"sortie {sortie_id}: executor gave up after {attempts} failed attempts ({what}); "
                       "needs an operator" if given_up else
                       f"sortie {sortie_id}: executor failure ({what}); retrying with back-off")
            with transaction(self._factory) as session:
                sortie = session.get(Sortie, sortie_id)
                if sortie is not None:
                    self._alert(session, sortie, "critical", "executor_error", message)

    def _hand_to_operator(self, sortie_id: str, exc: LaunchOutcomeUnknown) -> None:
        """Stop driving the sortie (this instance never retries it), give up its lease so an operator can
        settle it (``POST /api/v1/sorties/{id}/resolve``), and raise a critical alert saying so."""
        self.failures[sortie_id] = (RETRY_MAX_ATTEMPTS, float("inf"))
        with transaction(self._factory) as session:
            sortie = session.get(Sortie, sortie_id)
            if sortie is not None and sortie.lease_owner == self.instance_id:
                sortie.lease_owner, sortie.lease_expires_at = None, None
            if sortie is not None:
                self._alert(session, sortie, "critical", "launch_outcome_unknown",
                            f"sortie {sortie_id}: {exc}. Resolve it as flown or not flown once the vehicle "
                            "and the parcels have been checked.")

    def _release_lease_if_done(self, sortie_id: str) -> None:
        with self._factory() as session:
            state = sorties.get_sortie(session, sortie_id).state
        if S(state) not in ACTIVE:
            self._release_lease(sortie_id)

    async def _pump_telemetry(self, sortie_id: str, drone: Drone, link: VehicleLink) -> None:
        track = DecimatedTrack(min_distance_m=25.0, max_interval_s=5.0)
        async for snapshot in link.telemetry(min_period_s=0.5):
            if snapshot.lat_deg is None:
                continue
            self._events.publish("vehicle", {"drone_id": drone.id, "sortie_id": sortie_id,
                                             "lat_deg": snapshot.lat_deg, "lon_deg": snapshot.lon_deg,
                                             "alt_m": snapshot.alt_rel_m, "groundspeed_m_s": snapshot.groundspeed_m_s,
                                             "battery_pct": snapshot.battery_remaining_pct, "mode": snapshot.mode,
                                             "armed": snapshot.armed, "mission_seq": snapshot.mission_seq})
            if track.offer(snapshot):
                await asyncio.to_thread(self._track, sortie_id, snapshot, snapshot.mission_seq)

    # --- dispatcher actions --------------------------------------------------------------------------

    def runner_for(self, sortie_id: str) -> SortieRunner | None:
        running = self.running.get(sortie_id)
        return running.runner if running and not running.task.done() else None

    async def shutdown(self) -> None:
        """Stop supervising (vehicles keep flying their missions; a restart re-attaches)."""
        for running in self.running.values():
            running.task.cancel()
        await asyncio.gather(*(r.task for r in self.running.values()), return_exceptions=True)


def _drone_has_active_sortie():  # type: ignore[no-untyped-def]
    """SQL: another sortie of the same drone is still active (its drone is not free for a new one)."""
    from sqlalchemy import exists
    from sqlalchemy.orm import aliased

    other = aliased(Sortie)
    return exists().where(other.drone_id == Sortie.drone_id, other.id != Sortie.id,
                          other.state.in_(REATTACH_STATES))


def _pad_at(plan: dict[str, Any], item: Any) -> str:
    """The stop pad of a payload-place item (its position is the stop's pad, in stop order)."""
    drops = [i for i in items_from_json(plan["mission_items"]) if i.command == 94]
    return plan["stops"][[d.seq for d in drops].index(item.seq)]


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (str, int, float, bool, type(None), list, dict)) else str(v)
            for k, v in data.items()}
