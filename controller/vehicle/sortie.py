"""Drive one delivery sortie over a :class:`VehicleLink` and report every state transition.

States (names are part of the controller's contract)::

    planned -> approved -> uploading -> ready -> airborne -> delivering -> returning -> landing -> completed
                              |           |         \\__________ any flight state __________/
                              v           v              |        |        |        |
                        upload_failed  preflight_failed  aborted  diverted failsafe link_lost

``aborted`` = operator RTL/land, ``diverted`` = RTL ordered by the corridor monitor, ``failsafe`` =
the vehicle switched to RTL/LAND by itself or announced a failsafe, ``link_lost`` = no heartbeat
for the link timeout (left again when heartbeats resume, to the state the vehicle then shows).
The runner keeps no database: ``on_transition(state, reason, data)`` is awaited on every change so
the controller can persist it. It never uploads or arms a vehicle that is already flying
(:meth:`SortieRunner.reattach`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.domain.sortie_states import FLYING, SORTIE_TRANSITIONS, SortieState
from controller.vehicle.corridor import distance_to_route_m
from controller.vehicle.errors import (
    IllegalTransition,
    LinkLost,
    MissionMismatch,
    VehicleLinkError,
)
from controller.vehicle.link import VehicleLink
from controller.vehicle.mission_protocol import MissionTiming, compare_items
from controller.vehicle.telemetry import LandedState, VehicleEvent
from flight_plans.mission_item import MissionItem, MissionType

log = logging.getLogger(__name__)

TransitionCallback = Callable[[str, str, dict[str, Any]], Awaitable[None]]

MAV_CMD_NAV_LAND = 21
MAV_CMD_NAV_RETURN_TO_LAUNCH = 20
MAV_CMD_NAV_PAYLOAD_PLACE = 94
MAV_CMD_DO_GRIPPER = 211
MISSION_STATE_COMPLETE = 5  # MAVLink MISSION_STATE enum


S = SortieState
_FLYING = set(FLYING)
_OFF_NOMINAL = {S.ABORTED, S.DIVERTED, S.FAILSAFE}
TERMINAL = frozenset({S.COMPLETED, S.UPLOAD_FAILED, S.PREFLIGHT_FAILED, S.CANCELLED})


@dataclass(frozen=True, kw_only=True)
class SortiePlan:
    """What a sortie flies.

    mission/fence/rally: item lists as built by the planner (mission seq 0 = home).
    params: parameters that must hold before arming (fence, failsafes, RTL altitude, speeds, gripper).
    delivery_seq: mission seq of the delivery item; None = first NAV_PAYLOAD_PLACE / DO_GRIPPER, if any.
    route: (lat_deg, lon_deg) corridor centre line; empty = no corridor monitoring.
    max_deviation_m: allowed distance from ``route``; rtl_on_deviation: RTL when exceeded.
    energy_needed_wh / battery_capacity_wh / reserve_fraction: the battery check (skipped when
    energy_needed_wh is None).
    """

    mission: Sequence[MissionItem]
    fence: Sequence[MissionItem] = ()
    rally: Sequence[MissionItem] = ()
    params: Mapping[str, float] = field(default_factory=dict)
    delivery_seq: int | None = None
    route: Sequence[tuple[float, float]] = ()
    max_deviation_m: float = 100.0
    rtl_on_deviation: bool = False
    energy_needed_wh: float | None = None
    battery_capacity_wh: float = 0.0
    reserve_fraction: float = 0.25

    def resolved_delivery_seq(self) -> int | None:
        """The delivery item's seq (explicit, or the first payload place / gripper item)."""
        if self.delivery_seq is not None:
            return self.delivery_seq
        for item in self.mission:
            if item.command in (MAV_CMD_NAV_PAYLOAD_PLACE, MAV_CMD_DO_GRIPPER):
                return item.seq
        return None

    def landing_seq(self) -> int | None:
        """Seq of the final NAV_LAND / NAV_RETURN_TO_LAUNCH, if the mission ends with one."""
        for item in reversed(self.mission):
            if item.command in (MAV_CMD_NAV_LAND, MAV_CMD_NAV_RETURN_TO_LAUNCH):
                return item.seq
        return None


