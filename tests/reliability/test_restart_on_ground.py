"""Issue 8 (kill -9 found it): a controller restarted while a sortie is ``ready`` must neither take the
vehicle's leftovers from an earlier flight for this sortie's flight, nor fly a sortie twice that the
vehicle flew while no controller was watching.

One simulated ArduCopter flies identical round trips caiyuan -> payload place at wulong -> land at
caiyuan, so the mission on the vehicle always matches the next sortie's plan. Each case puts a sortie in
``ready`` in the database, as a controller killed at that point leaves it, and starts a new controller:

1. no launch marker, and the vehicle's current mission item is the end of the previous flight
   (as MISSION_CURRENT shows when another GCS set it, or on firmware that does not reset it) -> launched;
2. launch marker written, then the vehicle flew the whole mission by itself and its battery was swapped
   -> completed (the flight time counter STAT_FLTTIME grew), delivered, not flown again;
3. launch marker written, but the arm never happened (battery unchanged) -> launched.
"""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from pymavlink import mavutil
from sqlalchemy import update

from controller.api.app import create_app
from controller.db.engine import transaction
from controller.db.models import Pad, Parcel, Sortie
from controller.db.types import utc_now
from controller.domain.sortie_states import SortieState
from controller.services import parcels, sorties
from sitl.simvehicle import SimVehicle
from tests.conftest import make_settings
from tests.operations.conftest import plan_sortie, start_sim_for, wait_for, wait_state
from tests.reliability.conftest import count_texts, island_copter_params, transitions

DONE = {"completed", "upload_failed", "preflight_failed"}
GCS_SYSID = 250  # the controller's SYSID_MYGCS: the pilot below speaks as the GCS the vehicle trusts
COPTER_GUIDED = 4
SPEEDUP = 60.0
# Wulong's pad is moved this fraction of the way from Caiyuan (3.9 km -> about 0.8 km) in this test's
# database, so that four round trips fit the suite's time budget; the geometry stays the planner's.
WULONG_PAD_FRACTION = 0.2


def _plan(factory, sortie_id: str) -> None:  # type: ignore[no-untyped-def]
    plan_sortie(factory, sortie_id=sortie_id, drone_id="d01", origin="caiyuan", stops=["wulong", "caiyuan"],
                parcel_ids=[f"P{sortie_id}"])


def _leave_in_ready(factory, sortie_id: str, *, launch_battery_pct: float | None = None,  # type: ignore[no-untyped-def]
                   launch_flight_time_s: int | None = None) -> None:
    """What a controller killed after ``ready`` (and, with a battery level, after the launch marker) leaves."""
    with transaction(factory) as session:
        sortie = sorties.get_sortie(session, sortie_id, for_update=True)
        for state in (SortieState.UPLOADING, SortieState.READY):
            sorties.transition(session, sortie=sortie, to_state=state, actor="controller:killed", reason="test")
        if launch_battery_pct is not None:
            session.execute(update(Sortie).where(Sortie.id == sortie_id).values(
                launch_commanded_at=utc_now(), launch_battery_pct=launch_battery_pct,
                launch_flight_time_s=launch_flight_time_s))


class _Pilot:
    """Another MAVLink GCS on the vehicle's port (speaking as SYSID_MYGCS so no GCS failsafe trips)."""

    def __init__(self, vehicle: SimVehicle, target_sysid: int) -> None:
        self.conn = mavutil.mavlink_connection(vehicle.url, source_system=GCS_SYSID, source_component=190)
        self.conn.wait_heartbeat(timeout=10)
        self.target = target_sysid

    def command(self, command: int, *params: float) -> None:
        padded = list(params) + [0.0] * (7 - len(params))
        self.conn.mav.heartbeat_send(mavutil.mavlink.MAV_TYPE_GCS, mavutil.mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)
        self.conn.mav.command_long_send(self.target, 1, command, 0, *padded)
        ack = self.conn.recv_match(type="COMMAND_ACK", blocking=True, timeout=5,
                                   condition=f"COMMAND_ACK.command=={command}")
        assert ack is not None and ack.result == 0, f"command {command} refused: {ack}"

    def param(self, name: str) -> float:
        self.conn.mav.param_request_read_send(self.target, 1, name.encode(), -1)
        reply = self.conn.recv_match(type="PARAM_VALUE", blocking=True, timeout=5,
                                     condition=f"PARAM_VALUE.param_id=='{name}'")
        assert reply is not None, f"no PARAM_VALUE for {name}"
        return float(reply.param_value)

    def close(self) -> None:
        self.conn.close()


