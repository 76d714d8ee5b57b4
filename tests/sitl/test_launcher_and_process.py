"""SITL command line, binary discovery, the simulator as a process, and `dispatch sitl start --sim`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from controller.cli.sitl import load_pad, sitl
from sitl.launcher import (
    SITL_ENV, SITL_MISSING_REASON, SitlSpec, build_command, default_params_file, find_sitl_binary,
    instance_params_text, port_for_instance,
)
from tests.sitl.mav_helpers import connect, recv


def test_build_command_matches_sitl_conventions(tmp_path: Path) -> None:
    spec = SitlSpec(binary=Path("/opt/ap/arducopter"), home_lat_deg=30.7265, home_lon_deg=122.4515,
                    home_alt_m=18.0, heading_deg=270.0, speedup=10.0, instance=3, sysid=4)
    argv = build_command(spec, tmp_path / "instance.parm")
    assert argv[:3] == ["/opt/ap/arducopter", "--model", "quad"]
    assert argv[argv.index("--home") + 1] == "30.7265,122.4515,18,270"
    assert argv[argv.index("--speedup") + 1] == "10" and argv[argv.index("-I") + 1] == "3"
    assert argv[argv.index("--defaults") + 1] == f"{default_params_file()},{tmp_path / 'instance.parm'}"
    assert spec.url == "tcp:127.0.0.1:5790" and port_for_instance(37) == 6130
    assert instance_params_text(spec) == "SYSID_THISMAV 4\n"


def test_params_file_sets_up_gripper_battery_fence_and_gcs_failsafe() -> None:
    lines = dict(line.split() for line in default_params_file().read_text().splitlines()
                 if line.strip() and not line.startswith("#"))
    assert (lines["GRIP_ENABLE"], lines["GRIP_TYPE"], lines["SERVO9_FUNCTION"]) == ("1", "1", "28")
    assert lines["FENCE_ENABLE"] == "1" and lines["FS_GCS_ENABLE"] == "1" and "BATT_LOW_VOLT" in lines
    assert "SYSID_THISMAV" not in lines  # per instance


def test_find_binary_prefers_env_and_rejects_non_executables(tmp_path: Path) -> None:
    fake = tmp_path / "arducopter"
    fake.write_text("#!/bin/sh\n")
    assert find_sitl_binary({SITL_ENV: str(fake)}) is None  # not executable
    fake.chmod(0o755)
    assert find_sitl_binary({SITL_ENV: str(fake)}) == fake
    assert "ARDUPILOT_SITL=/path/to/arducopter" in SITL_MISSING_REASON


@pytest.mark.sitl
def test_real_sitl_heartbeat(vehicle_url: str) -> None:
    conn = connect(vehicle_url, timeout_s=60)
    hb = recv(conn, "HEARTBEAT", lambda m: m.autopilot == 3, timeout_s=30)
    assert hb.type == 2


def test_simvehicle_process_listens_on_instance_port() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sitl.simvehicle", "--instance", "37", "--home", "30.7265,122.4515,18,0",
         "--speedup", "5"], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("SIMVEHICLE READY tcp:127.0.0.1:6130"), line
        conn = connect("tcp:127.0.0.1:6130")
        assert conn.target_system == 38  # default sysid = instance + 1
        conn.close()
        conn = connect("tcp:127.0.0.1:6130")  # a GCS may reconnect
        assert recv(conn, "GLOBAL_POSITION_INT").lat == 307265000
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_cli_start_sim_prints_urls_for_pad() -> None:
    pad = load_pad("shengsi", "caiyuan")
    result = CliRunner().invoke(sitl, ["start", "--pad", "caiyuan", "--instances", "2", "--sim",
                                       "--first-instance", "43", "--duration-s", "0.2"])
    assert result.exit_code == 0, result.output
    vehicles = json.loads(result.output)
    assert [v["url"] for v in vehicles] == ["tcp:127.0.0.1:6190", "tcp:127.0.0.1:6200"]
    assert [v["sysid"] for v in vehicles] == [44, 45] and pad["id"] == "caiyuan"


def test_cli_unknown_pad_lists_pads() -> None:
    result = CliRunner().invoke(sitl, ["start", "--pad", "atlantis", "--sim"])
    assert result.exit_code != 0 and "caiyuan" in result.output
