"""Arming, AUTO flight, RTL, failsafes and link faults of the simulator, seen from a plain GCS."""

from __future__ import annotations

import time

from flight_plans.mission_item import MissionItem
from sitl import geo
from sitl.pytest_plugin import TEST_PAD, make_sim_config
from sitl.simvehicle import SimVehicle
from tests.sitl.mav_helpers import command, connect, e7, recv, upload, wait_until

ARM, SET_MODE, MISSION_START, RTL, TAKEOFF, REPOSITION = 400, 176, 300, 20, 22, 192
GUIDED, AUTO = 4, 3
DEST_LAT, DEST_LON = 30.7270, 122.4545  # ~360 m NE of the pad


def _takeoff_guided(conn, vehicle: SimVehicle, alt_m: float) -> None:
    wait_until(lambda: vehicle.snapshot().ekf_ready, 10, "EKF ready")
    assert command(conn, SET_MODE, 1, GUIDED) == 0
    assert command(conn, ARM, 1) == 0
    assert command(conn, TAKEOFF, 0, 0, 0, 0, 0, 0, alt_m) == 0
    wait_until(lambda: vehicle.snapshot().alt_rel_m >= alt_m - 0.1, 20, "takeoff altitude")


def test_arming_refused_until_gps_and_ekf_warm_up() -> None:
    with SimVehicle(make_sim_config(gps_warmup_s=40.0)) as vehicle:
        conn = connect(vehicle.url)
        assert command(conn, ARM, 1) == 4  # MAV_RESULT_FAILED
        text = recv(conn, "STATUSTEXT", lambda m: m.text.startswith("PreArm:"))
        assert text.text == "PreArm: GPS 1: Bad fix"
        assert not vehicle.snapshot().armed
        wait_until(lambda: vehicle.snapshot().ekf_ready, 10, "warm-up end")
        assert command(conn, ARM, 1) == 0
        assert vehicle.snapshot().armed
        # Like ArduCopter, a copter left on the ground with zero throttle disarms after DISARM_DELAY
        # (10 s simulated = 0.5 s wall at x20).
        wait_until(lambda: not vehicle.snapshot().armed, 5, "auto-disarm after DISARM_DELAY")
        assert "Disarming motors" in vehicle.snapshot().statustexts


def test_auto_mission_takeoff_waypoint_land_reports_progress_and_disarms_at_destination() -> None:
    with SimVehicle(make_sim_config(speedup=50.0)) as vehicle:
        conn = connect(vehicle.url)
        wait_until(lambda: vehicle.snapshot().home is not None, 10, "home")
        mission = [
            MissionItem(seq=0, command=16, frame=0),
            MissionItem(seq=1, command=22, frame=3, z=25.0),
            MissionItem(seq=2, command=16, frame=3, x=e7(DEST_LAT), y=e7(DEST_LON), z=25.0),
            MissionItem(seq=3, command=21, frame=3, x=e7(DEST_LAT), y=e7(DEST_LON), z=0.0),
        ]
        assert upload(conn, mission) == 0
        assert command(conn, SET_MODE, 1, AUTO) == 0  # AUTO while disarmed is allowed
        assert command(conn, ARM, 1) == 4  # …but AUTO is not an armable mode
        assert command(conn, SET_MODE, 1, GUIDED) == 0
        assert command(conn, ARM, 1) == 0
        assert command(conn, MISSION_START, 0, 0) == 0
        reached = []
        deadline = time.monotonic() + 30
        while len(reached) < 3 and time.monotonic() < deadline:
            reached.append(recv(conn, "MISSION_ITEM_REACHED", timeout_s=deadline - time.monotonic()).seq)
        assert reached == [1, 2, 3]
        # ArduPilot clears a running mission only outside AUTO: check it here, mid-landing or after.
        wait_until(lambda: not vehicle.snapshot().armed, 10, "disarm after landing")
        snap = vehicle.snapshot()
        assert snap.landed and snap.mode == "AUTO" and snap.mission_state == 5  # MISSION_STATE_COMPLETE
        assert geo.distance_m(snap.lat_deg, snap.lon_deg, DEST_LAT, DEST_LON) < 2.5
        assert "Reached command #2" in snap.statustexts
        assert snap.battery_consumed_mah > 0


