"""How ArduCopter stores mission, fence and rally items, so that downloads round-trip like it does.

Pure functions over :class:`flight_plans.mission_item.MissionItem`. Each ``store_*`` function turns
an uploaded item into the item ArduPilot would later send back (or raises :class:`ItemRejected` with
the ``MAV_MISSION_RESULT`` ArduPilot answers), following ``AP_Mission::mavlink_int_to_mission_cmd``
/ ``mission_cmd_to_mavlink_int``, ``MissionItemProtocol_Fence`` and ``MissionItemProtocol_Rally``:

* mission: lat/lon int32 1e-7 deg; altitude int32 **centimetres** (``z * 100`` truncated, read back
  as ``alt_cm * 0.01f``); per-command parameters packed into small integers (NAV_WAYPOINT keeps only
  param1 as uint16 seconds, NAV_PAYLOAD_PLACE param1 in cm, DO_GRIPPER uint8s …); everything else
  comes back 0. Location frames come back as GLOBAL (0) / GLOBAL_RELATIVE_ALT (3) /
  GLOBAL_TERRAIN_ALT (10) even when uploaded as the ``_INT`` variants; non-location commands come
  back with frame 0 and x = y = z = 0. Item 0 is home and is never stored from an upload.
* fence: int32 lat/lon, vertex count uint8, circle radius float32, z = 0, frame 0 on download.
* rally: int32 lat/lon, altitude int16 metres (truncated), frame 0 (absolute) or 3 (relative).
"""

from __future__ import annotations

import dataclasses
import math

from flight_plans.mission_item import MissionItem, MissionType
from sitl.params import float32

# MAV_MISSION_RESULT
MISSION_ACCEPTED = 0
MISSION_ERROR = 1
MISSION_UNSUPPORTED_FRAME = 2
MISSION_UNSUPPORTED = 3
MISSION_NO_SPACE = 4
MISSION_INVALID = 5
MISSION_INVALID_PARAM1 = 6
MISSION_INVALID_PARAM5_X = 10
MISSION_INVALID_PARAM6_Y = 11
MISSION_INVALID_PARAM7 = 12
MISSION_INVALID_SEQUENCE = 13
MISSION_DENIED = 14
MISSION_OPERATION_CANCELLED = 15

# MAV_CMD numbers used by the simulator
NAV_WAYPOINT = 16
NAV_LOITER_UNLIM = 17
NAV_LOITER_TIME = 19
NAV_RETURN_TO_LAUNCH = 20
NAV_LAND = 21
NAV_TAKEOFF = 22
NAV_DELAY = 93
NAV_PAYLOAD_PLACE = 94
CONDITION_DELAY = 112
CONDITION_DISTANCE = 114
DO_JUMP = 177
DO_CHANGE_SPEED = 178
DO_SET_HOME = 179
DO_SET_SERVO = 183
DO_LAND_START = 189
DO_SET_ROI = 201
DO_FENCE_ENABLE = 207
DO_GRIPPER = 211
FENCE_RETURN_POINT = 5000
FENCE_POLYGON_INCLUSION = 5001
FENCE_POLYGON_EXCLUSION = 5002
FENCE_CIRCLE_INCLUSION = 5003
FENCE_CIRCLE_EXCLUSION = 5004
NAV_RALLY_POINT = 5100

NAV_COMMANDS = frozenset(
    {NAV_WAYPOINT, NAV_LOITER_UNLIM, NAV_LOITER_TIME, NAV_RETURN_TO_LAUNCH, NAV_LAND, NAV_TAKEOFF,
     NAV_DELAY, NAV_PAYLOAD_PLACE}
)
_LOCATION_COMMANDS = frozenset(
    {NAV_WAYPOINT, NAV_LOITER_UNLIM, NAV_LOITER_TIME, NAV_LAND, NAV_TAKEOFF, NAV_PAYLOAD_PLACE,
     DO_SET_HOME, DO_LAND_START, DO_SET_ROI}
)
# Commands whose param4 may be NaN (AP_Mission::sanity_check_params).
_NAN_P4_OK = frozenset({NAV_WAYPOINT, NAV_LAND, NAV_TAKEOFF})
_ABSOLUTE_FRAMES = frozenset({0, 2, 5})  # GLOBAL, MISSION, GLOBAL_INT
_RELATIVE_FRAMES = frozenset({3, 6})  # GLOBAL_RELATIVE_ALT(_INT)
_TERRAIN_FRAMES = frozenset({10, 11})
LOCATION_ALT_MAX_M = 83000.0


