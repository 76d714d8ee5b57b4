"""The simulator's parameter table: a realistic subset of ArduCopter 4.5 parameters.

ArduPilot sends every parameter as a float in PARAM_VALUE together with its storage type
(MAV_PARAM_TYPE_INT8 = 2, INT16 = 4, INT32 = 6, REAL32 = 9). Integer parameters set from a float are
rounded to the nearest integer and refused when out of their type's range; REAL32 values come back
rounded to float32. Defaults are ArduCopter's except where :data:`SIM_DEFAULT_OVERRIDES` says why.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

INT8, INT16, INT32, REAL32 = 2, 4, 6, 9
_INT_RANGES = {INT8: (-128, 127), INT16: (-32768, 32767), INT32: (-(2**31), 2**31 - 1)}


def float32(value: float) -> float:
    """Round a Python float to the nearest IEEE float32 (what ArduPilot stores and sends)."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


@dataclass(frozen=True, kw_only=True)
class ParamSpec:
    """One parameter: name (max 16 chars), MAV_PARAM_TYPE and ArduCopter default value."""

    name: str
    param_type: int
    default: float


PARAM_SPECS: tuple[ParamSpec, ...] = tuple(
    ParamSpec(name=n, param_type=t, default=d)
    for n, t, d in (
        ("ARMING_CHECK", INT32, 1),
        ("AUTO_OPTIONS", INT32, 0),
        ("BATT_CAPACITY", INT32, 3300),  # mAh
        ("BATT_CRT_MAH", REAL32, 0),
        ("BATT_CRT_VOLT", REAL32, 0),  # V, 0 = disabled
        ("BATT_FS_CRT_ACT", INT8, 0),  # 0 none, 1 land, 2 RTL, 3 SmartRTL/RTL, 4 SmartRTL/land, 5 terminate
        ("BATT_FS_LOW_ACT", INT8, 0),
        ("BATT_LOW_MAH", REAL32, 0),
        ("BATT_LOW_TIMER", INT8, 10),  # s below the threshold before the failsafe fires
        ("BATT_LOW_VOLT", REAL32, 10.5),  # V
        ("BATT_MONITOR", INT8, 4),
        ("DISARM_DELAY", INT8, 10),  # s landed with zero throttle before auto-disarm
        ("FENCE_ACTION", INT8, 1),  # 0 report, 1 RTL or land, 2 land, 3 SmartRTL/RTL/land, 4 brake/land
        ("FENCE_ALT_MAX", REAL32, 100),  # m above home
        ("FENCE_ALT_MIN", REAL32, -10),
        ("FENCE_ENABLE", INT8, 0),
        ("FENCE_MARGIN", REAL32, 2),  # m
        ("FENCE_RADIUS", REAL32, 300),  # m, circle around home
        ("FENCE_TYPE", INT8, 7),  # bitmask: 1 max alt, 2 circle, 4 polygons, 8 min alt
        ("FRAME_CLASS", INT8, 1),
        ("FRAME_TYPE", INT8, 1),
        ("FS_GCS_ENABLE", INT8, 0),  # 0 off, 1 RTL, 2 continue AUTO, 3 SmartRTL/RTL, 4 SmartRTL/land, 5 land
        ("FS_GCS_TIMEOUT", REAL32, 5),  # s (ArduCopter 4.5)
        ("FS_OPTIONS", INT32, 0),
        ("GRIP_ENABLE", INT8, 0),
        ("GRIP_GRAB", INT16, 1900),
        ("GRIP_NEUTRAL", INT16, 1500),
        ("GRIP_RELEASE", INT16, 1100),
        ("GRIP_TYPE", INT8, 0),  # 1 servo, 2 EPM
        ("LAND_ALT_LOW", INT16, 1000),  # cm: below this LAND descends at LAND_SPEED
        ("LAND_SPEED", INT16, 50),  # cm/s final descent
        ("LAND_SPEED_HIGH", INT16, 0),  # cm/s, 0 = WPNAV_SPEED_DN
        ("MIS_OPTIONS", INT16, 0),
        ("MIS_RESTART", INT8, 0),
        ("MIS_TOTAL", INT16, 0),  # maintained by the mission store (items incl. home)
        ("PILOT_SPEED_UP", INT16, 250),
        ("PLDP_DELAY", REAL32, 0),
        ("PLDP_SPEED_DN", REAL32, 0),
        ("RALLY_INCL_HOME", INT8, 1),
        ("RALLY_LIMIT_KM", REAL32, 0.3),
        ("RALLY_TOTAL", INT8, 0),
        ("RTL_ALT", INT32, 1500),  # cm
        ("RTL_ALT_FINAL", INT16, 0),  # cm, 0 = land
        ("RTL_CLIMB_MIN", INT16, 0),
        ("RTL_LOIT_TIME", INT32, 5000),  # ms above home before descending
        ("RTL_SPEED", INT16, 0),  # cm/s, 0 = WPNAV_SPEED
        ("SERVO9_FUNCTION", INT16, 0),  # 28 = gripper
        # AP_Stats: total flight time (s), persistent; written from RAM at most every 30 s (see sitl.copter).
        ("STAT_FLTTIME", INT32, 0),
        ("SYSID_MYGCS", INT16, 255),
        ("SYSID_THISMAV", INT16, 1),
        ("WPNAV_ACCEL", REAL32, 250),
        ("WPNAV_RADIUS", REAL32, 200),  # cm
        ("WPNAV_SPEED", REAL32, 1000),  # cm/s
        ("WPNAV_SPEED_DN", REAL32, 150),  # cm/s
        ("WPNAV_SPEED_UP", REAL32, 250),  # cm/s
    )
)