def test_mission_clear_refused_while_running_in_auto() -> None:
    with SimVehicle(make_sim_config(speedup=20.0)) as vehicle:
        conn = connect(vehicle.url)
        wait_until(lambda: vehicle.snapshot().home is not None, 10, "home")
        mission = [MissionItem(seq=0, command=16, frame=0), MissionItem(seq=1, command=22, frame=3, z=60.0)]
        assert upload(conn, mission) == 0
        assert command(conn, SET_MODE, 1, GUIDED) == 0
        assert command(conn, ARM, 1) == 0
        assert command(conn, MISSION_START) == 0
        conn.mav.mission_clear_all_send(1, 1, 0)
        assert recv(conn, "MISSION_ACK").type == 1  # MAV_MISSION_ERROR
        assert len(vehicle.snapshot().mission_items) == 2


def test_auto_refused_on_ground_without_takeoff_item(sim_vehicle: SimVehicle) -> None:
    conn = connect(sim_vehicle.url)
    wait_until(lambda: sim_vehicle.snapshot().ekf_ready, 10, "EKF ready")
    mission = [MissionItem(seq=0, command=16, frame=0),
               MissionItem(seq=1, command=16, frame=3, x=e7(DEST_LAT), y=e7(DEST_LON), z=20.0)]
    assert upload(conn, mission) == 0
    assert command(conn, SET_MODE, 1, GUIDED) == 0
    assert command(conn, ARM, 1) == 0
    assert command(conn, MISSION_START) == 4
    assert recv(conn, "STATUSTEXT", lambda m: m.text == "Auto: Missing Takeoff Cmd")


def test_rtl_command_flies_home_lands_and_disarms() -> None:
    with SimVehicle(make_sim_config(speedup=50.0)) as vehicle:
        conn = connect(vehicle.url)
        _takeoff_guided(conn, vehicle, 20.0)
        conn.mav.command_int_send(1, 1, 6, REPOSITION, 0, 0, -1, 0, 0, 0, e7(DEST_LAT), e7(DEST_LON), 20.0)
        assert recv(conn, "COMMAND_ACK", lambda m: m.command == REPOSITION).result == 0
        wait_until(lambda: geo.distance_m(vehicle.snapshot().lat_deg, vehicle.snapshot().lon_deg,
                                          TEST_PAD["lat_deg"], TEST_PAD["lon_deg"]) > 150, 20, "fly away")
        assert command(conn, RTL) == 0
        assert recv(conn, "HEARTBEAT", lambda m: m.custom_mode == 6)
        wait_until(lambda: not vehicle.snapshot().armed, 30, "landed and disarmed at home")
        snap = vehicle.snapshot()
        assert geo.distance_m(snap.lat_deg, snap.lon_deg, TEST_PAD["lat_deg"], TEST_PAD["lon_deg"]) < 2.5
        assert snap.alt_rel_m == 0.0 and snap.landed


def test_gcs_failsafe_triggers_rtl_when_gcs_heartbeats_stop() -> None:
    with SimVehicle(make_sim_config(params={"FS_GCS_ENABLE": 1})) as vehicle:
        conn = connect(vehicle.url)
        wait_until(lambda: vehicle.snapshot().ekf_ready, 10, "EKF ready")

        def heartbeat_until(condition, timeout_s: float) -> None:
            deadline = time.monotonic() + timeout_s
            while not condition():
                assert time.monotonic() < deadline, "condition not reached while sending heartbeats"
                conn.mav.heartbeat_send(6, 8, 0, 0, 0)  # GCS, INVALID autopilot
                conn.recv_match(blocking=True, timeout=0.04)  # also paces the loop (1 s sim at x20)

        conn.mav.heartbeat_send(6, 8, 0, 0, 0)
        assert command(conn, SET_MODE, 1, GUIDED) == 0
        assert command(conn, ARM, 1) == 0
        assert command(conn, TAKEOFF, 0, 0, 0, 0, 0, 0, 20.0) == 0
        heartbeat_until(lambda: vehicle.snapshot().alt_rel_m > 19.9, 10)
        assert not vehicle.snapshot().gcs_failsafe_triggered
        # Stop heartbeats: after FS_GCS_TIMEOUT (5 s simulated = 0.25 s wall) the copter RTLs.
        text = recv(conn, "STATUSTEXT", lambda m: m.text.startswith("GCS Failsafe"), timeout_s=5)
        assert text.text == "GCS Failsafe"
        wait_until(lambda: vehicle.snapshot().mode == "RTL", 2, "RTL mode")
        assert vehicle.snapshot().gcs_failsafe_triggered


