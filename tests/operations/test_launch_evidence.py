"""After a restart with the vehicle down and disarmed, only the launch marker and what the vehicle shows
since then decide whether a ``ready`` sortie flew (MISSION_CURRENT is reset to 0 by ArduCopter on disarm):
its flight time counter (STAT_FLTTIME) when it reported one at the marker and now, else the battery used."""

from __future__ import annotations

import pytest

from controller.operations.executor import (
    FLIGHT_EVIDENCE_BATTERY_DROP_PCT,
    LaunchOutcomeUnknown,
    _flew_since_launch,
    _Launch,
)
from controller.vehicle.sortie import LaunchEvidence


def now(battery_pct: float | None, flight_time_s: int | None = None) -> LaunchEvidence:
    return LaunchEvidence(battery_pct=battery_pct, flight_time_s=flight_time_s)


def test_no_launch_marker_means_it_never_flew_whatever_the_vehicle_says() -> None:
    assert _flew_since_launch(_Launch(commanded=False, battery_pct=None), now(40.0)) is None
    assert _flew_since_launch(_Launch(commanded=False, battery_pct=95.0, flight_time_s=100), now(40.0, 900)) is None


def test_battery_used_since_the_marker_proves_a_flight() -> None:
    reason = _flew_since_launch(_Launch(commanded=True, battery_pct=96.0), now(71.0))
    assert reason is not None and "96%" in reason and "71%" in reason
    at_threshold = 90.0 - FLIGHT_EVIDENCE_BATTERY_DROP_PCT
    assert _flew_since_launch(_Launch(commanded=True, battery_pct=90.0), now(at_threshold)) is not None


def test_arming_and_idling_on_the_pad_is_not_a_flight() -> None:
    just_below = 90.0 - FLIGHT_EVIDENCE_BATTERY_DROP_PCT + 0.5
    assert _flew_since_launch(_Launch(commanded=True, battery_pct=90.0), now(just_below)) is None


def test_the_flight_time_counter_decides_when_reported_both_times() -> None:
    # A swapped battery (full again) hides the flight from the battery rule, not from the counter.
    reason = _flew_since_launch(_Launch(commanded=True, battery_pct=90.0, flight_time_s=3600), now(100.0, 3842))
    assert reason is not None and "3600 s" in reason and "3842 s" in reason
    # Counter unchanged: no flight, even if the battery dropped while armed on the pad for long.
    assert _flew_since_launch(_Launch(commanded=True, battery_pct=90.0, flight_time_s=3600), now(80.0, 3600)) is None
    # Counter at only one of the two moments: the battery decides.
    assert _flew_since_launch(_Launch(commanded=True, battery_pct=90.0, flight_time_s=None), now(70.0, 3842)) \
        is not None
    assert _flew_since_launch(_Launch(commanded=True, battery_pct=90.0, flight_time_s=3600), now(90.0, None)) is None


@pytest.mark.parametrize("at_launch, battery_now", [(None, 80.0), (90.0, None), (None, None)])
def test_a_commanded_launch_without_readings_goes_to_an_operator(at_launch, battery_now) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LaunchOutcomeUnknown, match="neither a flight time counter nor a battery level"):
        _flew_since_launch(_Launch(commanded=True, battery_pct=at_launch), now(battery_now, 1200))
