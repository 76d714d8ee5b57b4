"""The simulated ArduCopter's flight time counter behaves like AP_Stats: whole seconds of flight reach the
STAT_FLTTIME parameter when 30 s have passed since the last save (in flight too), never while on the ground."""

from __future__ import annotations

from sitl.copter import AIRFRAMES, STATS_FLUSH_INTERVAL_S, Copter
from sitl.params import ParamStore


def _copter(flight_time_s: int = 0) -> Copter:
    return Copter(params=ParamStore({"STAT_FLTTIME": flight_time_s}), home_lat_deg=30.72, home_lon_deg=122.45,
                  home_alt_m=10.0, heading_deg=0.0, gps_warmup_s=0.0, airframe=AIRFRAMES["island-hauler-5"])


def _run(copter: Copter, seconds: float, *, flying: bool) -> None:
    # The counter only looks at land_complete; the flight physics are not what is tested here.
    for _ in range(round(seconds / 0.1)):
        copter.landed = not flying
        copter._update_stats()
        copter.time_s += 0.1


def test_flight_time_is_saved_every_30_s_and_kept_across_landing() -> None:
    copter = _copter(flight_time_s=1000)
    _run(copter, 100.0, flying=False)
    assert copter.params["STAT_FLTTIME"] == 1000  # on the ground: nothing counts
    _run(copter, 75.0, flying=True)
    saved_in_flight = copter.params["STAT_FLTTIME"]
    assert 1000 + 75 - 2 * STATS_FLUSH_INTERVAL_S <= saved_in_flight <= 1000 + 75  # saved while still flying
    _run(copter, STATS_FLUSH_INTERVAL_S + 1.0, flying=False)
    assert copter.params["STAT_FLTTIME"] in (1074, 1075)  # whole seconds; the partial one is dropped at landing
    _run(copter, 120.0, flying=False)
    assert copter.params["STAT_FLTTIME"] in (1074, 1075)