def test_packet_loss_is_statistically_observable() -> None:
    def count_params(vehicle: SimVehicle, requests: int) -> int:
        conn = connect(vehicle.url)
        for _ in range(requests):
            conn.mav.param_request_list_send(1, 1)
        received = 0
        while True:
            msg = conn.recv_match(type="PARAM_VALUE", blocking=True, timeout=1.0)
            if msg is None:
                return received
            received += 1

    with SimVehicle(make_sim_config()) as clean:
        param_count = len(clean.snapshot().params)
        assert count_params(clean, 4) == 4 * param_count
    with SimVehicle(make_sim_config(packet_loss=0.3, seed=3)) as lossy:
        received = count_params(lossy, 4)
        # Each reply survives with p = 0.7 (its request with 0.7 too): ~49 % of 4 x 54 on average.
        assert 0.2 * 4 * param_count < received < 0.85 * 4 * param_count
        assert lossy.snapshot().link_stats["dropped_out"] > 0


def test_altitude_fence_breach_triggers_rtl() -> None:
    params = {"FENCE_ENABLE": 1, "FENCE_TYPE": 1, "FENCE_ALT_MAX": 15}
    with SimVehicle(make_sim_config(params=params)) as vehicle:
        conn = connect(vehicle.url)
        wait_until(lambda: vehicle.snapshot().ekf_ready, 10, "EKF ready")
        assert command(conn, SET_MODE, 1, GUIDED) == 0
        assert command(conn, ARM, 1) == 0
        assert command(conn, TAKEOFF, 0, 0, 0, 0, 0, 0, 25.0) == 0
        assert recv(conn, "STATUSTEXT", lambda m: m.text.startswith("Fence Breached"), timeout_s=10)
        wait_until(lambda: vehicle.snapshot().mode == "RTL", 2, "RTL after fence breach")
        assert vehicle.snapshot().fence_breached


def test_payload_place_releases_at_touchdown() -> None:
    params = {"GRIP_ENABLE": 1, "GRIP_TYPE": 1, "SERVO9_FUNCTION": 28}
    with SimVehicle(make_sim_config(speedup=50.0, params=params)) as vehicle:
        conn = connect(vehicle.url)
        wait_until(lambda: vehicle.snapshot().home is not None, 10, "home")
        mission = [
            MissionItem(seq=0, command=16, frame=0),
            MissionItem(seq=1, command=22, frame=3, z=15.0),
            MissionItem(seq=2, command=94, frame=3, x=e7(DEST_LAT), y=e7(DEST_LON), z=0.0),
            MissionItem(seq=3, command=93, frame=2, param1=20.0, param2=-1, param3=-1, param4=-1),
            MissionItem(seq=4, command=20, frame=3),
        ]
        assert upload(conn, mission) == 0
        assert command(conn, SET_MODE, 1, GUIDED) == 0
        assert command(conn, ARM, 1) == 0
        assert command(conn, MISSION_START) == 0
        recv(conn, "MISSION_ITEM_REACHED", lambda m: m.seq == 2, timeout_s=30)
        snap = vehicle.snapshot()
        assert snap.payload_released and "Gripper load released" in snap.statustexts
        assert geo.distance_m(snap.lat_deg, snap.lon_deg, DEST_LAT, DEST_LON) < 2.5
        wait_until(lambda: not vehicle.snapshot().armed, 30, "RTL landing after delivery")


def test_ground_crew_battery_swap_refills_a_disarmed_vehicle() -> None:
    from sitl.pytest_plugin import make_sim_config
    from sitl.simvehicle import SimVehicle

    with SimVehicle(make_sim_config(sysid=9)) as vehicle:
        vehicle.set_param("BATT_CAPACITY", 1.0)  # a nearly empty pack: the idle drain empties it fast
        deadline = time.monotonic() + 20
        while vehicle.snapshot().battery_remaining_pct > 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert vehicle.snapshot().battery_remaining_pct <= 50
        vehicle.set_param("BATT_CAPACITY", 22000.0)
        assert vehicle.replace_battery() is True
        assert vehicle.snapshot().battery_remaining_pct > 99.9
