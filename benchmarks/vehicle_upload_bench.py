"""Benchmark: upload a 100-item mission with controller.vehicle vs a plain pymavlink loop, same run.

    .venv/bin/python benchmarks/vehicle_upload_bench.py [--items 100] [--repeats 5]

Both clients talk to the same in-process SimVehicle over TCP, one after the other, and each run
uploads the same items. Prints the median times and the ratio (ours / baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "vehicle"))
os.environ.setdefault("MAVLINK20", "1")

from pymavlink import mavutil  # noqa: E402

from controller.vehicle.manager import connect_vehicle  # noqa: E402
from flight_plans.mission_item import MissionType  # noqa: E402
from sitl.simvehicle import SimVehicle, SimVehicleConfig  # noqa: E402
from vehicle_missions import sortie_items  # noqa: E402


def baseline_upload(url: str, items, timeout_s: float = 30.0) -> float:
    """The plain pymavlink loop a script would write: COUNT, answer requests, wait for the ACK."""
    conn = mavutil.mavlink_connection(url, source_system=254, source_component=190, dialect="ardupilotmega")
    try:
        conn.wait_heartbeat(timeout=10)
        start = time.perf_counter()
        conn.mav.mission_count_send(conn.target_system, 1, len(items), 0)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = conn.recv_match(type=["MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"],
                                  blocking=True, timeout=1.5)
            if msg is None:
                continue
            if msg.get_type() == "MISSION_ACK":
                if msg.type != 0:
                    raise RuntimeError(f"baseline upload refused: {msg.type}")
                return time.perf_counter() - start
            it = items[msg.seq]
            conn.mav.mission_item_int_send(conn.target_system, 1, it.seq, it.frame, it.command, it.current,
                                           it.autocontinue, it.param1, it.param2, it.param3, it.param4,
                                           it.x, it.y, it.z, 0)
        raise TimeoutError("baseline upload timed out")
    finally:
        conn.close()


async def ours_upload(url: str, items) -> float:
    async with connect_vehicle(url, stream_rate_hz=0) as link:
        start = time.perf_counter()
        await link.upload_items(items, mission_type=MissionType.MISSION)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    items = sortie_items(args.items - 3)  # home + takeoff + waypoints + land = args.items
    assert len(items) == args.items
    sim = SimVehicle(SimVehicleConfig(sysid=1, home_lat_deg=30.7245, home_lon_deg=122.452, home_alt_m=10.0, port=0, seed=1))
    sim.start()
    try:
        ours, base = [], []
        for _ in range(args.repeats):
            base.append(baseline_upload(sim.url, items))
            ours.append(asyncio.run(ours_upload(sim.url, items)))
    finally:
        sim.stop()
    o, b = statistics.median(ours), statistics.median(base)
    print(f"upload of {args.items} items, median of {args.repeats}: controller.vehicle {o * 1000:.1f} ms, "
          f"plain pymavlink loop {b * 1000:.1f} ms, ratio {o / b:.2f}")


if __name__ == "__main__":
    main()
