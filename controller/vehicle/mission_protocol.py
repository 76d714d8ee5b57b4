"""MAVLink mission protocol (upload and download) as pure, sans-I/O state machines.

Upload (controller = GCS, vehicle = autopilot)::

    GCS                                   vehicle
     |-- MISSION_COUNT(n, type) ----------->|   wait handshake_timeout_s, resend COUNT
     |<--------- MISSION_REQUEST_INT(0) ----|   (ArduPilot may send MISSION_REQUEST instead)
     |-- MISSION_ITEM_INT(0) -------------->|   wait request_timeout_s, resend last item
     |               ...                    |
     |<--------- MISSION_ACK(ACCEPTED) -----|   any other result ends the transfer,
                                                except INVALID_SEQUENCE (ArduPilot re-requests)

Download::

     |-- MISSION_REQUEST_LIST(type) ------->|   wait handshake_timeout_s, resend
     |<--------- MISSION_COUNT(n) ----------|
     |-- MISSION_REQUEST_INT(0) ----------->|   wait item_timeout_s, re-request same seq
     |<--------- MISSION_ITEM_INT(0) -------|
     |               ...                    |
     |-- MISSION_ACK(ACCEPTED) ------------>|

Each machine is fed incoming messages (:meth:`on_message`) and the clock (:meth:`on_tick`) and
returns the messages to send. After ``max_retries`` resends without progress it gives up with
:class:`MissionTimeout` and tells the vehicle with MISSION_ACK(OPERATION_CANCELLED). Defaults follow
https://mavlink.io/en/services/mission.html: 1500 ms for the handshake, 250 ms per item, 5 retries.
No I/O, no sleeping: the async driver in :mod:`controller.vehicle.link` owns time and sockets.
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.vehicle.dialect import mavlink2
from controller.vehicle.errors import (
    MissionAckError,
    MissionMismatch,
    MissionTimeout,
    VehicleLinkError,
)
from flight_plans.mission_item import MissionItem, MissionType

MAV_MISSION_ACCEPTED = mavlink2.MAV_MISSION_ACCEPTED
MAV_MISSION_INVALID_SEQUENCE = mavlink2.MAV_MISSION_INVALID_SEQUENCE
MAV_MISSION_OPERATION_CANCELLED = mavlink2.MAV_MISSION_OPERATION_CANCELLED


@dataclass(frozen=True, kw_only=True)
class MissionTiming:
    """Timeouts and retry budget of a mission transfer.

    handshake_timeout_s: wait for the first reply (COUNT after REQUEST_LIST, REQUEST after COUNT).
    request_timeout_s: upload: wait for the next request after sending an item. The vehicle drives an
        upload and re-requests on its own, so our resend is a backstop; it is the handshake default.
    item_timeout_s: download: wait for a requested item before re-requesting it.
    max_retries: resends of the same message without progress before giving up.
    """

    handshake_timeout_s: float = 1.5
    request_timeout_s: float = 1.5
    item_timeout_s: float = 0.25
    max_retries: int = 5


class TransferState(enum.Enum):
    """Where a transfer is; terminal states are DONE and FAILED."""

    IDLE = "idle"
    WAITING_COUNT = "waiting_count"
    SENDING = "sending"
    RECEIVING = "receiving"
    DONE = "done"
    FAILED = "failed"


_INT_FRAME_TO_FLOAT = {5: 0, 6: 3, 11: 10}  # MAV_FRAME_*_INT are stored/returned as their float twins


def item_to_message(item: MissionItem, *, target_system: int, target_component: int,
                    as_int: bool = True) -> Any:
    """Encode ``item`` as MISSION_ITEM_INT (default) or the deprecated float MISSION_ITEM."""
    if as_int:
        return mavlink2.MAVLink_mission_item_int_message(
            target_system, target_component, item.seq, item.frame, item.command, item.current,
            item.autocontinue, item.param1, item.param2, item.param3, item.param4,
            int(item.x), int(item.y), item.z, int(item.mission_type))
    return mavlink2.MAVLink_mission_item_message(
        target_system, target_component, item.seq, item.frame, item.command, item.current,
        item.autocontinue, item.param1, item.param2, item.param3, item.param4,
        item.x / 1e7, item.y / 1e7, item.z, int(item.mission_type))


def message_to_item(msg: Any) -> MissionItem:
    """Decode a MISSION_ITEM_INT or MISSION_ITEM into a :class:`MissionItem` (x/y as degE7)."""
    if msg.get_type() == "MISSION_ITEM_INT":
        x, y = int(msg.x), int(msg.y)
    else:
        x, y = int(round(msg.x * 1e7)), int(round(msg.y * 1e7))
    return MissionItem(
        seq=int(msg.seq), command=int(msg.command), frame=int(msg.frame), param1=float(msg.param1),
        param2=float(msg.param2), param3=float(msg.param3), param4=float(msg.param4), x=x, y=y,
        z=float(msg.z), current=int(msg.current), autocontinue=int(msg.autocontinue),
        mission_type=MissionType(int(getattr(msg, "mission_type", 0))))


def _mission_type_of(msg: Any) -> int:
    # mission_type is a MAVLink 2 extension field; a MAVLink 1 message means MISSION.
    return int(getattr(msg, "mission_type", 0) or 0)


class _Transfer:
    """Shared retry bookkeeping of the two machines."""

    def __init__(self, *, mission_type: MissionType, target_system: int, target_component: int,
                 timing: MissionTiming) -> None:
        self.mission_type = MissionType(mission_type)
        self.target_system = target_system
        self.target_component = target_component
        self.timing = timing
        self.state = TransferState.IDLE
        self.failure: VehicleLinkError | None = None
        self.deadline_s: float | None = None
        self.attempts = 0  # sends of the message we are currently waiting on
        self.resends = 0  # total resends over the whole transfer, for diagnostics
        self._last_sent: Any = None
        self._stage = ""
        self._stage_seq = -1

    @property
    def finished(self) -> bool:
        """True once the transfer succeeded or failed."""
        return self.state in (TransferState.DONE, TransferState.FAILED)

    def _arm(self, msg: Any, *, now_s: float, timeout_s: float, stage: str, seq: int,
             fresh: bool) -> list[Any]:
        """Send ``msg`` and wait ``timeout_s`` for ``stage``; ``fresh`` resets the retry budget."""
        if fresh:
            self.attempts = 0
        self.attempts += 1
        self._last_sent = msg
        self._stage, self._stage_seq = stage, seq
        self.deadline_s = now_s + timeout_s
        self._timeout_s = timeout_s
        return [msg]

    def on_tick(self, now_s: float) -> list[Any]:
        """Advance the clock to ``now_s``; resend or give up when the deadline has passed."""
        if self.finished or self.deadline_s is None or now_s < self.deadline_s:
            return []
        if self.attempts > self.timing.max_retries:
            return self._fail(MissionTimeout(self._stage, self._stage_seq, self.attempts), cancel=True)
        self.resends += 1
        return self._arm(self._last_sent, now_s=now_s, timeout_s=self._timeout_s, stage=self._stage,
                         seq=self._stage_seq, fresh=False)

    def _ack(self, result: int) -> Any:
        return mavlink2.MAVLink_mission_ack_message(self.target_system, self.target_component, result,
                                                    int(self.mission_type))

    def _fail(self, error: VehicleLinkError, *, cancel: bool) -> list[Any]:
        self.state = TransferState.FAILED
        self.failure = error
        self.deadline_s = None
        # Tell the vehicle we gave up so it does not keep a half-finished transfer open.
        return [self._ack(MAV_MISSION_OPERATION_CANCELLED)] if cancel else []

    def _succeed(self) -> None:
        self.state = TransferState.DONE
        self.deadline_s = None


class MissionUploader(_Transfer):
    """Upload ``items`` of one mission type; answer the vehicle's item requests.

    Items must be numbered 0..n-1 in order. A MISSION_REQUEST (deprecated, float) is answered with
    MISSION_ITEM_INT by default because ArduPilot accepts either reply and the int form keeps the
    full 1e-7 degree precision; pass ``reply_float_to_request=True`` for strict spec behaviour.

    >>> up = MissionUploader([], mission_type=MissionType.FENCE, target_system=1)
    >>> [m.get_type() for m in up.start(now_s=0.0)]
    ['MISSION_COUNT']
    """

    def __init__(self, items: Sequence[MissionItem], *, mission_type: MissionType, target_system: int,
                 target_component: int = 1, timing: MissionTiming = MissionTiming(),
                 reply_float_to_request: bool = False) -> None:
        super().__init__(mission_type=mission_type, target_system=target_system,
                         target_component=target_component, timing=timing)
        for index, item in enumerate(items):
            if item.seq != index:
                raise ValueError(f"item {index} has seq {item.seq}; items must be numbered 0..n-1")
            if item.mission_type != self.mission_type:
                raise ValueError(f"item {index} is {item.mission_type!r}, transfer is {self.mission_type!r}")
        self.items = list(items)
        self.reply_float_to_request = reply_float_to_request
        self.sent_seqs: set[int] = set()
        self.highest_requested = -1
        self.invalid_sequence_acks = 0

    def start(self, *, now_s: float) -> list[Any]:
        """Begin the upload: returns the MISSION_COUNT to send."""
        self.state = TransferState.SENDING
        count = mavlink2.MAVLink_mission_count_message(self.target_system, self.target_component,
                                                       len(self.items), int(self.mission_type))
        return self._arm(count, now_s=now_s, timeout_s=self.timing.handshake_timeout_s, stage="request",
                         seq=0, fresh=True)

    def on_message(self, msg: Any, *, now_s: float) -> list[Any]:
        """Consume one message from the vehicle; returns what to send in reply."""
        if self.finished or _mission_type_of(msg) != int(self.mission_type):
            return []
        kind = msg.get_type()
        if kind in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
            seq = int(msg.seq)
            if not 0 <= seq < len(self.items):
                return []  # nothing we can send; the vehicle's own timeout will sort it out
            progress = seq > self.highest_requested
            self.highest_requested = max(self.highest_requested, seq)
            self.sent_seqs.add(seq)
            as_int = kind == "MISSION_REQUEST_INT" or not self.reply_float_to_request
            reply = item_to_message(self.items[seq], target_system=self.target_system,
                                    target_component=self.target_component, as_int=as_int)
            # The last item is answered by MISSION_ACK; otherwise by the next request.
            stage = "ack" if seq == len(self.items) - 1 else "request"
            return self._arm(reply, now_s=now_s, timeout_s=self.timing.request_timeout_s, stage=stage,
                             seq=seq, fresh=progress)
        if kind == "MISSION_ACK":
            result = int(msg.type)
            if result == MAV_MISSION_ACCEPTED:
                if len(self.sent_seqs) == len(self.items):
                    self._succeed()
                # else: a stale ACCEPTED from an earlier transfer (delayed/duplicated): ignore it.
                return []
            if result == MAV_MISSION_INVALID_SEQUENCE:
                # ArduPilot answers an out-of-order item (e.g. our duplicate reply) this way and
                # keeps the transfer open, re-requesting what it needs.
                self.invalid_sequence_acks += 1
                return []
            return self._fail(MissionAckError(result, int(self.mission_type)), cancel=False)
        return []


class MissionDownloader(_Transfer):
    """Download the vehicle's items of one mission type; :attr:`items` holds them when DONE.

    >>> down = MissionDownloader(mission_type=MissionType.MISSION, target_system=1)
    >>> [m.get_type() for m in down.start(now_s=0.0)]
    ['MISSION_REQUEST_LIST']
    """

    def __init__(self, *, mission_type: MissionType, target_system: int, target_component: int = 1,
                 timing: MissionTiming = MissionTiming()) -> None:
        super().__init__(mission_type=mission_type, target_system=target_system,
                         target_component=target_component, timing=timing)
        self.count: int | None = None
        self.items: list[MissionItem] = []

    def start(self, *, now_s: float) -> list[Any]:
        """Begin the download: returns the MISSION_REQUEST_LIST to send."""
        self.state = TransferState.WAITING_COUNT
        request = mavlink2.MAVLink_mission_request_list_message(self.target_system, self.target_component,
                                                                int(self.mission_type))
        return self._arm(request, now_s=now_s, timeout_s=self.timing.handshake_timeout_s, stage="count",
                         seq=-1, fresh=True)

    def _request(self, seq: int, now_s: float) -> list[Any]:
        msg = mavlink2.MAVLink_mission_request_int_message(self.target_system, self.target_component, seq,
                                                           int(self.mission_type))
        return self._arm(msg, now_s=now_s, timeout_s=self.timing.item_timeout_s, stage="item", seq=seq,
                         fresh=True)

    def on_message(self, msg: Any, *, now_s: float) -> list[Any]:
        """Consume one message from the vehicle; returns what to send in reply."""
        if self.finished or _mission_type_of(msg) != int(self.mission_type):
            return []
        kind = msg.get_type()
        if kind == "MISSION_COUNT":
            if self.state is not TransferState.WAITING_COUNT:
                return []  # duplicate COUNT (we resent REQUEST_LIST, or the link duplicated it)
            self.count = int(msg.count)
            self.state = TransferState.RECEIVING
            if self.count == 0:
                self._succeed()
                return [self._ack(MAV_MISSION_ACCEPTED)]
            return self._request(0, now_s)
        if kind in ("MISSION_ITEM_INT", "MISSION_ITEM"):
            if self.state is not TransferState.RECEIVING or int(msg.seq) != len(self.items):
                return []  # duplicate or out of order: keep asking for the one we need
            self.items.append(message_to_item(msg))
            if len(self.items) == self.count:
                self._succeed()
                return [self._ack(MAV_MISSION_ACCEPTED)]
            return self._request(len(self.items), now_s)
        if kind == "MISSION_ACK" and int(msg.type) != MAV_MISSION_ACCEPTED:
            if int(msg.type) == MAV_MISSION_INVALID_SEQUENCE:
                return []
            return self._fail(MissionAckError(int(msg.type), int(self.mission_type)), cancel=False)
        return []


# --- verification ---------------------------------------------------------------------------------

_INT_FIELDS = ("command", "x", "y")

#: What ArduCopter keeps of each MISSION command's params (AP_Mission packs them into small fields):
#: "int" = truncated to an integer, "f32" = float32, "cm" = centimetre resolution. Params a command
#: does not keep come back as 0 and are not compared. Commands not listed: all four compared as float32.
ARDUCOPTER_STORED_PARAMS: dict[int, dict[str, str]] = {
    16: {"param1": "int"}, 22: {"param1": "int"}, 21: {"param1": "int"}, 20: {}, 189: {}, 17: {},
    19: {"param1": "int"}, 93: {"param1": "f32"}, 112: {"param1": "f32"}, 114: {"param1": "f32"},
    177: {"param1": "int", "param2": "int"}, 178: {"param1": "int", "param2": "f32", "param3": "f32"},
    179: {"param1": "int"}, 201: {"param1": "int"}, 207: {"param1": "int"},
    183: {"param1": "int", "param2": "int"}, 211: {"param1": "int", "param2": "int"}, 94: {"param1": "cm"},
}
_ALL_PARAMS = {name: "f32" for name in ("param1", "param2", "param3", "param4")}
# Altitude tolerance by store: missions keep centimetres (truncated), rally points whole metres.
_Z_TOLERANCE_M = {MissionType.MISSION: 0.0101, MissionType.FENCE: float("inf"), MissionType.RALLY: 1.0}


def _param_equal(kind: str, up: float, down: float) -> bool:
    if kind == "int":
        return (0.0 if math.isnan(up) else float(math.trunc(up))) == down
    if kind == "cm":
        return abs(up - down) <= 0.0101
    return _f32_equal(up, down)


def _f32_equal(a: float, b: float) -> bool:
    fa, fb = to_float32(a), to_float32(b)
    if math.isnan(fa) and math.isnan(fb):
        return True  # NaN means "unchanged/default" in several MAV_CMDs
    return fa == fb


def to_float32(value: float) -> float:
    """Round ``value`` to the nearest float32, as the autopilot stores it.

    >>> to_float32(0.1) == 0.1
    False
    """
    return struct.unpack("<f", struct.pack("<f", value))[0]


def _frame(frame: int) -> int:
    return _INT_FRAME_TO_FLOAT.get(int(frame), int(frame))


def compare_items(uploaded: Sequence[MissionItem], downloaded: Sequence[MissionItem], *,
                  mission_type: MissionType,
                  stored_params: Mapping[int, Mapping[str, str]] | None = ARDUCOPTER_STORED_PARAMS) -> list[str]:
    """List the differences between an uploaded and a read-back item list (empty: identical).

    Comparison follows what the autopilot stores: x/y as int32; z to the store's resolution
    (mission: cm, rally: m; fence vertices have no altitude); params per ``stored_params``
    (None: all four as float32); ``*_INT`` frames equal to their float twins (ArduPilot returns 3
    for 6); ``current`` and ``autocontinue`` are not compared (the vehicle sets them). For MISSION,
    seq 0 is home, which ArduPilot overwrites with the actual home position, so it is skipped.

    >>> a = [MissionItem(seq=0, command=16), MissionItem(seq=1, command=22, z=20.1, param2=3.0)]
    >>> b = [MissionItem(seq=0, command=16, x=5), MissionItem(seq=1, command=22, z=20.0999)]
    >>> compare_items(a, b, mission_type=MissionType.MISSION)
    []
    """
    mission_type = MissionType(mission_type)
    differences: list[str] = []
    if len(uploaded) != len(downloaded):
        differences.append(f"count: uploaded {len(uploaded)}, vehicle has {len(downloaded)}")
    first = 1 if mission_type is MissionType.MISSION else 0
    for up, down in zip(uploaded[first:], downloaded[first:]):
        for name in _INT_FIELDS:
            if int(getattr(up, name)) != int(getattr(down, name)):
                differences.append(f"seq {up.seq} {name}: uploaded {getattr(up, name)}, "
                                   f"vehicle has {getattr(down, name)}")
        if mission_type is not MissionType.FENCE and _frame(up.frame) != _frame(down.frame):
            differences.append(f"seq {up.seq} frame: uploaded {up.frame}, vehicle has {down.frame}")
        if abs(up.z - down.z) > _Z_TOLERANCE_M[mission_type]:
            differences.append(f"seq {up.seq} z: uploaded {up.z!r}, vehicle has {down.z!r}")
        kept = _ALL_PARAMS
        if stored_params is not None and mission_type is MissionType.MISSION:
            kept = stored_params.get(up.command, _ALL_PARAMS)
        elif mission_type is MissionType.RALLY:
            kept = {}
        elif mission_type is MissionType.FENCE:
            kept = {"param1": "f32"}
        for name, kind in kept.items():
            if not _param_equal(kind, getattr(up, name), getattr(down, name)):
                differences.append(f"seq {up.seq} {name}: uploaded {getattr(up, name)!r}, "
                                   f"vehicle has {getattr(down, name)!r}")
    return differences


def verify_items(uploaded: Sequence[MissionItem], downloaded: Sequence[MissionItem], *,
                 mission_type: MissionType) -> None:
    """Raise :class:`MissionMismatch` unless ``downloaded`` matches ``uploaded`` (see compare_items)."""
    differences = compare_items(uploaded, downloaded, mission_type=mission_type)
    if differences:
        raise MissionMismatch(differences)
