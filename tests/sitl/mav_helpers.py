"""Plain-pymavlink GCS helpers for the simulator tests (no project client code on purpose)."""

from __future__ import annotations

import os
import time
from typing import Any, Callable

os.environ.setdefault("MAVLINK20", "1")

from pymavlink import mavutil  # noqa: E402

from flight_plans.mission_item import MissionItem, MissionType  # noqa: E402

GCS_SYSID = 255


def connect(url: str, timeout_s: float = 10.0) -> Any:
    """Open a GCS connection (sysid 255) and wait for the vehicle's first heartbeat."""
    conn = mavutil.mavlink_connection(url, source_system=GCS_SYSID, source_component=190)
    if conn.wait_heartbeat(timeout=timeout_s) is None:
        raise AssertionError(f"no HEARTBEAT from {url} within {timeout_s} s")
    return conn


def recv(conn: Any, msg_type: str | list[str], predicate: Callable[[Any], bool] = lambda m: True,
         timeout_s: float = 5.0) -> Any:
    """Return the next message of a type that satisfies predicate, or raise AssertionError on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        msg = conn.recv_match(type=msg_type, blocking=True, timeout=max(0.01, deadline - time.monotonic()))
        if msg is not None and predicate(msg):
            return msg
    raise AssertionError(f"no {msg_type} matching within {timeout_s} s")


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.02) -> None:
    """Wait until condition() is true (polling a thread-safe snapshot), else fail with `what`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def command(conn: Any, cmd: int, *params: float, timeout_s: float = 5.0) -> int:
    """Send COMMAND_LONG to sysid 1 and return the COMMAND_ACK result."""
    p = list(params) + [0.0] * (7 - len(params))
    conn.mav.command_long_send(conn.target_system, 1, cmd, 0, *p)
    return recv(conn, "COMMAND_ACK", lambda m: m.command == cmd, timeout_s).result


def upload(conn: Any, items: list[MissionItem], mission_type: MissionType = MissionType.MISSION,
           timeout_s: float = 10.0) -> int:
    """Upload items by the mission protocol (answers MISSION_REQUEST_INT and MISSION_REQUEST); return ACK type."""
    conn.mav.mission_count_send(conn.target_system, 1, len(items), int(mission_type))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        msg = recv(conn, ["MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"],
                   lambda m: m.mission_type == int(mission_type), deadline - time.monotonic())
        if msg.get_type() == "MISSION_ACK":
            return msg.type
        item = items[msg.seq]
        conn.mav.mission_item_int_send(conn.target_system, 1, item.seq, item.frame, item.command, item.current,
                                       item.autocontinue, item.param1, item.param2, item.param3, item.param4,
                                       item.x, item.y, item.z, int(mission_type))
    raise AssertionError("upload did not finish")


def download(conn: Any, mission_type: MissionType = MissionType.MISSION, timeout_s: float = 10.0) -> list[Any]:
    """Download all items with MISSION_REQUEST_INT; return the MISSION_ITEM_INT messages."""
    conn.mav.mission_request_list_send(conn.target_system, 1, int(mission_type))
    count = recv(conn, "MISSION_COUNT", lambda m: m.mission_type == int(mission_type), timeout_s).count
    items = []
    for seq in range(count):
        conn.mav.mission_request_int_send(conn.target_system, 1, seq, int(mission_type))
        items.append(recv(conn, "MISSION_ITEM_INT", lambda m, s=seq: m.seq == s, timeout_s))
    conn.mav.mission_ack_send(conn.target_system, 1, 0, int(mission_type))
    return items


def e7(deg: float) -> int:
    return int(round(deg * 1e7))
