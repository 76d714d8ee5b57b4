"""The simulated ArduCopter talks to a third-party GCS library written for ArduPilot: dronekit2 (the
maintained DroneKit fork, installed as ``dronekit``; PyPI's dronekit 2.9.2 does not import on Python
>= 3.10) connects with ``wait_ready``, reads parameters, position and battery, and uploads a mission that
the vehicle then holds — the same exchange a pilot's script would have with ArduPilot SITL."""

from __future__ import annotations

import pytest

from sitl.pytest_plugin import make_sim_config
from sitl.simvehicle import SimVehicle

dronekit = pytest.importorskip("dronekit")
MAV_FRAME_GLOBAL_RELATIVE_ALT = 3
MAV_CMD_NAV_TAKEOFF, MAV_CMD_NAV_WAYPOINT, MAV_CMD_NAV_LAND = 22, 16, 21


def test_dronekit_connects_reads_state_and_uploads_a_mission() -> None:
    with SimVehicle(make_sim_config(speedup=10.0, sysid=7)) as sim:
        vehicle = dronekit.connect(sim.url, wait_ready=True, timeout=30, heartbeat_timeout=15)
        try:
            assert vehicle.parameters["SYSID_THISMAV"] == 7
            assert vehicle.mode.name == "STABILIZE" and not vehicle.armed
            home = sim.snapshot()
            assert abs(vehicle.location.global_frame.lat - home.lat_deg) < 1e-6
            assert vehicle.battery.level is not None and vehicle.battery.level > 90
            lat, lon = home.lat_deg, home.lon_deg
            commands = vehicle.commands
            # DroneKit keeps the home item it downloaded as commands[0] through clear(); without it the
            # first added item would go to seq 0, which ArduPilot (and the simulator) replace by home.
            commands.download()
            commands.wait_ready()
            commands.clear()
            for command, dlat, alt in ((MAV_CMD_NAV_TAKEOFF, 0.0, 30.0), (MAV_CMD_NAV_WAYPOINT, 0.001, 30.0),
                                       (MAV_CMD_NAV_LAND, 0.001, 0.0)):
                commands.add(dronekit.Command(0, 0, 0, MAV_FRAME_GLOBAL_RELATIVE_ALT, command, 0, 0, 0, 0, 0, 0,
                                              lat + dlat, lon, alt))
            commands.upload(timeout=20)
            held = sim.snapshot().mission_items
            assert [i.command for i in held[1:]] == [MAV_CMD_NAV_TAKEOFF, MAV_CMD_NAV_WAYPOINT, MAV_CMD_NAV_LAND]
            assert abs(held[2].x / 1e7 - (lat + 0.001)) < 1e-6  # stored as degE7, as ArduPilot does
            commands.download()
            commands.wait_ready()
            assert commands.count == 3  # dronekit hides the home item, as with ArduPilot
        finally:
            vehicle.close()
