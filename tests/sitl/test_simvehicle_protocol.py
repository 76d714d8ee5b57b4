"""Heartbeat, parameters and mission/fence/rally transfer against the simulator over TCP."""

from __future__ import annotations

import pytest

from flight_plans.mission_item import MissionItem, MissionType
from sitl.params import float32
from sitl.pytest_plugin import TEST_PAD, make_sim_config
from sitl.simvehicle import SimVehicle
from tests.sitl.mav_helpers import connect, download, e7, recv, upload, wait_until

PAD_LAT, PAD_LON = TEST_PAD["lat_deg"], TEST_PAD["lon_deg"]


def test_heartbeat_carries_sysid_type_and_mode() -> None:
    with SimVehicle(make_sim_config(sysid=7)) as vehicle:
        conn = connect(vehicle.url)
        hb = recv(conn, "HEARTBEAT", lambda m: m.get_srcSystem() == 7)
        assert (hb.type, hb.autopilot, hb.custom_mode) == (2, 3, 0)  # QUADROTOR, ARDUPILOTMEGA, STABILIZE
        assert hb.base_mode & 1 and not hb.base_mode & 128  # custom mode enabled, disarmed
        assert conn.target_system == 7


def test_param_read_set_and_unknown(sim_vehicle: SimVehicle) -> None:
    conn = connect(sim_vehicle.url)
    conn.mav.param_request_read_send(1, 1, b"FS_GCS_TIMEOUT", -1)
    value = recv(conn, "PARAM_VALUE", lambda m: m.param_id == "FS_GCS_TIMEOUT")
    assert (value.param_value, value.param_type) == (5.0, 9)

    conn.mav.param_set_send(1, 1, b"WPNAV_SPEED", 1234.567, 9)
    reply = recv(conn, "PARAM_VALUE", lambda m: m.param_id == "WPNAV_SPEED")
    assert reply.param_value == float32(1234.567) and reply.param_index == 65535
    conn.mav.param_set_send(1, 1, b"FENCE_ENABLE", 1.4, 2)
    assert recv(conn, "PARAM_VALUE", lambda m: m.param_id == "FENCE_ENABLE").param_value == 1.0

    conn.mav.param_set_send(1, 1, b"NO_SUCH_PARAM", 3.0, 9)
    conn.mav.param_request_read_send(1, 1, b"RTL_ALT", -1)
    # ArduPilot ignores unknown parameters: the next PARAM_VALUE is the RTL_ALT read, not a reply.
    assert recv(conn, "PARAM_VALUE").param_id == "RTL_ALT"
    assert "NO_SUCH_PARAM" not in sim_vehicle.snapshot().params


def _mission() -> list[MissionItem]:
    return [
        MissionItem(seq=0, command=16, frame=0, x=e7(PAD_LAT), y=e7(PAD_LON), z=0.0, current=1),
        MissionItem(seq=1, command=22, frame=6, z=30.0),
        MissionItem(seq=2, command=16, frame=6, param1=2.7, param2=5.0, x=e7(30.7260), y=e7(122.4560), z=35.123),
        MissionItem(seq=3, command=211, frame=2, param1=1, param2=0),
        MissionItem(seq=4, command=21, frame=6, x=e7(30.7260), y=e7(122.4560), z=0.0),
    ]