class ItemRejected(Exception):
    """An uploaded item ArduPilot refuses; ``result`` is the MAV_MISSION_RESULT it acks with."""

    def __init__(self, result: int) -> None:
        super().__init__(f"item rejected with MAV_MISSION_RESULT {result}")
        self.result = result


def _uint(value: float, bits: int) -> int:
    """C float -> unsigned integer conversion (truncation), clamped where C would be undefined."""
    return max(0, min(2**bits - 1, int(value))) if not math.isnan(value) else 0


def _int(value: float, bits: int) -> int:
    return max(-(2 ** (bits - 1)), min(2 ** (bits - 1) - 1, int(value))) if not math.isnan(value) else 0


def mission_item_from_float_xy(item: MissionItem, lat_deg: float, lon_deg: float) -> MissionItem:
    """Convert a legacy MISSION_ITEM (float degrees) like ArduPilot: ``x * 1.0e7f`` then truncate."""
    x = int(float32(float32(lat_deg) * float32(1.0e7)))
    y = int(float32(float32(lon_deg) * float32(1.0e7)))
    return dataclasses.replace(item, x=x, y=y)


def _check_params(item: MissionItem) -> None:
    for index, value in enumerate((item.param1, item.param2, item.param3, item.param4)):
        nan_ok = index == 3 and item.command in _NAN_P4_OK
        if math.isinf(value) or (math.isnan(value) and not nan_ok):
            raise ItemRejected(MISSION_INVALID_PARAM1 + index)


def store_mission_item(item: MissionItem) -> MissionItem:
    """Return the item as ArduCopter would send it back after storing it.

    Raises
    ------
    ItemRejected: with the MAV_MISSION_RESULT ArduPilot acks for an unsupported command, frame or
        invalid parameter.
    """
    _check_params(item)
    cmd = item.command
    p1 = p2 = p3 = p4 = 0.0
    if cmd in (NAV_WAYPOINT, NAV_TAKEOFF):
        p1 = float(_uint(item.param1, 16))
    elif cmd == NAV_LOITER_UNLIM:
        p3 = float(_uint(abs(item.param3), 16)) * (-1.0 if item.param3 < 0 else 1.0)
    elif cmd == NAV_LOITER_TIME:
        p1 = float(_uint(item.param1, 16))
        p3 = -1.0 if item.param3 < 0 else 1.0
        p4 = 1.0 if item.param4 > 0 else 0.0
    elif cmd == NAV_RETURN_TO_LAUNCH or cmd == DO_LAND_START:
        pass
    elif cmd == NAV_LAND:
        p1 = float(_uint(item.param1, 16))
        p4 = -1.0 if (not math.isnan(item.param4) and item.param4 < 0) else 1.0
    elif cmd == NAV_DELAY:
        p1 = float32(item.param1)
        p2, p3, p4 = (float(_int(v, 8)) for v in (item.param2, item.param3, item.param4))
    elif cmd in (CONDITION_DELAY, CONDITION_DISTANCE):
        p1 = float32(item.param1)
    elif cmd == DO_JUMP:
        p1, p2 = float(_uint(item.param1, 16)), float(_int(item.param2, 16))
    elif cmd == DO_CHANGE_SPEED:
        p1, p2, p3 = float(_uint(item.param1, 8)), float32(item.param2), float32(item.param3)
    elif cmd in (DO_SET_HOME, DO_SET_ROI, DO_FENCE_ENABLE):
        p1 = float(_uint(item.param1, 16))
    elif cmd == DO_SET_SERVO:
        p1, p2 = float(_uint(item.param1, 8)), float(_uint(item.param2, 16))
    elif cmd == DO_GRIPPER:
        p1, p2 = float(_uint(item.param1, 8)), float(_uint(item.param2, 8))
    elif cmd == NAV_PAYLOAD_PLACE:
        p1 = float32(float32(_uint(float32(item.param1) * float32(100.0), 16)) / 100.0)
    else:
        raise ItemRejected(MISSION_UNSUPPORTED)

    frame, x, y, z = 0, 0, 0, 0.0
    if cmd in _LOCATION_COMMANDS:
        if abs(item.x) > 900_000_000:
            raise ItemRejected(MISSION_INVALID_PARAM5_X)
        if abs(item.y) > 1_800_000_000:
            raise ItemRejected(MISSION_INVALID_PARAM6_Y)
        if math.isnan(item.z) or abs(item.z) >= LOCATION_ALT_MAX_M:
            raise ItemRejected(MISSION_INVALID_PARAM7)
        if item.frame in _ABSOLUTE_FRAMES:
            frame = 0
        elif item.frame in _RELATIVE_FRAMES:
            frame = 3
        elif item.frame in _TERRAIN_FRAMES:
            frame = 10
        else:
            raise ItemRejected(MISSION_UNSUPPORTED_FRAME)
        alt_cm = int(float32(float32(item.z) * float32(100.0)))
        x, y, z = item.x, item.y, float32(float32(alt_cm) * float32(0.01))
    return MissionItem(
        seq=item.seq, command=cmd, frame=frame, param1=p1, param2=p2, param3=p3, param4=p4,
        x=x, y=y, z=z, current=0, autocontinue=1, mission_type=MissionType.MISSION,
    )


