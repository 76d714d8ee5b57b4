"""Integration tests: the vehicle link over real TCP against the in-process SimVehicle."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

simvehicle = pytest.importorskip("sitl.simvehicle", reason="sitl.simvehicle not available yet")
SimVehicle, SimVehicleConfig = simvehicle.SimVehicle, simvehicle.SimVehicleConfig

from controller.vehicle.errors import ParamSetFailed  # noqa: E402
from controller.vehicle.manager import LinkManager, connect_vehicle  # noqa: E402
from controller.vehicle.mission_protocol import MissionTiming, compare_items  # noqa: E402
from controller.vehicle.sortie import SortieState, SortiePlan, SortieRunner, SortieTiming  # noqa: E402
from flight_plans.mission_item import MissionType  # noqa: E402
from vehicle_missions import fence_items, rally_items, sortie_items  # noqa: E402


def make_sim(**overrides):
    cfg = SimVehicleConfig(**{"sysid": 1, "home_lat_deg": 30.7245, "home_lon_deg": 122.452, "home_alt_m": 10.0,
                              "speedup": 20.0, "port": 0, "seed": 7, **overrides})
    sim = SimVehicle(cfg)
    sim.start()
    return sim


@pytest.fixture
def sim():
    vehicle = make_sim()
    try:
        yield vehicle
    finally:
        vehicle.stop()


async def wait_for(condition, timeout_s: float, what: str) -> None:
    """Poll a simulator-side condition (the sim runs in its own thread) until true or fail."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_heartbeats_both_ways_and_telemetry(sim):
    async with connect_vehicle(sim.url) as link:
        assert link.sysid == 1
        snaps = []
        async with contextlib.aclosing(link.telemetry()) as stream:
            async for snap in stream:
                snaps.append(snap)
                if snap.lat_deg is not None and snap.battery_remaining_pct is not None:
                    break
        assert abs(snaps[-1].lat_deg - 30.7245) < 1e-3 and abs(snaps[-1].lon_deg - 122.452) < 1e-3
        assert snaps[-1].armed is False and snaps[-1].link_ok
        assert not link._telemetry_queues  # iterator cleaned up


@pytest.mark.parametrize("loss", [0.0, 0.1, 0.3])
async def test_upload_and_verify_mission_under_packet_loss(loss):
    sim = make_sim(packet_loss=loss, seed=11)
    try:
        items = sortie_items(12 if loss < 0.3 else 6)
        async with connect_vehicle(sim.url, timeout_s=20.0) as link:
            back = await link.upload_and_verify(items, mission_type=MissionType.MISSION,
                                                timing=MissionTiming(max_retries=20))
        assert compare_items(items, back, mission_type=MissionType.MISSION) == []
        assert compare_items(items, list(sim.snapshot().mission_items), mission_type=MissionType.MISSION) == []
    finally:
        sim.stop()


async def test_fence_and_rally_round_trip(sim):
    async with connect_vehicle(sim.url) as link:
        await link.upload_and_verify(fence_items(), mission_type=MissionType.FENCE)
        await link.upload_and_verify(rally_items(), mission_type=MissionType.RALLY)
        assert await link.download_items(mission_type=MissionType.FENCE) == fence_items()
    snap = sim.snapshot()
    assert len(snap.fence_items) == 4 and len(snap.rally_items) == 2


async def test_params_verified_and_unknown_param_fails(sim):
    async with connect_vehicle(sim.url) as link:
        got = await link.ensure_params({"RTL_ALT": 3000.0, "FENCE_ENABLE": 1.0})
        assert got == {"RTL_ALT": 3000.0, "FENCE_ENABLE": 1.0}
        assert await link.get_param("RTL_ALT") == 3000.0
        with pytest.raises(ParamSetFailed) as info:
            await link.set_param("NO_SUCH_PARAM", 1.0, timeout_s=0.3, retries=1)
        assert info.value.got is None and info.value.name == "NO_SUCH_PARAM"