def _run_controller_until(settings, factory, sortie_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    with TestClient(create_app(settings)):
        wait_state(factory, sortie_id, DONE, timeout_s=120)
    with factory() as session:
        reason = sorties.get_sortie(session, sortie_id).state_reason
    return [s for s, _ in transitions(factory, sortie_id)] + [f"({reason})"]


def _delivered(factory, parcel_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    with factory() as session:
        parcel = session.get(Parcel, parcel_id)
        assert parcel.state == "at_service_point" and parcel.location_id == "wulong-station", parcel.state
        return [e.to_state for e in parcels.tracking_events(session, parcel_id)]


def test_restart_in_ready_neither_mistakes_an_old_flight_nor_flies_twice(shengsi_factory, sqlite_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    flight_settings = make_settings(sqlite_url, tmp_path, run_vehicles=True, executor_tick_s=0.2,
                                    gcs_heartbeat_period_s=1.0 / SPEEDUP, instance_id="controller-b")
    with transaction(shengsi_factory) as session:
        caiyuan, wulong = session.get(Pad, "caiyuan"), session.get(Pad, "wulong")
        wulong.lat_deg = caiyuan.lat_deg + WULONG_PAD_FRACTION * (wulong.lat_deg - caiyuan.lat_deg)
        wulong.lon_deg = caiyuan.lon_deg + WULONG_PAD_FRACTION * (wulong.lon_deg - caiyuan.lon_deg)
    vehicle = start_sim_for(shengsi_factory, "d01", speedup=SPEEDUP, params=island_copter_params())
    try:
        # A first sortie flown normally leaves its (identical) mission on the vehicle.
        _plan(shengsi_factory, "R1")
        assert _run_controller_until(flight_settings, shengsi_factory, "R1")[-2] == "completed"

        # Case 1: killed in ready before the launch marker; the vehicle shows the previous mission's end.
        _plan(shengsi_factory, "R2")
        _leave_in_ready(shengsi_factory, "R2")
        vehicle.replace_battery()
        pilot = _Pilot(vehicle, target_sysid=vehicle.config.sysid)
        last_seq = len(vehicle.snapshot().mission_items) - 1
        pilot.command(mavutil.mavlink.MAV_CMD_DO_SET_MISSION_CURRENT, last_seq)
        wait_for(lambda: vehicle.snapshot().mission_current_seq == last_seq, timeout_s=5, what="current = last")
        states = _run_controller_until(flight_settings, shengsi_factory, "R2")
        snap = vehicle.snapshot()
        counts = f"states={states} takeoffs={count_texts(snap.statustexts, 'Mission: 1 Takeoff')}"
        assert states[-2] == "completed" and states.count("airborne") == 1, counts
        assert count_texts(snap.statustexts, "Mission: 1 Takeoff") == 2, f"R2 was never flown: {counts}"
        assert count_texts(snap.statustexts, "Gripper load released") == 2, counts
        assert _delivered(shengsi_factory, "PR2").count("at_service_point") == 1

        # Case 2: launch marker written, then the vehicle flew the whole mission with no controller, and the
        # pad crew swapped its battery before the controller came back: only the flight time counter tells.
        _plan(shengsi_factory, "R3")
        vehicle.replace_battery()
        flight_time_before = int(pilot.param("STAT_FLTTIME"))
        _leave_in_ready(shengsi_factory, "R3", launch_battery_pct=vehicle.snapshot().battery_remaining_pct,
                        launch_flight_time_s=flight_time_before)
        pilot.command(mavutil.mavlink.MAV_CMD_DO_SET_MODE, mavutil.mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED,
                      COPTER_GUIDED)
        pilot.command(mavutil.mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1)
        pilot.command(mavutil.mavlink.MAV_CMD_MISSION_START, 0, 0)
        wait_for(lambda: vehicle.snapshot().armed, timeout_s=10, what="armed by the pilot")
        wait_for(lambda: (s := vehicle.snapshot()).landed and not s.armed, timeout_s=120,
                 what="unsupervised flight landed and disarmed")
        vehicle.replace_battery()
        wait_for(lambda: pilot.param("STAT_FLTTIME") > flight_time_before, timeout_s=10,
                 what="STAT_FLTTIME saved")  # within 30 s (sim) of landing at the latest
        pilot.close()
        assert vehicle.snapshot().mission_current_seq == 0  # ArduCopter resets the current item on disarm
        states = _run_controller_until(flight_settings, shengsi_factory, "R3")
        snap = vehicle.snapshot()
        counts = f"states={states} takeoffs={count_texts(snap.statustexts, 'Mission: 1 Takeoff')}"
        assert states[-3:-1] == ["airborne", "completed"], counts
        assert count_texts(snap.statustexts, "Mission: 1 Takeoff") == 3, f"R3 flown twice or not at all: {counts}"
        assert _delivered(shengsi_factory, "PR3").count("at_service_point") == 1

        # Case 3: launch marker written but the arm never reached the vehicle: launched once.
        _plan(shengsi_factory, "R4")
        vehicle.replace_battery()
        _leave_in_ready(shengsi_factory, "R4", launch_battery_pct=vehicle.snapshot().battery_remaining_pct)
        time.sleep(0.2)
        states = _run_controller_until(flight_settings, shengsi_factory, "R4")
        snap = vehicle.snapshot()
        counts = f"states={states} takeoffs={count_texts(snap.statustexts, 'Mission: 1 Takeoff')}"
        assert states[-2] == "completed" and states.count("airborne") == 1, counts
        assert count_texts(snap.statustexts, "Mission: 1 Takeoff") == 4, counts
        assert count_texts(snap.statustexts, "Gripper load released") == 4, counts
        assert _delivered(shengsi_factory, "PR4").count("at_service_point") == 1
        # The vehicle was uploaded to once only (R1): R2-R4 were verified by download, never re-sent.
        assert count_texts(snap.statustexts, "Flight plan received") == 1, snap.statustexts[-40:]
    finally:
        vehicle.stop()