@dataclass(frozen=True, kw_only=True)
class SortieTiming:
    """Timeouts in seconds for the sortie's steps."""

    ready_timeout_s: float = 60.0
    airborne_timeout_s: float = 30.0
    flight_timeout_s: float = 3600.0
    mission_timing: MissionTiming = MissionTiming()


FLIGHT_TIME_PARAM = "STAT_FLTTIME"  # ArduPilot AP_Stats: total flight time, s, saved every 30 s


@dataclass(frozen=True, kw_only=True)
class LaunchEvidence:
    """What the vehicle shows just before it is armed, to compare with after a restart.

    battery_pct: remaining battery (%), None when not reported. flight_time_s: the vehicle's lifetime
    flight time counter (s), None when it has none.
    """

    battery_pct: float | None
    flight_time_s: int | None


async def read_flight_time_s(link: VehicleLink) -> int | None:
    """The vehicle's lifetime flight time counter STAT_FLTTIME (s), or None when it does not answer.

    ArduPilot adds flight time to it in RAM and saves it every 30 s, in flight too, so any flight longer
    than about 30 s shows in it — also after the battery was swapped, which hides the battery evidence.
    Sent as a float32 in PARAM_VALUE: exact up to 2**24 s (194 days of flight).
    """
    try:
        return int(await link.get_param(FLIGHT_TIME_PARAM, timeout_s=0.5, retries=2))
    except VehicleLinkError:
        return None


