"""The MAVLink 2 message classes and enums used by the vehicle package.

Protocol modules build and read messages with these classes; they never open a connection.
Only :mod:`controller.vehicle.transport` imports ``mavutil`` for I/O.
"""

from __future__ import annotations

from pymavlink.dialects.v20 import ardupilotmega as mavlink2

__all__ = ["mavlink2", "COPTER_MODES", "copter_mode_name", "copter_mode_number"]

#: ArduCopter custom_mode numbers (ArduCopter/mode.h, Mode::Number).
COPTER_MODES: dict[str, int] = {
    "STABILIZE": 0, "ACRO": 1, "ALT_HOLD": 2, "AUTO": 3, "GUIDED": 4, "LOITER": 5, "RTL": 6,
    "CIRCLE": 7, "LAND": 9, "DRIFT": 11, "SPORT": 13, "FLIP": 14, "AUTOTUNE": 15, "POSHOLD": 16,
    "BRAKE": 17, "THROW": 18, "AVOID_ADSB": 19, "GUIDED_NOGPS": 20, "SMART_RTL": 21, "FLOWHOLD": 22,
    "FOLLOW": 23, "ZIGZAG": 24, "SYSTEMID": 25, "AUTOROTATE": 26, "AUTO_RTL": 27,
}
_MODE_NAMES = {number: name for name, number in COPTER_MODES.items()}


def copter_mode_number(name: str) -> int:
    """Return the ArduCopter custom_mode for ``name`` (case-insensitive); KeyError if unknown.

    >>> copter_mode_number("auto")
    3
    """
    return COPTER_MODES[name.upper()]


def copter_mode_name(number: int) -> str:
    """Return the ArduCopter mode name for custom_mode ``number`` ("MODE_<n>" when unknown).

    >>> copter_mode_name(6)
    'RTL'
    """
    return _MODE_NAMES.get(int(number), f"MODE_{number}")
