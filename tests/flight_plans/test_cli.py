import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from controller.cli.plan import SCENARIOS_DIR_ENV, plan, scenario_dir
from flight_plans.qgc_plan import from_qgc_plan
from flight_plans.wpl import from_wpl

from .helpers import area, fence, lat_lon, polygon_feature, square


@pytest.fixture
def fence_file(tmp_path):
    wall = polygon_feature("exclusion", [(-100, 1000), (100, 1000), (100, 6000), (-100, 6000)], name="wall")
    path = tmp_path / "fence.geojson"
    path.write_text(
        json.dumps(fence(area(), polygon_feature("exclusion", square(0, 0, 500), name="nfz"), wall))
    )
    return path


def _ll(x, y):
    lat, lon = lat_lon(x, y)
    return f"{lat},{lon}"


def test_json_output_and_exit_0(fence_file):
    result = CliRunner().invoke(
        plan,
        [
            "--geofence",
            str(fence_file),
            "--start",
            _ll(-2000, 0),
            "--goal",
            _ll(2000, 0),
            "--margin-m",
            "20",
            "--altitude-m",
            "60",
            "--payload-kg",
            "1",
            "--wind-ms",
            "4",
            "--wind-from-deg",
            "90",
            "--drone",
            "island-hauler-5",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) == {"waypoints", "length_m", "energy_wh", "duration_s", "feasible", "reason"}
    assert out["waypoints"][0] == list(lat_lon(-2000, 0)) and len(out["waypoints"]) >= 3
    assert (
        out["length_m"] > 4000 and out["energy_wh"] > 0 and out["feasible"] is True and out["reason"] is None
    )


def test_no_route_exits_3_with_reason(fence_file):
    result = CliRunner().invoke(
        plan, ["--geofence", str(fence_file), "--start", _ll(0, 0), "--goal", _ll(2000, 0)]
    )
    assert result.exit_code == 3
    out = json.loads(result.output)
    assert out["waypoints"] == [] and out["feasible"] is False and "nfz" in out["reason"]


@pytest.mark.parametrize(
    "args",
    [
        ["--start", "30.7", "--goal", "30.7,122.5"],
        ["--start", "122.5,30.7", "--goal", "30.7,122.5"],
        ["--start", "30.7,122.5", "--goal", "30.71,122.5", "--altitude-m", "150"],
    ],
)
def test_bad_input_exits_2(fence_file, args):
    result = CliRunner().invoke(plan, ["--geofence", str(fence_file), *args])
    assert result.exit_code == 2, result.output


def test_other_formats(fence_file):
    base = ["--geofence", str(fence_file), "--start", _ll(-2000, 0), "--goal", _ll(2000, 0)]
    runner = CliRunner()
    plan_out = runner.invoke(plan, [*base, "--format", "plan", "--delivery", "payload_place"])
    assert plan_out.exit_code == 0
    contents = from_qgc_plan(json.loads(plan_out.output))
    assert contents.fence_items and contents.rally_items and contents.mission_items[1].command == 22
    wpl_out = runner.invoke(plan, [*base, "--format", "wpl"])
    assert from_wpl(wpl_out.output)[-1].command == 21
    gj = json.loads(runner.invoke(plan, [*base, "--format", "geojson"]).output)
    assert gj["features"][-1]["geometry"]["type"] == "LineString"


def test_bundled_shengsi_scenario():
    if not (scenario_dir("shengsi") / "network.json").exists():
        pytest.skip("bundled Shengsi scenario not present")
    result = CliRunner().invoke(plan, ["--scenario", "shengsi", "--from", "caiyuan", "--to", "huanglong"])
    assert result.exit_code == 0, result.output
    network = json.loads((scenario_dir("shengsi") / "network.json").read_text())
    pads = {p["id"]: p for p in network["pads"]}
    out = json.loads(result.output)
    assert out["waypoints"][0] == [pads["caiyuan"]["lat_deg"], pads["caiyuan"]["lon_deg"]]
    assert out["waypoints"][-1] == [pads["huanglong"]["lat_deg"], pads["huanglong"]["lon_deg"]]
    bad = CliRunner().invoke(plan, ["--scenario", "shengsi", "--from", "caiyuan", "--to", "atlantis"])
    assert bad.exit_code == 2 and "atlantis" in bad.output


def test_scenario_dir_override(tmp_path, fence_file, monkeypatch):
    sdir = tmp_path / "demo"
    sdir.mkdir()
    shutil.copy(fence_file, sdir / "geofence.geojson")
    (lat_a, lon_a), (lat_b, lon_b) = lat_lon(-2000, 0), lat_lon(2000, 0)
    (sdir / "network.json").write_text(
        json.dumps(
            {
                "pads": [
                    {"id": "a", "lat_deg": lat_a, "lon_deg": lon_a, "alt_amsl_m": 5.0},
                    {"id": "b", "lat_deg": lat_b, "lon_deg": lon_b, "alt_amsl_m": 7.0},
                ]
            }
        )
    )
    monkeypatch.setenv(SCENARIOS_DIR_ENV, str(tmp_path))
    result = CliRunner().invoke(plan, ["--scenario", "demo", "--from", "a", "--to", "b", "--format", "wpl"])
    assert result.exit_code == 0, result.output
    home = from_wpl(result.output)[0]
    assert home.z == 5.0 and home.x == round(lat_a * 1e7)


def test_runs_as_a_process(fence_file):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from controller.cli.plan import plan; plan()",
            "--geofence",
            str(fence_file),
            "--start",
            _ll(0, 0),
            "--goal",
            _ll(2000, 0),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ},
    )
    assert proc.returncode == 3 and json.loads(proc.stdout)["reason"]