class SortieRunner:
    """Run one sortie on ``link``; await ``on_transition`` on every state change.

    Use :meth:`run` for a fresh sortie (upload, verify, preflight, launch, monitor) or
    :meth:`reattach` + :meth:`monitor` after a controller restart.
    """

    def __init__(self, link: VehicleLink, plan: SortiePlan, *, on_transition: TransitionCallback,
                 on_event: Callable[[VehicleEvent], Awaitable[None]] | None = None,
                 timing: SortieTiming = SortieTiming(), initial_state: SortieState = S.APPROVED,
                 before_arm: Callable[[LaunchEvidence], Awaitable[None]] | None = None) -> None:
        self.link = link
        # Awaited with what the vehicle shows just before arming: lets the controller persist that a
        # launch was commanded, so that after a restart it can tell "never armed" from "flew meanwhile".
        self.before_arm = before_arm
        self.plan = plan
        self.on_transition = on_transition
        self.on_event = on_event
        self.timing = timing
        self.state = SortieState(initial_state)
        self.history: list[tuple[float, str, str]] = []
        self._commanded_mode: str | None = None  # the last mode *we* asked for
        self._was_airborne = False
        self._state_before_link_loss: SortieState | None = None
        self._deviation_alerted = False

    # --- transitions ----------------------------------------------------------------------------------

    async def _to(self, state: SortieState, reason: str, **data: Any) -> None:
        if state is self.state:
            return
        if not SORTIE_TRANSITIONS.can(self.state, state):
            raise IllegalTransition(self.state.value, state.value)
        log.info("sortie on vehicle %s: %s -> %s (%s)", self.link.sysid, self.state.value, state.value, reason)
        self.state = state
        self.history.append((time.time(), state.value, reason))
        await self.on_transition(state.value, reason, data)

    # --- fresh sortie ---------------------------------------------------------------------------------

    async def run(self) -> SortieState:
        """Upload + verify, ensure params, preflight, arm, AUTO, MISSION_START, then :meth:`monitor`.

        Returns the final state. Vehicle errors become failure states, not exceptions.
        """
        if not await self.prepare():
            return self.state
        if not await self.launch():
            return self.state
        return await self.monitor()

    async def prepare(self) -> bool:
        """Upload and verify fence, rally and mission, set params; True when READY."""
        await self._to(S.UPLOADING, "uploading fence, rally, mission and parameters")
        t = self.timing.mission_timing
        try:
            self.link.require_link()
            # Fence and rally first: a mission must never be flyable without its geofence.
            for items, kind in ((self.plan.fence, MissionType.FENCE), (self.plan.rally, MissionType.RALLY),
                                (self.plan.mission, MissionType.MISSION)):
                await self.link.upload_and_verify(items, mission_type=kind, timing=t)
                if self.state is not S.UPLOADING:
                    return False  # an operator aborted meanwhile
            params = await self.link.ensure_params(self.plan.params)
        except LinkLost as exc:
            await self._to(S.LINK_LOST, str(exc))
            return False
        except VehicleLinkError as exc:
            if self.state is not S.UPLOADING:
                return False
            if not self.link.link_ok:  # a transfer timing out because the link died is a link loss
                await self._to(S.LINK_LOST, str(exc), error=type(exc).__name__)
                return False
            await self._to(S.UPLOAD_FAILED, str(exc), error=type(exc).__name__, **_facts(exc))
            return False
        if self.state is not S.UPLOADING:
            return False
        await self._to(S.READY, "mission, fence and rally verified on the vehicle",
                       mission_items=len(self.plan.mission), fence_items=len(self.plan.fence),
                       rally_items=len(self.plan.rally), params=params)
        return True

    async def launch(self) -> bool:
        """Check readiness and battery, arm, AUTO, MISSION_START; True once airborne."""
        # An operator abort (another task) can land at any await below: the state then is no longer
        # READY, and nothing further is commanded — above all, no arm after a called-off launch.
        try:
            await self.link.wait_ready(timeout_s=self.timing.ready_timeout_s)
            if self.state is not S.READY:
                return False
            if self.plan.energy_needed_wh is not None:
                self.link.check_battery(energy_needed_wh=self.plan.energy_needed_wh,
                                        capacity_wh=self.plan.battery_capacity_wh,
                                        reserve_fraction=self.plan.reserve_fraction)
            # ArduCopter refuses to arm in AUTO by default (AUTO_OPTIONS): arm in GUIDED, then
            # MISSION_START, which switches to AUTO itself. No wait between the two: landed and
            # idle, the autopilot disarms again after DISARM_DELAY.
            if self.link.mission_seq not in (None, 0, 1):
                # MISSION_START resumes from the current item (MIS_RESTART=0), and ArduCopter refuses AUTO
                # on the ground unless that item is a take-off: a new sortie always starts at its first item.
                await self.link.set_current_item(1)
            if self.before_arm is not None:
                evidence = LaunchEvidence(battery_pct=self.link.battery_remaining_pct,
                                          flight_time_s=await read_flight_time_s(self.link))
                if self.state is not S.READY:
                    return False
            await self._command_mode("GUIDED")
            if self.state is not S.READY:
                return False
            if self.before_arm is not None:
                await self.before_arm(evidence)
            if self.state is not S.READY:
                return False
            self._commanded_mode = "AUTO"
            await self.link.arm()
            if self.state is not S.READY:
                # The abort came while the arm command was on its way; the ack said armed (ArduPilot acks
                # only once armed), even if no heartbeat has shown it yet.
                await self._disarm_on_pad(known_armed=True)
                if self.state is S.ABORTED and not self.link.armed:  # an RTL abort of a vehicle still on the pad
                    await self._to(S.CANCELLED, "aborted while arming; disarmed on the pad")
                return False
            await self.link.start_mission()
            await self.link.wait_until(_is_airborne, timeout_s=self.timing.airborne_timeout_s, what="airborne")
        except VehicleLinkError as exc:
            await self._disarm_on_pad()  # never leave a vehicle armed on the pad after a failed launch
            if self.state is S.CANCELLED:
                return False
            if self.state is S.ABORTED:  # aborted while taking off, and it did not get up
                await self._to(S.CANCELLED, f"aborted during take-off, which did not complete: {exc}")
                return False
            await self._to(S.PREFLIGHT_FAILED, str(exc), error=type(exc).__name__, **_facts(exc))
            return False
        self._was_airborne = True
        if self.state is S.ABORTED:
            # Aborted (RTL) while taking off: MISSION_START may have reached the vehicle after the RTL.
            await self._command_mode("RTL")
            return True
        await self._to(S.AIRBORNE, "took off in AUTO", **self._position())
        return True

    async def _disarm_on_pad(self, *, known_armed: bool = False) -> None:
        if (known_armed or self.link.armed) and not _is_airborne(self.link):
            try:
                await self.link.disarm()
            except VehicleLinkError as disarm_exc:
                log.error("vehicle %s: disarm after a stopped launch failed: %s", self.link.sysid, disarm_exc)

    async def _command_mode(self, mode: str) -> None:
        self._commanded_mode = mode
        await self.link.set_mode(mode)

    # --- operator actions -----------------------------------------------------------------------------

    async def abort(self, reason: str = "operator abort", **data: Any) -> None:
        """Abort the sortie; ``data`` goes with the transition.

        In the air (or armed for take-off): return to launch now (RTL) and enter ``aborted``; the
        flight completes when the vehicle is down. Not yet armed (``uploading``/``ready``): the launch
        is called off — ``aborted`` then ``cancelled`` at once, nothing is commanded to the vehicle,
        and a preparation or launch in progress stops before its next step (it checks the state after
        every await: it never arms, and disarms what an arm already on its way armed).
        """
        if not self._was_airborne and not self.link.armed and self.state in (S.UPLOADING, S.READY):
            await self._to(S.ABORTED, reason, **data)
            await self._to(S.CANCELLED, "aborted before take-off: the vehicle never left the pad",
                           **{k: v for k, v in data.items() if k == "requested_by"})
            return
        await self._command_mode("RTL")
        await self._to(S.ABORTED, reason, mode="RTL", **data)

    async def land_now(self, reason: str = "operator land", **data: Any) -> None:
        """Land where the vehicle is and enter ``aborted``; ``data`` goes with the transition."""
        await self._command_mode("LAND")
        await self._to(S.ABORTED, reason, mode="LAND", **data)

    # --- restart --------------------------------------------------------------------------------------

    async def reattach(self) -> SortieState:
        """Work out the sortie state of an already-running vehicle without uploading or arming.

        Downloads the vehicle's mission and compares it with the plan, then derives the state
        from armed / landed / mode / MISSION_CURRENT. Raises :class:`MissionMismatch` when the vehicle
        carries a different mission (it is not this sortie).
        """
        await self.link.wait_heartbeat(timeout_s=self.timing.ready_timeout_s)
        if self.link.mission_seq is None:
            await self.link.wait_until(lambda v: v.mission_seq is not None, timeout_s=5.0, what="MISSION_CURRENT")
        back = await self.link.download_items(mission_type=MissionType.MISSION,
                                              timing=self.timing.mission_timing)
        differences = compare_items(self.plan.mission, back, mission_type=MissionType.MISSION)
        if differences:
            raise MissionMismatch(differences)
        derived = self._derive_flight_state()
        facts: dict[str, Any] = {}
        if derived is None:
            # Down and disarmed. MISSION_CURRENT says nothing about whether it flew: ArduCopter resets the
            # current item to 0 on disarm, and a vehicle that has not flown yet still shows the end of its
            # previous mission. A sortie that was flying has landed; one that was not stays where it is
            # (the caller decides from its own records whether it flew meanwhile).
            if self.state in (_FLYING | _OFF_NOMINAL):
                derived = S.COMPLETED
                facts["mission_completed"] = self.mission_completed()
            else:
                derived = self.state
        self._was_airborne = derived in _FLYING or derived is S.COMPLETED
        await self._to(derived, "re-attached after controller restart", mission_seq=self.link.mission_seq,
                       mode=self.link.mode, armed=self.link.armed, **facts, **self._position())
        return self.state

    def vehicle_down(self) -> bool:
        """True when the vehicle is on the ground and disarmed."""
        return self._derive_flight_state() is None

    def mission_completed(self) -> bool:
        """True when the vehicle reports its mission complete (MISSION_CURRENT.mission_state).

        Only meaningful for a mission this sortie started: the flag survives disarming and uploads.
        """
        return self.link.mission_state == MISSION_STATE_COMPLETE

    # --- monitoring -----------------------------------------------------------------------------------

    def _derive_flight_state(self) -> SortieState | None:
        """The nominal flight state the vehicle shows, or None when it is on the ground, disarmed."""
        v = self.link
        if not v.armed and v.landed_state in (LandedState.ON_GROUND, LandedState.UNDEFINED):
            return None
        if v.mode == "LAND" or (v.mode == "AUTO" and self.plan.landing_seq() is not None
                                 and v.mission_seq == self.plan.landing_seq()):
            return S.LANDING
        if v.mode in ("RTL", "SMART_RTL", "AUTO_RTL"):
            return S.RETURNING
        delivery = self.plan.resolved_delivery_seq()
        if delivery is not None and v.mission_seq is not None:
            if v.mission_seq == delivery:
                return S.DELIVERING
            if v.mission_seq > delivery:
                return S.RETURNING
        return S.AIRBORNE

    async def monitor(self) -> SortieState:
        """Follow the flight until the vehicle is down and disarmed; returns the final state."""
        with self.link.event_queue() as events:
            try:
                async with asyncio.timeout(self.timing.flight_timeout_s):
                    while self.state not in TERMINAL:
                        await self._step()
                        if self._landed_and_disarmed():
                            break
                        await self._next_change(events)
            except TimeoutError:
                log.error("vehicle %s: sortie still not finished after %.0f s", self.link.sysid,
                          self.timing.flight_timeout_s)
        if self._landed_and_disarmed() and self.state in (_FLYING | _OFF_NOMINAL | {S.READY}) \
                and self._was_airborne:
            # An aborted, diverted or failsafe flight that is down completes too; its outcome says where.
            await self._to(S.COMPLETED, "landed and disarmed", **self._position())
        return self.state

    def _landed_and_disarmed(self) -> bool:
        return self._was_airborne and self.link.link_ok and not self.link.armed

    async def _next_change(self, events: asyncio.Queue[VehicleEvent]) -> None:
        # Wake on the next event, or on any state update (position for the corridor check).
        get = asyncio.ensure_future(events.get())
        changed = asyncio.ensure_future(self.link.wait_change(timeout_s=1.0))
        done, _pending = await asyncio.wait({get, changed}, return_when=asyncio.FIRST_COMPLETED)
        changed.cancel()
        if get in done:
            await self._on_event(get.result())
        else:
            get.cancel()
        while not events.empty():
            await self._on_event(events.get_nowait())

    async def _on_event(self, event: VehicleEvent) -> None:
        if self.on_event is not None:
            await self.on_event(event)
        if event.kind == "link_lost":
            if self.state is not S.LINK_LOST:
                self._state_before_link_loss = self.state
                await self._to(S.LINK_LOST, "no vehicle heartbeat", **event.data)
        elif event.kind == "mode_changed":
            mode = event.data["mode"]
            if mode in ("RTL", "LAND", "SMART_RTL", "AUTO_RTL") and mode != self._commanded_mode \
                    and self.state in (_FLYING | {S.LINK_LOST, S.DIVERTED}):
                await self._to(S.FAILSAFE, f"vehicle switched to {mode} by itself", mode=mode)
        elif event.kind == "statustext" and _is_failsafe_action(event.data["text"]):
            if self.state in (_FLYING | {S.LINK_LOST}):
                await self._to(S.FAILSAFE, event.data["text"])

    async def _step(self) -> None:
        """Re-derive the nominal state from what the vehicle shows and check the corridor."""
        v = self.link
        if self.state is S.LINK_LOST:
            if not v.link_ok:
                return
            resumed = self._derive_flight_state()
            if resumed is None:
                resumed = S.COMPLETED if self._was_airborne else (self._state_before_link_loss or S.READY)
            if resumed in _FLYING and self._state_before_link_loss in _OFF_NOMINAL:
                resumed = self._state_before_link_loss  # an abort stays an abort across a link loss
            await self._to(resumed, "heartbeat resumed", **self._position())
            return
        if self.state in _FLYING:
            derived = self._derive_flight_state()
            if derived is not None and derived is not self.state and _is_forward(self.state, derived):
                delivery = self.plan.resolved_delivery_seq()
                if self.state is S.AIRBORNE and derived in (S.RETURNING, S.LANDING) and delivery is not None \
                        and v.mission_seq is not None and v.mission_seq > delivery:
                    # The vehicle flew through the delivery item between two looks (fast legs, or
                    # several MISSION_CURRENTs handled at once): it was delivered, so record it.
                    await self._to(S.DELIVERING, f"delivery item {delivery} passed (current {v.mission_seq})",
                                   mission_seq=v.mission_seq, **self._position())
                await self._to(derived, _reason(derived, v), mission_seq=v.mission_seq, **self._position())
        if self.state in _FLYING and self.plan.route and v.lat_deg is not None and v.lon_deg is not None:
            deviation_m = distance_to_route_m(v.lat_deg, v.lon_deg, self.plan.route)
            if deviation_m > self.plan.max_deviation_m and not self._deviation_alerted:
                self._deviation_alerted = True
                v._emit("corridor_deviation", deviation_m=round(deviation_m, 1),
                        max_deviation_m=self.plan.max_deviation_m)
                if self.plan.rtl_on_deviation:
                    await self._command_mode("RTL")
                    await self._to(S.DIVERTED, f"left the corridor by {deviation_m:.0f} m; RTL",
                                   deviation_m=round(deviation_m, 1))

    def _position(self) -> dict[str, Any]:
        v = self.link
        return {"lat_deg": v.lat_deg, "lon_deg": v.lon_deg, "alt_rel_m": v.alt_rel_m}