def home_item(*, lat_deg: float, lon_deg: float, alt_amsl_m: float) -> MissionItem:
    """Return mission item 0 as ArduPilot sends it: home, NAV_WAYPOINT, absolute frame, alt in cm."""
    alt_cm = int(round(alt_amsl_m * 100.0))
    return MissionItem(
        seq=0, command=NAV_WAYPOINT, frame=0, x=int(round(lat_deg * 1e7)), y=int(round(lon_deg * 1e7)),
        z=float32(float32(alt_cm) * float32(0.01)), mission_type=MissionType.MISSION,
    )


def store_fence_item(item: MissionItem) -> MissionItem:
    """Return a fence item as ArduPilot stores and re-sends it (raises :class:`ItemRejected`)."""
    if item.frame not in _ABSOLUTE_FRAMES - {2} | _RELATIVE_FRAMES | _TERRAIN_FRAMES:
        raise ItemRejected(MISSION_UNSUPPORTED_FRAME)
    if item.command in (FENCE_POLYGON_INCLUSION, FENCE_POLYGON_EXCLUSION):
        p1 = float(_uint(item.param1, 8))
    elif item.command in (FENCE_CIRCLE_INCLUSION, FENCE_CIRCLE_EXCLUSION):
        p1 = float32(item.param1)
    elif item.command == FENCE_RETURN_POINT:
        p1 = 0.0
    else:
        raise ItemRejected(MISSION_UNSUPPORTED)
    return MissionItem(seq=item.seq, command=item.command, frame=0, param1=p1, x=item.x, y=item.y,
                       z=0.0, mission_type=MissionType.FENCE)


def fence_is_valid(items: list[MissionItem]) -> bool:
    """Check polygon vertex runs (consistent count >= 3, complete) and positive circle radii."""
    i = 0
    while i < len(items):
        item = items[i]
        if item.command in (FENCE_POLYGON_INCLUSION, FENCE_POLYGON_EXCLUSION):
            count = int(item.param1)
            if count < 3 or i + count > len(items):
                return False
            run = items[i:i + count]
            if any(v.command != item.command or int(v.param1) != count for v in run):
                return False
            i += count
            continue
        if item.command in (FENCE_CIRCLE_INCLUSION, FENCE_CIRCLE_EXCLUSION) and item.param1 <= 0:
            return False
        i += 1
    return True


def store_rally_item(item: MissionItem) -> MissionItem:
    """Return a rally point as ArduPilot stores it: altitude int16 metres (raises ItemRejected)."""
    if item.command != NAV_RALLY_POINT:
        raise ItemRejected(MISSION_UNSUPPORTED)
    if item.frame in _ABSOLUTE_FRAMES - {2}:
        frame = 0
    elif item.frame in _RELATIVE_FRAMES:
        frame = 3
    else:
        raise ItemRejected(MISSION_UNSUPPORTED_FRAME)
    return MissionItem(seq=item.seq, command=NAV_RALLY_POINT, frame=frame, x=item.x, y=item.y,
                       z=float(_int(item.z, 16)), mission_type=MissionType.RALLY)
