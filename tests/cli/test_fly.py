"""`dispatch fly` plans, uploads, flies and reports one sortie on a simulated ArduCopter."""

from __future__ import annotations

import json

from click.testing import CliRunner

from controller.cli import main
from controller.scenario import load_scenario
from sitl.simvehicle import SimVehicle, SimVehicleConfig

SPEEDUP = 50.0


def _sim_at(pad_id: str) -> SimVehicle:
    pad = load_scenario("shengsi").pad(pad_id)
    return SimVehicle(SimVehicleConfig(sysid=7, home_lat_deg=pad.lat_deg, home_lon_deg=pad.lon_deg,
                                       home_alt_m=pad.alt_amsl_m, speedup=SPEEDUP, gps_warmup_s=4.0)).start()


def test_fly_completes_and_reports_every_transition() -> None:
    vehicle = _sim_at("caiyuan")
    try:
        result = CliRunner().invoke(main, [
            "fly", "--connect", vehicle.url, "--from", "caiyuan", "--to", "wulong", "--payload-kg", "1.5",
            "--approved-by", "dispatcher-wang", "--json", "--heartbeat-period-s", str(1 / SPEEDUP),
            "--altitude-m", "60"])
        lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
        assert result.exit_code == 0, result.output
        assert lines[0]["event"] == "plan" and lines[0]["approved_by"] == "dispatcher-wang"
        assert len(lines[0]["plan_hash"]) == 64 and lines[0]["fence_items"] > 0
        states = [line["state"] for line in lines if line["event"] == "transition"]
        assert states[:3] == ["uploading", "ready", "airborne"] and states[-1] == "completed"
        assert not {"failsafe", "aborted", "diverted"} & set(states), states
        assert vehicle.snapshot().params["FENCE_TYPE"] == 5  # no default 300 m circle around home
        assert lines[-1] == {**lines[-1], "event": "summary", "state": "completed", "completed": True}
        snap = vehicle.snapshot()
        wulong = load_scenario("shengsi").pad("wulong")
        assert not snap.armed and abs(snap.lat_deg - wulong.lat_deg) < 1e-3 and abs(snap.lon_deg - wulong.lon_deg) < 1e-3
    finally:
        vehicle.stop()


def test_fly_refuses_bad_input_and_unsafe_plans() -> None:
    runner = CliRunner()
    unknown = runner.invoke(main, ["fly", "--connect", "tcp:127.0.0.1:1", "--from", "atlantis", "--to", "wulong",
                                   "--approved-by", "x"])
    assert unknown.exit_code == 2 and "atlantis" in unknown.output
    # Caiyuan to Shengshan with a full load is beyond a courier's battery with the reserve.
    infeasible = runner.invoke(main, ["fly", "--connect", "tcp:127.0.0.1:1", "--from", "caiyuan", "--to",
                                      "shengshan", "--payload-kg", "2.5", "--drone-model", "island-courier-2",
                                      "--approved-by", "x", "--json"])
    assert infeasible.exit_code == 3, infeasible.output
    assert json.loads(infeasible.output.splitlines()[0])["event"] == "no_plan"