def test_mission_upload_download_rounds_like_ardupilot(sim_vehicle: SimVehicle) -> None:
    conn = connect(sim_vehicle.url)
    wait_until(lambda: sim_vehicle.snapshot().home is not None, 5, "home set after warm-up")
    assert upload(conn, _mission()) == 0
    assert recv(conn, "STATUSTEXT", lambda m: m.text == "Flight plan received")
    items = download(conn)
    assert len(items) == 5
    home = items[0]
    assert (home.command, home.frame, home.x, home.y) == (16, 0, e7(PAD_LAT), e7(PAD_LON))
    assert home.z == pytest.approx(TEST_PAD["alt_m"], abs=0.01)
    wp = items[2]
    assert wp.frame == 3  # stored as relative alt; _INT frames are not kept
    assert wp.z == float32(float32(int(float32(float32(35.123) * 100))) * float32(0.01))
    assert (wp.param1, wp.param2) == (2.0, 0.0)  # Copter keeps only the hold time (uint16 s)
    assert (items[3].command, items[3].param2, items[3].frame, items[3].x) == (211, 0.0, 0, 0)
    assert items[4].param4 == 1.0  # NAV_LAND yaw direction comes back as +1
    snap = sim_vehicle.snapshot()
    assert [i.command for i in snap.mission_items] == [16, 22, 16, 211, 21]
    assert snap.params["MIS_TOTAL"] == 5


def test_legacy_mission_request_and_out_of_sequence_item() -> None:
    with SimVehicle(make_sim_config(request_legacy=True)) as vehicle:
        conn = connect(vehicle.url)
        items = _mission()
        conn.mav.mission_count_send(1, 1, len(items), 0)
        first = recv(conn, ["MISSION_REQUEST", "MISSION_REQUEST_INT"])
        assert first.get_type() == "MISSION_REQUEST" and first.seq == 0
        wrong = items[2]
        conn.mav.mission_item_int_send(1, 1, 2, wrong.frame, wrong.command, 0, 1, 0, 0, 0, 0, wrong.x, wrong.y,
                                       wrong.z, 0)
        assert recv(conn, "MISSION_ACK").type == 13  # MAV_MISSION_INVALID_SEQUENCE, upload continues
        assert upload(conn, items) == 0  # restart by the same GCS is allowed


def test_mission_count_too_large_is_no_space(sim_vehicle: SimVehicle) -> None:
    conn = connect(sim_vehicle.url)
    conn.mav.mission_count_send(1, 1, 5000, 0)
    assert recv(conn, "MISSION_ACK").type == 4  # MAV_MISSION_NO_SPACE


def _fence(vertex_count: int = 4) -> list[MissionItem]:
    square = [(30.70, 122.43), (30.70, 122.48), (30.75, 122.48), (30.75, 122.43)]
    items = [MissionItem(seq=i, command=5001, frame=6, param1=vertex_count, x=e7(lat), y=e7(lon), z=12.5,
                         mission_type=MissionType.FENCE) for i, (lat, lon) in enumerate(square)]
    items.append(MissionItem(seq=4, command=5004, frame=6, param1=150.25, x=e7(30.73), y=e7(122.46),
                             mission_type=MissionType.FENCE))
    return items


def test_fence_round_trip_and_bad_vertex_count(sim_vehicle: SimVehicle) -> None:
    conn = connect(sim_vehicle.url)
    assert upload(conn, _fence(), MissionType.FENCE) == 0
    items = download(conn, MissionType.FENCE)
    assert [(m.command, m.param1, m.z, m.frame) for m in items] == [(5001, 4.0, 0.0, 0)] * 4 + [(5004, 150.25, 0.0, 0)]
    assert items[2].x == e7(30.75)
    assert upload(conn, _fence(vertex_count=5), MissionType.FENCE) == 1  # MAV_MISSION_ERROR, not stored
    assert len(sim_vehicle.snapshot().fence_items) == 5


def test_rally_round_trip_truncates_altitude_to_metres(sim_vehicle: SimVehicle) -> None:
    conn = connect(sim_vehicle.url)
    rally = [MissionItem(seq=0, command=5100, frame=6, x=e7(30.7300), y=e7(122.4600), z=45.7,
                         mission_type=MissionType.RALLY)]
    assert upload(conn, rally, MissionType.RALLY) == 0
    (item,) = download(conn, MissionType.RALLY)
    assert (item.command, item.frame, item.x, item.z) == (5100, 3, e7(30.73), 45.0)
    assert sim_vehicle.snapshot().params["RALLY_TOTAL"] == 1