#: Values the simulated airframes ship with, like a vehicle's own defaults file: 6S voltage limits
#: (ArduPilot's 3S-sized 10.5 V low-voltage default would never trigger). BATT_CAPACITY comes from
#: the airframe (sitl.copter.airframe_from_drone_model).
SIM_DEFAULT_OVERRIDES: dict[str, float] = {
    "BATT_LOW_VOLT": 21.0,
    "BATT_CRT_VOLT": 20.4,
}


class ParamStore:
    """Ordered parameter values with ArduPilot's set semantics (not thread-safe; owner locks)."""

    def __init__(self, overrides: dict[str, float] | None = None) -> None:
        self._specs = {spec.name: spec for spec in PARAM_SPECS}
        self._names = sorted(self._specs)
        self._values = {name: float(spec.default) for name, spec in self._specs.items()}
        for name, value in {**SIM_DEFAULT_OVERRIDES, **(overrides or {})}.items():
            if not self.set(name, value):
                raise KeyError(f"unknown or invalid parameter override {name}={value}")

    def __contains__(self, name: str) -> bool:
        return name in self._specs

    def __getitem__(self, name: str) -> float:
        return self._values[name]

    @property
    def names(self) -> list[str]:
        """Parameter names in index order (PARAM_VALUE.param_index)."""
        return list(self._names)

    def index_of(self, name: str) -> int:
        """Return a parameter's index in :attr:`names`."""
        return self._names.index(name)

    def param_type(self, name: str) -> int:
        """Return a parameter's MAV_PARAM_TYPE."""
        return self._specs[name].param_type

    def set(self, name: str, value: float) -> bool:
        """Set a parameter like ArduPilot's ``set_float``; return False for unknown/invalid values."""
        spec = self._specs.get(name)
        if spec is None or math.isnan(value) or math.isinf(value):
            return False
        if spec.param_type == REAL32:
            self._values[name] = float32(value)
            return True
        low, high = _INT_RANGES[spec.param_type]
        rounded = round(value)
        if rounded < low or rounded > high:
            return False
        self._values[name] = float(rounded)
        return True

    def as_dict(self) -> dict[str, float]:
        """Return a copy of all values."""
        return dict(self._values)


def read_parm_file(text: str) -> dict[str, float]:
    """Parse an ArduPilot ``.parm`` defaults file (``NAME VALUE`` or ``NAME,VALUE``; ``#`` comments).

    >>> read_parm_file("# gripper\\nGRIP_ENABLE 1\\nRTL_ALT,6000  # cm\\n")
    {'GRIP_ENABLE': 1.0, 'RTL_ALT': 6000.0}
    """
    values: dict[str, float] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        if len(parts) != 2:
            raise ValueError(f"line {number}: expected 'NAME VALUE', got {raw!r}")
        values[parts[0]] = float(parts[1])
    return values


def simulator_subset(values: dict[str, float]) -> tuple[dict[str, float], list[str]]:
    """Split SITL defaults into those the simulator knows and the names it ignores.

    The ignored ones are SITL physics settings (``SIM_*``) or parameters the simulator does not
    model; the simulator refuses unknown overrides, so a shared defaults file goes through here.
    """
    known = {spec.name for spec in PARAM_SPECS}
    kept = {name: value for name, value in values.items() if name in known}
    return kept, sorted(set(values) - set(kept))
