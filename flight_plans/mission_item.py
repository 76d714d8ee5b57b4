"""The MAVLink mission item value type shared by the planner, the vehicle link and the simulator.

Mirrors the fields of ``MISSION_ITEM_INT`` (MAVLink common.xml). Latitude and longitude travel as
integers in degrees * 1e7 (``x``/``y``), which is also how ArduPilot stores them; altitude ``z`` is
a float in metres in the item's frame.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class MissionType(enum.IntEnum):
    """MAV_MISSION_TYPE: which of the vehicle's stores an item belongs to."""

    MISSION = 0
    FENCE = 1
    RALLY = 2


@dataclass(frozen=True, kw_only=True)
class MissionItem:
    """One ``MISSION_ITEM_INT``.

    Parameters
    ----------
    seq: position in the list, 0-based (ArduPilot: 0 is home for the MISSION type).
    command: MAV_CMD number (e.g. 16 NAV_WAYPOINT, 22 NAV_TAKEOFF, 5001 fence vertex).
    frame: MAV_FRAME number (0 global, 3 global relative alt, 6 global relative alt int …).
    param1..param4: command parameters (units per MAV_CMD).
    x: latitude in degrees * 1e7 (or a local x for local frames).
    y: longitude in degrees * 1e7.
    z: altitude in metres in ``frame``.
    current: 1 only for the item the vehicle should start at (home at seq 0 for ArduPilot).
    autocontinue: 1 to continue to the next item automatically.
    mission_type: MISSION, FENCE or RALLY.
    """

    seq: int
    command: int
    frame: int = 3
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: int = 0
    y: int = 0
    z: float = 0.0
    current: int = 0
    autocontinue: int = 1
    mission_type: MissionType = MissionType.MISSION

    @property
    def lat_deg(self) -> float:
        """Latitude in degrees."""
        return self.x / 1e7

    @property
    def lon_deg(self) -> float:
        """Longitude in degrees."""
        return self.y / 1e7


def degrees_to_e7(value_deg: float) -> int:
    """Convert degrees to the integer degrees * 1e7 that MISSION_ITEM_INT carries (rounded)."""
    return int(round(value_deg * 1e7))
