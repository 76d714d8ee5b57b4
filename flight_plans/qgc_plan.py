"""QGroundControl ``.plan`` files (JSON): mission, geofence and rally points.

Format (QGC dev guide, "Plan File Format"; what QGC checks when it loads a file)::

    {"fileType": "Plan", "version": 1, "groundStation": "...",
     "mission": {"version": 2, "firmwareType": 3 (MAV_AUTOPILOT_ARDUPILOTMEGA),
                 "vehicleType": 2 (MAV_TYPE_QUADROTOR), "cruiseSpeed": m/s, "hoverSpeed": m/s,
                 "globalPlanAltitudeMode": 1,
                 "plannedHomePosition": [lat_deg, lon_deg, alt_amsl_m],
                 "items": [{"type": "SimpleItem", "doJumpId": 1-based, "command": MAV_CMD,
                            "frame": MAV_FRAME, "autoContinue": bool,
                            "params": [p1, p2, p3, p4, lat_deg, lon_deg, alt_m],  # 7 values
                            "Altitude": alt_m, "AltitudeMode": 1 relative | 2 AMSL,
                            "AMSLAltAboveTerrain": null}, ...]},   # must hold >= 1 item
     "geoFence": {"version": 2,
                  "polygons": [{"version": 1, "inclusion": bool, "polygon": [[lat, lon], ...]}],
                  "circles": [{"version": 1, "inclusion": bool,
                               "circle": {"center": [lat, lon], "radius": m}}]},
     "rallyPoints": {"version": 2, "points": [[lat_deg, lon_deg, alt_m], ...]}}

Home (MISSION seq 0) is not an item in the file: it is ``plannedHomePosition``; on import it comes
back as seq 0 (NAV_WAYPOINT, frame GLOBAL). Polygons are unclosed vertex lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flight_plans.errors import PlanFileError
from flight_plans.mav_cmd import MavCmd, MavFrame
from flight_plans.mission_item import MissionItem, MissionType, degrees_to_e7

FIRMWARE_ARDUPILOT = 3
VEHICLE_QUADROTOR = 2
_ABSOLUTE_FRAMES = {MavFrame.GLOBAL, MavFrame.GLOBAL_INT}


@dataclass(frozen=True, kw_only=True)
class PlanContents:
    """What a ``.plan`` holds, as MAVLink items (mission includes home at seq 0)."""

    mission_items: list[MissionItem]
    fence_items: list[MissionItem] = field(default_factory=list)
    rally_items: list[MissionItem] = field(default_factory=list)
    cruise_speed_m_s: float = 12.0
    hover_speed_m_s: float = 5.0
    firmware_type: int = FIRMWARE_ARDUPILOT
    vehicle_type: int = VEHICLE_QUADROTOR


def to_qgc_plan(contents: PlanContents, *, ground_station: str = "island-dispatch") -> dict[str, Any]:
    """Return the ``.plan`` JSON object for ``contents`` (serialise with ``json.dumps``).

    Raises
    ------
    PlanFileError: no mission items (home is required), or malformed fence polygon groups.
    """
    mission = sorted(contents.mission_items, key=lambda i: i.seq)
    if len(mission) < 2:
        raise PlanFileError("a plan needs home (seq 0) and at least one mission item", where="mission")
    home = mission[0]
    items = []
    for jump_id, item in enumerate(mission[1:], start=1):
        items.append(
            {
                "AMSLAltAboveTerrain": None,
                "Altitude": item.z,
                "AltitudeMode": 2 if item.frame in _ABSOLUTE_FRAMES else 1,
                "autoContinue": bool(item.autocontinue),
                "command": item.command,
                "doJumpId": jump_id,
                "frame": item.frame,
                "params": [
                    item.param1,
                    item.param2,
                    item.param3,
                    item.param4,
                    item.x / 1e7,
                    item.y / 1e7,
                    item.z,
                ],
                "type": "SimpleItem",
            }
        )
    return {
        "fileType": "Plan",
        "version": 1,
        "groundStation": ground_station,
        "mission": {
            "version": 2,
            "firmwareType": contents.firmware_type,
            "vehicleType": contents.vehicle_type,
            "cruiseSpeed": contents.cruise_speed_m_s,
            "hoverSpeed": contents.hover_speed_m_s,
            "globalPlanAltitudeMode": 1,
            "plannedHomePosition": [home.x / 1e7, home.y / 1e7, home.z],
            "items": items,
        },
        "geoFence": _fence_to_plan(contents.fence_items),
        "rallyPoints": {"version": 2, "points": [[r.x / 1e7, r.y / 1e7, r.z] for r in contents.rally_items]},
    }


def _fence_to_plan(fence_items: Sequence[MissionItem]) -> dict[str, Any]:
    polygons: list[dict[str, Any]] = []
    circles: list[dict[str, Any]] = []
    items = sorted(fence_items, key=lambda i: i.seq)
    k = 0
    while k < len(items):
        item = items[k]
        if item.command in (MavCmd.NAV_FENCE_CIRCLE_INCLUSION, MavCmd.NAV_FENCE_CIRCLE_EXCLUSION):
            circles.append(
                {
                    "version": 1,
                    "inclusion": item.command == MavCmd.NAV_FENCE_CIRCLE_INCLUSION,
                    "circle": {"center": [item.x / 1e7, item.y / 1e7], "radius": item.param1},
                }
            )
            k += 1
        elif item.command in (
            MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
        ):
            count = int(item.param1)
            group = items[k : k + count]
            if count < 3 or len(group) < count or any(g.command != item.command for g in group):
                raise PlanFileError(
                    f"polygon of {count} vertices is incomplete or mixed", where=f"fence seq {item.seq}"
                )
            polygons.append(
                {
                    "version": 1,
                    "inclusion": item.command == MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                    "polygon": [[g.x / 1e7, g.y / 1e7] for g in group],
                }
            )
            k += count
        else:
            raise PlanFileError(f"unsupported fence command {item.command}", where=f"fence seq {item.seq}")
    return {"version": 2, "polygons": polygons, "circles": circles}


def _require(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise PlanFileError(f"missing key {key!r}", where=where)
    return obj[key]


def _num(value: Any, where: str) -> float:
    if value is None:
        return 0.0  # QGC writes null for unused (NaN) parameters
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanFileError(f"expected a number, got {value!r}", where=where)
    return float(value)


def from_qgc_plan(obj: Mapping[str, Any]) -> PlanContents:
    """Read a ``.plan`` JSON object (as from ``json.load``) back into MAVLink items.

    Only ``SimpleItem`` mission items are supported (no survey/complex items).

    Raises
    ------
    PlanFileError: wrong ``fileType`` or version, a missing key, a complex item, a bad value.
    """
    if _require(obj, "fileType", "plan") != "Plan":
        raise PlanFileError("fileType must be 'Plan'", where="plan")
    if _require(obj, "version", "plan") != 1:
        raise PlanFileError("only plan version 1 is supported", where="plan")
    mission = _require(obj, "mission", "plan")
    if _require(mission, "version", "mission") != 2:
        raise PlanFileError("only mission version 2 is supported", where="mission")
    home_pos = _require(mission, "plannedHomePosition", "mission")
    if not isinstance(home_pos, list) or len(home_pos) != 3:
        raise PlanFileError("plannedHomePosition must be [lat, lon, alt]", where="mission")
    mission_items = [
        MissionItem(
            seq=0,
            command=int(MavCmd.NAV_WAYPOINT),
            frame=int(MavFrame.GLOBAL),
            x=degrees_to_e7(_num(home_pos[0], "plannedHomePosition")),
            y=degrees_to_e7(_num(home_pos[1], "plannedHomePosition")),
            z=_num(home_pos[2], "plannedHomePosition"),
            current=1,
        )
    ]
    for n, raw in enumerate(_require(mission, "items", "mission"), start=1):
        where = f"mission item {n}"
        if _require(raw, "type", where) != "SimpleItem":
            raise PlanFileError(f"unsupported item type {raw.get('type')!r}", where=where)
        params = _require(raw, "params", where)
        if not isinstance(params, list) or len(params) != 7:
            raise PlanFileError("params must hold 7 values", where=where)
        p = [_num(v, f"{where} params") for v in params]
        mission_items.append(
            MissionItem(
                seq=n,
                command=int(_num(_require(raw, "command", where), where)),
                frame=int(_num(_require(raw, "frame", where), where)),
                param1=p[0],
                param2=p[1],
                param3=p[2],
                param4=p[3],
                x=degrees_to_e7(p[4]),
                y=degrees_to_e7(p[5]),
                z=p[6],
                autocontinue=1 if _require(raw, "autoContinue", where) else 0,
            )
        )
    fence_items: list[MissionItem] = []
    fence = obj.get("geoFence") or {"polygons": [], "circles": []}
    for n, poly in enumerate(fence.get("polygons", [])):
        where = f"geoFence polygon {n}"
        vertices = _require(poly, "polygon", where)
        cmd = (
            MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION
            if _require(poly, "inclusion", where)
            else MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION
        )
        for lat, lon in vertices:
            fence_items.append(_fence_item(len(fence_items), cmd, float(len(vertices)), lat, lon, where))
    for n, circ in enumerate(fence.get("circles", [])):
        where = f"geoFence circle {n}"
        c = _require(circ, "circle", where)
        lat, lon = _require(c, "center", where)
        cmd = (
            MavCmd.NAV_FENCE_CIRCLE_INCLUSION
            if _require(circ, "inclusion", where)
            else MavCmd.NAV_FENCE_CIRCLE_EXCLUSION
        )
        fence_items.append(
            _fence_item(len(fence_items), cmd, _num(_require(c, "radius", where), where), lat, lon, where)
        )
    rally = obj.get("rallyPoints") or {"points": []}
    rally_items = [
        MissionItem(
            seq=n,
            command=int(MavCmd.NAV_RALLY_POINT),
            frame=int(MavFrame.GLOBAL_RELATIVE_ALT),
            x=degrees_to_e7(_num(pt[0], "rally")),
            y=degrees_to_e7(_num(pt[1], "rally")),
            z=_num(pt[2], "rally"),
            mission_type=MissionType.RALLY,
        )
        for n, pt in enumerate(rally.get("points", []))
    ]
    return PlanContents(
        mission_items=mission_items,
        fence_items=fence_items,
        rally_items=rally_items,
        cruise_speed_m_s=_num(mission.get("cruiseSpeed", 12.0), "cruiseSpeed"),
        hover_speed_m_s=_num(mission.get("hoverSpeed", 5.0), "hoverSpeed"),
        firmware_type=int(_num(mission.get("firmwareType", FIRMWARE_ARDUPILOT), "firmwareType")),
        vehicle_type=int(_num(mission.get("vehicleType", VEHICLE_QUADROTOR), "vehicleType")),
    )


def _fence_item(seq: int, cmd: MavCmd, param1: float, lat: Any, lon: Any, where: str) -> MissionItem:
    return MissionItem(
        seq=seq,
        command=int(cmd),
        frame=int(MavFrame.GLOBAL),
        param1=param1,
        x=degrees_to_e7(_num(lat, where)),
        y=degrees_to_e7(_num(lon, where)),
        mission_type=MissionType.FENCE,
    )
