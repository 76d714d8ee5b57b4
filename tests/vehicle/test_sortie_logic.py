"""Sortie state logic driven by real decoded MAVLink messages fed to a VehicleLink (no sockets)."""

from __future__ import annotations

import asyncio

import pytest

from controller.vehicle.dialect import mavlink2 as m
from controller.vehicle.errors import IllegalTransition
from controller.vehicle.link import VehicleLink
from controller.vehicle.router import MessageRouter
from controller.vehicle.sortie import SortiePlan, SortieRunner, SortieState, SortieTiming
from vehicle_missions import sortie_items

_VEHICLE = m.MAVLink(None, 1, 1)
ARMED = m.MAV_MODE_FLAG_SAFETY_ARMED | m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED


def from_vehicle(msg):
    """Give ``msg`` a real header from system 1 / component 1 by encoding and decoding it."""
    return _VEHICLE.decode(bytearray(msg.pack(_VEHICLE)))


class Sent(list):
    def send(self, msg):
        self.append(msg)


def heartbeat(mode: int, armed: bool = True):
    return from_vehicle(m.MAVLink_heartbeat_message(m.MAV_TYPE_QUADROTOR, m.MAV_AUTOPILOT_ARDUPILOTMEGA,
                                                    ARMED if armed else 1, mode, 4, 3))


def current(seq: int, total: int = 7):
    return from_vehicle(m.MAVLink_mission_current_message(seq, total, 0, 0))


def landed(state: int):
    return from_vehicle(m.MAVLink_extended_sys_state_message(0, state))


@pytest.fixture
def rig():
    router = MessageRouter()
    sent = Sent()
    link = VehicleLink(sender=sent, router=router, sysid=1, send_gcs_heartbeat=False)
    transitions: list[tuple[str, str]] = []

    async def record(state, reason, data):
        transitions.append((state, reason))

    plan = SortiePlan(mission=sortie_items(3), delivery_seq=3)
    runner = SortieRunner(link, plan, on_transition=record, timing=SortieTiming(flight_timeout_s=10),
                          initial_state=SortieState.AIRBORNE)
    runner._was_airborne = True
    router.dispatch(heartbeat(3))
    router.dispatch(landed(2))
    return router, link, runner, transitions


async def start_monitor(runner, link):
    task = asyncio.create_task(runner.monitor())
    async with asyncio.timeout(3):
        while not link._event_queues:  # the monitor registers for events before acting
            await asyncio.sleep(0)
    return task


async def feed_and_wait(router, runner, transitions, msgs, state):
    for msg in msgs:
        router.dispatch(msg)
    async with asyncio.timeout(3):
        while runner.state.value != state:
            await asyncio.sleep(0.01)  # yield to the monitor task; bounded by the timeout above


async def test_nominal_progress_to_completed(rig):
    router, link, runner, transitions = rig
    task = await start_monitor(runner, link)
    await feed_and_wait(router, runner, transitions, [current(2)], "airborne")
    await feed_and_wait(router, runner, transitions, [current(3)], "delivering")
    await feed_and_wait(router, runner, transitions, [current(4)], "returning")
    await feed_and_wait(router, runner, transitions, [current(5)], "landing")
    router.dispatch(current(3))  # stale progress must not go backwards
    router.dispatch(landed(1))
    router.dispatch(heartbeat(3, armed=False))
    assert await asyncio.wait_for(task, 3) is SortieState.COMPLETED
    assert [s for s, _ in transitions] == ["delivering", "returning", "landing", "completed"]


async def test_mode_change_not_by_us_is_failsafe_and_link_loss_resumes(rig):
    router, link, runner, transitions = rig
    task = await start_monitor(runner, link)
    await feed_and_wait(router, runner, transitions, [current(3)], "delivering")
    await feed_and_wait(router, runner, transitions, [heartbeat(6)], "failsafe")
    assert "RTL" in transitions[-1][1]
    link._emit("link_lost", silent_s=3.2)
    link.link_ok = False
    await feed_and_wait(router, runner, transitions, [], "link_lost")
    await feed_and_wait(router, runner, transitions, [heartbeat(6)], "failsafe")  # off-nominal kept
    router.dispatch(landed(1))
    router.dispatch(heartbeat(6, armed=False))
    # Down and disarmed: the failsafe flight completes, with the failsafe kept in its history.
    assert await asyncio.wait_for(task, 3) is SortieState.COMPLETED
    assert [t[0] for t in transitions][-2:] == ["failsafe", "completed"]


async def test_failsafe_statustext(rig):
    router, link, runner, transitions = rig
    task = await start_monitor(runner, link)
    # ArduCopter only notes these: the mission goes on (FS_OPTIONS "continue in AUTO"), then it clears.
    for note in (b"GCS Failsafe - Continuing Auto Mode", b"GCS Failsafe Cleared"):
        router.dispatch(from_vehicle(m.MAVLink_statustext_message(6, note, 0, 0)))
    text = from_vehicle(m.MAVLink_statustext_message(2, b"Battery Failsafe", 0, 0))
    await feed_and_wait(router, runner, transitions, [text], "failsafe")
    assert [t[0] for t in transitions].count("failsafe") == 1
    assert transitions[-1][1] == "Battery Failsafe"
    task.cancel()


async def test_illegal_transition_raises(rig):
    _router, _link, runner, _transitions = rig
    with pytest.raises(IllegalTransition) as info:
        await runner._to(SortieState.UPLOADING, "no")
    assert (info.value.current, info.value.wanted) == ("airborne", "uploading")


async def test_corridor_deviation_alerts_and_diverts(rig):
    router, link, runner, transitions = rig
    runner.plan = SortiePlan(mission=runner.plan.mission, route=[(30.7245, 122.452), (30.73, 122.452)],
                             max_deviation_m=50.0, rtl_on_deviation=True)
    with link.event_queue() as events:
        task = await start_monitor(runner, link)
        far = from_vehicle(m.MAVLink_global_position_int_message(0, int(30.727e7), int(122.454e7), 40000,
                                                                 30000, 0, 0, 0, 0))
        router.dispatch(far)
        async with asyncio.timeout(3):
            while runner._commanded_mode != "RTL":
                await asyncio.sleep(0.01)
        # RTL goes out as DO_SET_MODE; the vehicle's ack and mode change complete it.
        sent_cmds = [x for x in link.sender if x.get_type() == "COMMAND_LONG"]
        assert sent_cmds and sent_cmds[-1].command == m.MAV_CMD_DO_SET_MODE and sent_cmds[-1].param2 == 6
        router.dispatch(from_vehicle(m.MAVLink_command_ack_message(m.MAV_CMD_DO_SET_MODE, 0, 0, 0, 255, 190)))
        router.dispatch(heartbeat(6))
        await feed_and_wait(router, runner, transitions, [], "diverted")
        kinds = []
        while not events.empty():
            kinds.append(events.get_nowait().kind)
        assert "corridor_deviation" in kinds
        assert "failsafe" not in [s for s, _ in transitions]
        task.cancel()


async def test_delivery_item_flown_through_between_two_looks_is_still_recorded(rig):
    router, link, runner, transitions = rig
    # MISSION_CURRENT 3 and 4 handled before the runner looks: it only ever sees 4.
    router.dispatch(current(3))
    router.dispatch(current(4))
    await runner._step()
    assert [s for s, _ in transitions] == ["delivering", "returning"]
    assert "passed" in transitions[0][1]