async def test_link_loss_and_restore_events(sim):
    async with connect_vehicle(sim.url) as link:
        with link.event_queue() as events:
            sim.silence()
            kinds = []
            async with asyncio.timeout(10):
                while "link_lost" not in kinds:
                    kinds.append((await events.get()).kind)
            assert not link.link_ok
            sim.resume()
            async with asyncio.timeout(10):
                while "link_restored" not in kinds:
                    kinds.append((await events.get()).kind)
            assert link.link_ok


def _plan(n_waypoints=3):
    mission = sortie_items(n_waypoints)
    route = [(i.lat_deg, i.lon_deg) for i in mission[1:]]
    return SortiePlan(mission=mission, fence=fence_items(), rally=rally_items(),
                      params={"RTL_ALT": 3000.0, "FENCE_ENABLE": 1.0}, delivery_seq=3, route=route,
                      max_deviation_m=200.0)


async def test_full_sortie_reaches_completed(sim):
    transitions = []
    reasons = []

    async def record(state, reason, data):
        transitions.append(state)
        reasons.append(reason)

    async with connect_vehicle(sim.url) as link:
        runner = SortieRunner(link, _plan(), on_transition=record,
                              timing=SortieTiming(flight_timeout_s=80.0))
        final = await runner.run()
    assert final.value == "completed", list(zip(transitions, reasons))
    assert transitions[:4] == ["uploading", "ready", "airborne", "delivering"]
    assert "returning" in transitions or "landing" in transitions
    assert not sim.snapshot().armed


async def test_abort_returns_to_launch(sim):
    transitions = []
    reasons = []

    async def record(state, reason, data):
        transitions.append(state)
        reasons.append(reason)

    async with connect_vehicle(sim.url) as link:
        runner = SortieRunner(link, _plan(), on_transition=record, timing=SortieTiming(flight_timeout_s=80.0))
        assert await runner.prepare() and await runner.launch()
        await runner.abort("test abort")
        assert sim.snapshot().mode == "RTL" or link.mode == "RTL"
        final = await runner.monitor()
    # The abort is recorded, and the flight completes once the vehicle is down at home.
    assert "aborted" in transitions and transitions[-1] == "completed" and final.value == "completed"
    assert "failsafe" not in transitions  # our own RTL is not a failsafe
    assert not sim.snapshot().armed


async def test_new_link_reattaches_to_flying_vehicle(sim):
    plan = _plan(4)
    async with connect_vehicle(sim.url) as link:
        runner = SortieRunner(link, plan, on_transition=lambda *a: asyncio.sleep(0))
        assert await runner.prepare() and await runner.launch()
        await link.wait_until(lambda v: (v.mission_seq or 0) >= 3, timeout_s=40, what="seq 3")
    # The controller "restarts": a new hub and link, nothing uploaded, nothing armed.
    states = []

    async def record(state, reason, data):
        states.append((state, data))

    async with connect_vehicle(sim.url) as link2:
        seen_seq = sim.snapshot().mission_current_seq
        # A restarted controller starts from the state it last persisted (the sortie was airborne).
        runner2 = SortieRunner(link2, plan, on_transition=record, timing=SortieTiming(flight_timeout_s=80.0),
                               initial_state=SortieState.AIRBORNE)
        state = await runner2.reattach()
        assert state.value in ("delivering", "returning", "landing")
        assert link2.mission_seq is not None and link2.mission_seq >= 3
        assert abs(link2.mission_seq - seen_seq) <= 1
        final = await runner2.monitor()
    assert final.value == "completed"


async def test_two_vehicles_on_one_hub():
    a, b = make_sim(sysid=1), make_sim(sysid=2, home_lat_deg=30.73)
    try:
        async with LinkManager() as hub:
            await hub.connect(a.url)
            await hub.connect(b.url)
            la = await hub.wait_vehicle(1)
            lb = await hub.wait_vehicle(2)
            await la.wait_until(lambda v: v.lat_deg is not None, timeout_s=10, what="position 1")
            await lb.wait_until(lambda v: v.lat_deg is not None, timeout_s=10, what="position 2")
            assert abs(lb.lat_deg - 30.73) < 1e-3 and abs(la.lat_deg - 30.7245) < 1e-3
    finally:
        a.stop()
        b.stop()
