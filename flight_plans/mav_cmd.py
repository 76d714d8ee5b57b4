"""MAVLink command and frame numbers used by the planner (common.xml), named once here."""

from __future__ import annotations

import enum


class MavCmd(enum.IntEnum):
    """MAV_CMD values for the items this package builds and reads."""

    NAV_WAYPOINT = 16
    NAV_LOITER_UNLIM = 17
    NAV_LOITER_TURNS = 18
    NAV_LOITER_TIME = 19
    NAV_RETURN_TO_LAUNCH = 20
    NAV_LAND = 21
    NAV_TAKEOFF = 22
    NAV_SPLINE_WAYPOINT = 82
    NAV_PAYLOAD_PLACE = 94
    DO_GRIPPER = 211
    NAV_FENCE_RETURN_POINT = 5000
    NAV_FENCE_POLYGON_VERTEX_INCLUSION = 5001
    NAV_FENCE_POLYGON_VERTEX_EXCLUSION = 5002
    NAV_FENCE_CIRCLE_INCLUSION = 5003
    NAV_FENCE_CIRCLE_EXCLUSION = 5004
    NAV_RALLY_POINT = 5100


class MavFrame(enum.IntEnum):
    """MAV_FRAME values: GLOBAL altitudes are AMSL, GLOBAL_RELATIVE_ALT are above home."""

    GLOBAL = 0
    GLOBAL_RELATIVE_ALT = 3
    GLOBAL_INT = 5
    GLOBAL_RELATIVE_ALT_INT = 6
