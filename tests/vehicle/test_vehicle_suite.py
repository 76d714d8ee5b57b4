"""The vehicle suite (issue 4), written once for both backends.

Every test gets its vehicles from ``vehicle`` / ``vehicle_factory`` (the simulator by default, real
ArduPilot SITL with ``DISPATCH_VEHICLE_BACKEND=sitl``) and asserts only what the vehicle says over
MAVLink: downloaded mission/fence/rally, PARAM_VALUE, HEARTBEAT mode and armed flag,
GLOBAL_POSITION_INT, EXTENDED_SYS_STATE, MISSION_CURRENT. Faults are injected by
``sitl.faultproxy.FaultProxy`` between controller and vehicle, so they work on both backends.
Checks only the simulator can make are separate ``test_sim_only_*`` tests that skip on SITL.

Timing: both backends run the vehicle (timers, failsafes) in simulated time at ``speedup``. The GCS
sends one heartbeat per simulated second; flights give the GCS failsafe a timeout of 1 wall second
(or more where the test itself pauses the controller), so a busy test machine does not trigger it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math

import pytest

from controller.vehicle.dialect import mavlink2
from controller.vehicle.errors import ParamSetFailed
from controller.vehicle.link import VehicleLink
from controller.vehicle.manager import LinkManager, connect_vehicle
from controller.vehicle.mission_protocol import MissionTiming, compare_items
from controller.vehicle.sortie import SortiePlan, SortieRunner, SortieState, SortieTiming
from controller.vehicle.telemetry import LandedState
from flight_plans.mission_item import MissionType
from sitl.faultproxy import FrameFaults
from sitl.pytest_plugin import TestVehicle, require_sim, require_sim_backend
from vehicle_missions import fence_items, rally_items, sortie_items

MSG_EXTENDED_SYS_STATE = 245


def connect(vehicle: TestVehicle, url: str | None = None, **options):
    """Connect to ``vehicle`` (or through ``url``, e.g. a fault proxy) sending heartbeats in its time."""
    return connect_vehicle(url or vehicle.url, sysid=vehicle.sysid, timeout_s=options.pop("timeout_s", 30.0),
                           heartbeat_period_s=vehicle.gcs_heartbeat_period_s, **options)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (spherical Earth, fine for a few km)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6_371_000.0 * math.asin(math.sqrt(a))


async def request_interval(link: VehicleLink, message_id: int, rate_hz: float) -> None:
    """Ask for a message at ``rate_hz`` (SET_MESSAGE_INTERVAL): not every stream group carries it."""
    await link.command_long(mavlink2.MAV_CMD_SET_MESSAGE_INTERVAL, [message_id, 1e6 / rate_hz])


def flight_params(vehicle: TestVehicle, *, gcs_grace_wall_s: float = 1.0) -> dict[str, float]:
    """Sortie parameters: RTL at 30 m, fence on, GCS failsafe (RTL) after ``gcs_grace_wall_s`` wall s."""
    return {"RTL_ALT": 3000.0, "FENCE_ENABLE": 1.0, "FS_GCS_ENABLE": 1.0,
            "FS_GCS_TIMEOUT": float(max(5, round(vehicle.sim_seconds(gcs_grace_wall_s))))}


def plan_for(vehicle: TestVehicle, n_waypoints: int = 3, **param_options) -> SortiePlan:
    mission = sortie_items(n_waypoints)
    route = [(i.lat_deg, i.lon_deg) for i in mission[1:]]
    return SortiePlan(mission=mission, fence=fence_items(), rally=rally_items(),
                      params=flight_params(vehicle, **param_options), delivery_seq=3, route=route,
                      max_deviation_m=200.0)


class Recorder:
    """on_transition callback that keeps (state, reason) and lets a test wait for a state."""

    def __init__(self) -> None:
        self.states: list[str] = []
        self.reasons: list[str] = []
        self._changed = asyncio.Event()

    async def __call__(self, state: str, reason: str, data: dict) -> None:
        self.states.append(state)
        self.reasons.append(reason)
        self._changed.set()

    async def wait_for(self, state: str, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            while state not in self.states:
                self._changed.clear()
                await self._changed.wait()

    def __repr__(self) -> str:
        return repr(list(zip(self.states, self.reasons)))


async def assert_down_and_disarmed_near(link: VehicleLink, lat_deg: float, lon_deg: float, *,
                                        within_m: float) -> None:
    """HEARTBEAT disarmed, EXTENDED_SYS_STATE on the ground, GLOBAL_POSITION_INT near the point."""
    await request_interval(link, MSG_EXTENDED_SYS_STATE, 4.0)
    await link.wait_until(lambda v: not v.armed and v.landed_state is LandedState.ON_GROUND and v.alt_rel_m is not None
                          and v.alt_rel_m < 1.0, timeout_s=10, what="disarmed on the ground")
    off_m = distance_m(link.lat_deg, link.lon_deg, lat_deg, lon_deg)
    assert off_m < within_m, f"landed {off_m:.1f} m from ({lat_deg}, {lon_deg})"


# --- link, telemetry, parameters ----------------------------------------------------------------------


async def test_heartbeats_both_ways_and_telemetry(vehicle: TestVehicle) -> None:
    async with connect(vehicle) as link:
        assert link.sysid == vehicle.sysid
        async with contextlib.aclosing(link.telemetry()) as stream:
            async for snap in stream:
                if snap.lat_deg is not None and snap.battery_remaining_pct is not None:
                    break
        assert distance_m(snap.lat_deg, snap.lon_deg, vehicle.home_lat_deg, vehicle.home_lon_deg) < 20
        assert snap.armed is False and snap.link_ok and snap.mode != "UNKNOWN"
        assert not link._telemetry_queues  # iterator cleaned up


async def test_params_verified_and_unknown_param_fails(vehicle: TestVehicle) -> None:
    async with connect(vehicle) as link:
        # island_copter.parm is loaded on both backends.
        assert await link.get_param("FS_GCS_TIMEOUT") == 5.0
        assert await link.get_param("FENCE_TYPE") == 5.0
        got = await link.ensure_params({"RTL_ALT": 3000.0, "FENCE_ENABLE": 1.0})
        assert got == {"RTL_ALT": 3000.0, "FENCE_ENABLE": 1.0}
        assert await link.get_param("RTL_ALT") == 3000.0
        with pytest.raises(ParamSetFailed) as info:
            await link.set_param("NO_SUCH_PARAM", 1.0, timeout_s=0.3, retries=1)
        assert info.value.got is None and info.value.name == "NO_SUCH_PARAM"


# --- mission, fence and rally transfers ---------------------------------------------------------------


@pytest.mark.parametrize("loss", [0.0, 0.1, 0.3])
async def test_upload_and_verify_mission_under_frame_loss(vehicle: TestVehicle, fault_proxy, loss: float) -> None:
    faults = FrameFaults(drop=loss)
    proxy = fault_proxy(vehicle, to_vehicle=faults, to_gcs=faults, seed=11)
    items = sortie_items(12 if loss < 0.3 else 6)
    async with connect(vehicle, proxy.url) as link:
        back = await link.upload_and_verify(items, mission_type=MissionType.MISSION,
                                            timing=MissionTiming(max_retries=20))
    assert compare_items(items, back, mission_type=MissionType.MISSION) == []
    stats = proxy.stats
    if loss:
        assert stats["to_vehicle"].dropped > 0 and stats["to_gcs"].dropped > 0, stats
    else:
        assert stats["to_vehicle"].dropped == stats["to_gcs"].dropped == 0
    # A fresh, clean connection (SITL's SERIAL0 takes one at a time) reads the same mission back.
    async with connect(vehicle) as link:
        again = await link.download_items(mission_type=MissionType.MISSION)
    assert compare_items(items, again, mission_type=MissionType.MISSION) == []


async def test_upload_through_duplicating_reordering_delaying_link(vehicle: TestVehicle, fault_proxy) -> None:
    faults = FrameFaults(duplicate=0.2, reorder=0.2, delay_s=0.02, jitter_s=0.02)
    proxy = fault_proxy(vehicle, to_vehicle=faults, to_gcs=faults, seed=5)
    items = sortie_items(8)
    async with connect(vehicle, proxy.url) as link:
        back = await link.upload_and_verify(items, mission_type=MissionType.MISSION,
                                            timing=MissionTiming(max_retries=20))
    assert compare_items(items, back, mission_type=MissionType.MISSION) == []
    assert proxy.stats["to_vehicle"].duplicated and proxy.stats["to_gcs"].reordered


async def test_fence_and_rally_round_trip(vehicle: TestVehicle) -> None:
    async with connect(vehicle) as link:
        await link.upload_and_verify(fence_items(), mission_type=MissionType.FENCE)
        await link.upload_and_verify(rally_items(), mission_type=MissionType.RALLY)
        fence = await link.download_items(mission_type=MissionType.FENCE)
        rally = await link.download_items(mission_type=MissionType.RALLY)
        assert compare_items(fence_items(), fence, mission_type=MissionType.FENCE) == []
        assert [(i.command, i.param1, i.x, i.y) for i in fence] == [(5001, 4.0, i.x, i.y) for i in fence_items()]
        assert compare_items(rally_items(), rally, mission_type=MissionType.RALLY) == []
        assert await link.get_param("RALLY_TOTAL") == 2.0


# --- flights ------------------------------------------------------------------------------------------


async def test_full_sortie_reaches_completed(vehicle: TestVehicle) -> None:
    record = Recorder()
    plan = plan_for(vehicle)
    async with connect(vehicle) as link:
        runner = SortieRunner(link, plan, on_transition=record, timing=SortieTiming(flight_timeout_s=80.0))
        final = await runner.run()
        assert final is SortieState.COMPLETED, record
        assert record.states[:4] == ["uploading", "ready", "airborne", "delivering"], record
        assert "returning" in record.states or "landing" in record.states
        assert not {"failsafe", "aborted", "link_lost"} & set(record.states), record
        land = plan.mission[-1]
        await assert_down_and_disarmed_near(link, land.lat_deg, land.lon_deg, within_m=10.0)


async def test_abort_returns_to_nearest_rally_point_or_home(vehicle: TestVehicle) -> None:
    record = Recorder()
    plan = plan_for(vehicle)
    async with connect(vehicle) as link:
        runner = SortieRunner(link, plan, on_transition=record, timing=SortieTiming(flight_timeout_s=80.0))
        assert await runner.prepare() and await runner.launch()
        at_abort = (link.lat_deg, link.lon_deg)
        await runner.abort("test abort")
        assert link.mode == "RTL"  # set_mode returns once a HEARTBEAT shows it
        final = await runner.monitor()
        # The abort is recorded, and the flight completes once the vehicle is down.
        assert "aborted" in record.states and final is SortieState.COMPLETED, record
        assert "failsafe" not in record.states  # our own RTL is not a failsafe
        # RTL goes to the nearest rally point, home included (RALLY_INCL_HOME).
        targets = [(vehicle.home_lat_deg, vehicle.home_lon_deg)] + [(i.lat_deg, i.lon_deg) for i in plan.rally]
        target = min(targets, key=lambda t: distance_m(*at_abort, *t))
        await assert_down_and_disarmed_near(link, *target, within_m=10.0)


async def test_abort_just_before_arming_cancels_and_never_arms(vehicle: TestVehicle) -> None:
    """An operator abort that arrives while the launch is under way (here: as the launch marker is
    written, the last step before arming) calls the launch off: the vehicle is never armed."""
    record = Recorder()
    async with connect(vehicle) as link:
        armed_seen: list[bool] = []
        link_watch = asyncio.create_task(_record_armed(link, armed_seen))

        async def operator_aborts_now(evidence: object) -> None:
            await runner.abort("operator: pad crew still on the pad", requested_by="dispatcher-li")

        runner = SortieRunner(link, plan_for(vehicle), on_transition=record, before_arm=operator_aborts_now,
                              timing=SortieTiming(flight_timeout_s=80.0))
        final = await runner.run()
        await asyncio.sleep(0.5)  # an arm command would show in a heartbeat by now
        link_watch.cancel()
        assert final is SortieState.CANCELLED, record
        assert record.states == ["uploading", "ready", "aborted", "cancelled"], record
        assert not link.armed and not any(armed_seen), "the vehicle was armed after the abort"


async def test_abort_right_after_arming_disarms_on_the_pad_and_cancels(vehicle: TestVehicle) -> None:
    """The abort lands when the vehicle has just armed: the mission is never started, the vehicle is
    disarmed where it stands and the sortie is cancelled."""
    record = Recorder()
    async with connect(vehicle) as link:
        runner = SortieRunner(link, plan_for(vehicle), on_transition=record,
                              timing=SortieTiming(flight_timeout_s=80.0))
        arm = link.arm

        async def arm_then_operator_aborts() -> None:
            await arm()  # acked: armed (the heartbeat showing it may still be on its way)
            await runner.abort("operator: wrong parcel loaded", requested_by="dispatcher-li")

        link.arm = arm_then_operator_aborts  # type: ignore[method-assign]
        final = await runner.run()
        assert final is SortieState.CANCELLED, record
        assert record.states == ["uploading", "ready", "aborted", "cancelled"], record
        await link.wait_until(lambda v: not v.armed, timeout_s=5.0, what="disarmed")
        assert (link.alt_rel_m or 0.0) < 1.0


async def test_abort_during_upload_stops_before_ready(vehicle: TestVehicle) -> None:
    """An abort while the mission is being uploaded: the preparation stops, nothing is armed."""
    record = Recorder()
    async with connect(vehicle) as link:
        pending: list[asyncio.Task] = []

        async def on_transition(state: str, reason: str, data: dict) -> None:
            await record(state, reason, data)
            if state == "uploading":  # the operator's abort lands while the fence is on its way
                pending.append(asyncio.create_task(runner.abort("operator abort", requested_by="dispatcher-li")))

        runner = SortieRunner(link, plan_for(vehicle), on_transition=on_transition,
                              timing=SortieTiming(flight_timeout_s=80.0))
        final = await runner.run()
        await asyncio.gather(*pending)
        assert final is SortieState.CANCELLED, record
        assert record.states == ["uploading", "aborted", "cancelled"], record
        assert not link.armed


async def _record_armed(link: VehicleLink, seen: list[bool]) -> None:
    while True:
        seen.append(bool(link.armed))
        await link.wait_change(timeout_s=1.0)


async def test_link_loss_on_the_ground_and_restore_events(vehicle: TestVehicle, fault_proxy) -> None:
    proxy = fault_proxy(vehicle)
    async with connect(vehicle, proxy.url) as link:
        with link.event_queue() as events:
            proxy.cut()
            kinds = []
            async with asyncio.timeout(10):
                while "link_lost" not in kinds:
                    kinds.append((await events.get()).kind)
            assert not link.link_ok
            proxy.restore()
            async with asyncio.timeout(10):
                while "link_restored" not in kinds:
                    kinds.append((await events.get()).kind)
            assert link.link_ok
    assert proxy.stats["to_gcs"].cut > 0 and proxy.stats["to_vehicle"].cut > 0


async def test_link_loss_in_flight_gcs_failsafe_brings_it_back(vehicle: TestVehicle, fault_proxy) -> None:
    record = Recorder()
    plan = plan_for(vehicle, n_waypoints=4)
    proxy = fault_proxy(vehicle)
    modes: list[str] = []
    async with connect(vehicle, proxy.url) as link:
        runner = SortieRunner(link, plan, on_transition=record, timing=SortieTiming(flight_timeout_s=80.0))
        assert await runner.prepare() and await runner.launch()
        with link.event_queue() as events:
            monitor = asyncio.create_task(runner.monitor())
            await link.wait_until(lambda v: (v.mission_seq or 0) >= 2, timeout_s=30, what="seq 2")
            proxy.cut()  # radio out of range: nothing either way
            await record.wait_for("link_lost", timeout_s=10)
            proxy.restore()
            final = await monitor
            while not events.empty():
                event = events.get_nowait()
                if event.kind == "mode_changed":
                    modes.append(event.data["mode"])
        # The vehicle's own GCS failsafe (FS_GCS_ENABLE 1 = RTL) took it home while we were cut off.
        assert "RTL" in modes, modes
        assert final is SortieState.COMPLETED, record
        assert record.states.index("link_lost") < record.states.index("failsafe"), record
        targets = [(vehicle.home_lat_deg, vehicle.home_lon_deg)] + [(i.lat_deg, i.lon_deg) for i in plan.rally]
        assert min(distance_m(link.lat_deg, link.lon_deg, *t) for t in targets) < 10.0


async def test_controller_restart_mid_flight_reattaches_without_upload(vehicle: TestVehicle) -> None:
    # A restart leaves the vehicle without our heartbeat for a while: give it 3 wall seconds.
    plan = plan_for(vehicle, n_waypoints=4, gcs_grace_wall_s=3.0)
    async with connect(vehicle) as link:
        runner = SortieRunner(link, plan, on_transition=Recorder())
        assert await runner.prepare() and await runner.launch()
        await link.wait_until(lambda v: (v.mission_seq or 0) >= 3, timeout_s=40, what="seq 3")
    # The controller "restarts": a new hub and link, nothing uploaded, nothing armed.
    record = Recorder()
    async with connect(vehicle) as link2:
        # An upload would show as the vehicle requesting items (MISSION_REQUEST / _INT).
        requests: list[str] = []
        link2.router.add_listener(lambda m: requests.append(m.get_type())
                                  if m.get_type() in ("MISSION_REQUEST", "MISSION_REQUEST_INT") else None)
        # A restarted controller starts from the state it last persisted (the sortie was airborne).
        runner2 = SortieRunner(link2, plan, on_transition=record, timing=SortieTiming(flight_timeout_s=80.0),
                               initial_state=SortieState.AIRBORNE)
        state = await runner2.reattach()
        assert state.value in ("delivering", "returning", "landing"), record
        assert link2.mission_seq is not None and link2.mission_seq >= 3  # the mission went on, not restarted
        assert link2.mode == "AUTO" and link2.armed
        final = await runner2.monitor()
        assert requests == []  # nothing was uploaded
    assert final is SortieState.COMPLETED, record
    assert "failsafe" not in record.states, record


async def test_two_vehicles_on_one_hub(vehicle_factory) -> None:
    a = vehicle_factory(sysid=1)
    b = vehicle_factory(sysid=2, lat_deg=30.73)
    async with LinkManager(heartbeat_period_s=a.gcs_heartbeat_period_s) as hub:
        await hub.connect(a.url)
        await hub.connect(b.url)
        la = await hub.wait_vehicle(1, timeout_s=30)
        lb = await hub.wait_vehicle(2, timeout_s=30)
        await la.wait_until(lambda v: v.lat_deg is not None, timeout_s=10, what="position 1")
        await lb.wait_until(lambda v: v.lat_deg is not None, timeout_s=10, what="position 2")
        assert abs(lb.lat_deg - 30.73) < 1e-3 and abs(la.lat_deg - a.home_lat_deg) < 1e-3


# --- checks only the simulator can make ---------------------------------------------------------------


@pytest.mark.parametrize("legacy", [True, False], ids=["MISSION_REQUEST", "MISSION_REQUEST_INT"])
async def test_sim_only_client_uploads_with_either_request_type(vehicle_backend: str, legacy: bool) -> None:
    require_sim_backend(vehicle_backend, "choose which request message the vehicle sends")
    from sitl.pytest_plugin import make_sim_config
    from sitl.simvehicle import SimVehicle

    with SimVehicle(make_sim_config(request_legacy=legacy)) as sim:
        seen: list[str] = []
        items = sortie_items(4)
        async with connect_vehicle(sim.url) as link:
            link.router.add_listener(lambda m: seen.append(m.get_type())
                                     if m.get_type().startswith("MISSION_REQUEST") else None)
            back = await link.upload_and_verify(items, mission_type=MissionType.MISSION)
        assert compare_items(items, back, mission_type=MissionType.MISSION) == []
        wanted = "MISSION_REQUEST" if legacy else "MISSION_REQUEST_INT"
        assert seen and set(seen) == {wanted}, seen


def test_sim_only_default_requests_are_legacy_like_ardupilot() -> None:
    from sitl.simvehicle import SimVehicleConfig

    assert SimVehicleConfig(home_lat_deg=0, home_lon_deg=0, home_alt_m=0).request_legacy is True


async def test_sim_only_vehicle_storage_matches_what_download_reports(vehicle: TestVehicle, fault_proxy) -> None:
    sim = require_sim(vehicle, "the vehicle's internal mission/fence/rally storage")
    lossy = FrameFaults(drop=0.1)
    proxy = fault_proxy(vehicle, to_vehicle=lossy, to_gcs=lossy, seed=3)
    items = sortie_items(5)
    async with connect(vehicle, proxy.url) as link:
        await link.upload_and_verify(fence_items(), mission_type=MissionType.FENCE,
                                     timing=MissionTiming(max_retries=20))
        await link.upload_and_verify(rally_items(), mission_type=MissionType.RALLY,
                                     timing=MissionTiming(max_retries=20))
        back = await link.upload_and_verify(items, mission_type=MissionType.MISSION,
                                            timing=MissionTiming(max_retries=20))
    snap = sim.snapshot()
    assert list(snap.mission_items) == back
    assert compare_items(fence_items(), list(snap.fence_items), mission_type=MissionType.FENCE) == []
    assert compare_items(rally_items(), list(snap.rally_items), mission_type=MissionType.RALLY) == []
