"""`dispatch sitl …`: launch vehicles for a pad — real ArduPilot SITL or the project's simulator."""

from __future__ import annotations

import json
import signal
import threading
from importlib import resources
from typing import Any

import click

from sitl.launcher import SITL_MISSING_REASON, SitlProcess, SitlSpec, find_sitl_binary, port_for_instance
from sitl.simvehicle import SimVehicle, SimVehicleConfig


class PadNotFoundError(click.ClickException):
    """The scenario has no pad with that id."""


def load_pad(scenario: str, pad_id: str) -> dict[str, Any]:
    """Return one pad ({"id", "lat_deg", "lon_deg", "alt_amsl_m"}) from a scenario's network.json.

    Raises
    ------
    PadNotFoundError: the scenario file has no such pad (lists the pads it has).
    """
    path = resources.files("controller") / "scenarios" / scenario / "network.json"
    try:
        network = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as missing:
        raise click.ClickException(f"scenario {scenario!r} has no network.json") from missing
    pads = {pad["id"]: pad for pad in network.get("pads", [])}
    if pad_id not in pads:
        raise PadNotFoundError(f"pad {pad_id!r} not in scenario {scenario!r}; pads: {', '.join(sorted(pads))}")
    return pads[pad_id]


@click.group()
def sitl() -> None:
    """Simulated vehicles: real ArduPilot SITL or the built-in simulator."""


@sitl.command()
@click.option("--pad", "pad_id", required=True, help="Pad id from the scenario's network.json.")
@click.option("--instances", default=1, show_default=True, type=click.IntRange(1, 20))
@click.option("--speedup", default=1.0, show_default=True, type=click.FloatRange(min=0.1))
@click.option("--scenario", default="shengsi", show_default=True)
@click.option("--first-instance", default=0, show_default=True, type=click.IntRange(0, 200),
              help="Instance number of the first vehicle (port 5760 + 10 x instance).")
@click.option("--sim", is_flag=True, help="Run the project's simulator instead of arducopter.")
@click.option("--duration-s", type=float, default=None, hidden=True, help="Stop after this many seconds.")
def start(pad_id: str, instances: int, speedup: float, scenario: str, first_instance: int, sim: bool,
          duration_s: float | None) -> None:
    """Start vehicles at a pad, print their URLs as JSON and run until Ctrl-C."""
    pad = load_pad(scenario, pad_id)
    lat, lon, alt = float(pad["lat_deg"]), float(pad["lon_deg"]), float(pad["alt_amsl_m"])
    binary = None if sim else find_sitl_binary()
    if not sim and binary is None:
        raise click.ClickException(SITL_MISSING_REASON + " (or pass --sim for the built-in simulator)")
    running: list[SimVehicle | SitlProcess] = []
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        out = []
        for offset in range(instances):
            instance = first_instance + offset
            sysid = instance + 1
            if sim:
                vehicle: SimVehicle | SitlProcess = SimVehicle(SimVehicleConfig(
                    sysid=sysid, home_lat_deg=lat, home_lon_deg=lon, home_alt_m=alt, speedup=speedup,
                    port=port_for_instance(instance))).start()
            else:
                assert binary is not None
                vehicle = SitlProcess(SitlSpec(binary=binary, home_lat_deg=lat, home_lon_deg=lon, home_alt_m=alt,
                                               speedup=speedup, instance=instance, sysid=sysid)).start()
            running.append(vehicle)
            out.append({"instance": instance, "sysid": sysid, "url": vehicle.url, "pad": pad_id,
                        "backend": "sim" if sim else "sitl"})
        click.echo(json.dumps(out))
        try:
            stop.wait(duration_s)
        except KeyboardInterrupt:
            pass
    finally:
        for vehicle in running:
            vehicle.stop()