_ORDER = [S.AIRBORNE, S.DELIVERING, S.RETURNING, S.LANDING]


def _is_failsafe_action(text: str) -> bool:
    """True for a failsafe the vehicle acted on; ArduCopter also announces failsafes it only notes
    ("GCS Failsafe - Continuing Auto Mode" with FS_OPTIONS) and their end ("... Cleared")."""
    lowered = text.lower()
    return "failsafe" in lowered and "continuing" not in lowered and "cleared" not in lowered


def _is_forward(current: SortieState, new: SortieState) -> bool:
    # Progress only moves forward (a stale MISSION_CURRENT must not take us back to delivering).
    return _ORDER.index(new) > _ORDER.index(current)


def _reason(state: SortieState, v: VehicleLink) -> str:
    return {S.DELIVERING: f"delivery item {v.mission_seq} is current",
            S.RETURNING: f"past the delivery item (current {v.mission_seq}, mode {v.mode})",
            S.LANDING: f"landing (mode {v.mode}, current {v.mission_seq})",
            S.AIRBORNE: "airborne"}[state]


def _is_airborne(v: VehicleLink) -> bool:
    return v.armed and (v.landed_state in (LandedState.IN_AIR, LandedState.TAKEOFF)
                        or (v.alt_rel_m is not None and v.alt_rel_m > 1.0))


def _facts(exc: Exception) -> dict[str, Any]:
    return {k: v for k, v in vars(exc).items() if not k.startswith("_") and isinstance(v, (int, float, str, list, type(None)))}
