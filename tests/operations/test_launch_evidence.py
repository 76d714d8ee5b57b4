"""After a restart with the vehicle down and disarmed, only the launch marker and the battery used since
then decide whether a ``ready`` sortie flew (MISSION_CURRENT is reset to 0 by ArduCopter on disarm)."""

from __future__ import annotations

import pytest

from controller.operations.executor import (
    FLIGHT_EVIDENCE_BATTERY_DROP_PCT,
    LaunchOutcomeUnknown,
    _flew_since_launch,
    _Launch,
)


def test_no_launch_marker_means_it_never_flew_whatever_the_battery_says() -> None:
    assert _flew_since_launch(_Launch(commanded=False, battery_pct=None), 40.0) is None
    assert _flew_since_launch(_Launch(commanded=False, battery_pct=95.0), 40.0) is None


def test_battery_used_since_the_marker_proves_a_flight() -> None:
    reason = _flew_since_launch(_Launch(commanded=True, battery_pct=96.0), 71.0)
    assert reason is not None and "96%" in reason and "71%" in reason
    at_threshold = 90.0 - FLIGHT_EVIDENCE_BATTERY_DROP_PCT
    assert _flew_since_launch(_Launch(commanded=True, battery_pct=90.0), at_threshold) is not None


def test_arming_and_idling_on_the_pad_is_not_a_flight() -> None:
    just_below = 90.0 - FLIGHT_EVIDENCE_BATTERY_DROP_PCT + 0.5
    assert _flew_since_launch(_Launch(commanded=True, battery_pct=90.0), just_below) is None


@pytest.mark.parametrize("at_launch, now", [(None, 80.0), (90.0, None), (None, None)])
def test_a_commanded_launch_without_battery_readings_goes_to_an_operator(at_launch, now) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LaunchOutcomeUnknown, match="no battery level"):
        _flew_since_launch(_Launch(commanded=True, battery_pct=at_launch), now)
