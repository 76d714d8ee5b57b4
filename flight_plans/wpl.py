"""``QGC WPL 110`` waypoint files (QGroundControl, Mission Planner, MAVProxy).

Format (mavlink.io "File Formats")::

    QGC WPL 110
    <INDEX>\t<CURRENT>\t<FRAME>\t<COMMAND>\t<P1>\t<P2>\t<P3>\t<P4>\t<LAT>\t<LON>\t<ALT>\t<AUTOCONTINUE>

Line 0 is home. Mission only: no fence, no rally points. Latitude/longitude are written with 7
decimals (the resolution of MISSION_ITEM_INT) and parameters with ``repr`` so a file round-trips
exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from flight_plans.errors import PlanFileError
from flight_plans.mission_item import MissionItem, MissionType, degrees_to_e7

HEADER = "QGC WPL 110"


def to_wpl(items: Sequence[MissionItem]) -> str:
    """Return the text of a ``QGC WPL 110`` file for MISSION items (home first), ending in a newline."""
    lines = [HEADER]
    for item in sorted((i for i in items if i.mission_type is MissionType.MISSION), key=lambda i: i.seq):
        fields = [
            str(item.seq),
            str(item.current),
            str(item.frame),
            str(item.command),
            repr(float(item.param1)),
            repr(float(item.param2)),
            repr(float(item.param3)),
            repr(float(item.param4)),
            f"{item.x / 1e7:.7f}",
            f"{item.y / 1e7:.7f}",
            repr(float(item.z)),
            str(item.autocontinue),
        ]
        lines.append("\t".join(fields))
    return "\n".join(lines) + "\n"


def from_wpl(text: str) -> list[MissionItem]:
    """Parse a ``QGC WPL 110`` file into MISSION items.

    Accepts tabs or spaces between fields and CRLF line ends (Mission Planner writes them).

    Raises
    ------
    PlanFileError: missing/wrong header, wrong field count, or a value that is not a number.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0].strip() != HEADER:
        raise PlanFileError(f"first line must be {HEADER!r}", where="line 1")
    items = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if len(fields) != 12:
            raise PlanFileError(f"expected 12 fields, found {len(fields)}", where=f"line {number}")
        try:
            seq, current, frame, command = (int(f) for f in fields[:4])
            p1, p2, p3, p4, lat, lon, alt = (float(f) for f in fields[4:11])
            autocontinue = int(fields[11])
        except ValueError as exc:
            raise PlanFileError(f"not a number: {exc}", where=f"line {number}") from None
        items.append(
            MissionItem(
                seq=seq,
                command=command,
                frame=frame,
                param1=p1,
                param2=p2,
                param3=p3,
                param4=p4,
                x=degrees_to_e7(lat),
                y=degrees_to_e7(lon),
                z=alt,
                current=current,
                autocontinue=autocontinue,
            )
        )
    return items
