"""Errors raised by the vehicle link: one base class, structured subclasses that carry the facts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class VehicleLinkError(Exception):
    """Base class of every error raised by :mod:`controller.vehicle`."""


class MissionAckError(VehicleLinkError):
    """The vehicle ended a mission transfer with a MISSION_ACK other than ACCEPTED.

    ``result`` is the MAV_MISSION_RESULT number, ``mission_type`` the MAV_MISSION_TYPE.
    """

    def __init__(self, result: int, mission_type: int) -> None:
        self.result = int(result)
        self.mission_type = int(mission_type)
        super().__init__(f"mission transfer refused: result={mission_result_name(result)} ({result}) "
                         f"mission_type={mission_type}")


class MissionTimeout(VehicleLinkError):
    """A mission transfer ran out of retries.

    ``stage`` is what we waited for ("count", "request", "item", "ack"), ``seq`` the item involved
    (-1 when none), ``attempts`` how many times the message was sent.
    """

    def __init__(self, stage: str, seq: int, attempts: int) -> None:
        self.stage = stage
        self.seq = int(seq)
        self.attempts = int(attempts)
        super().__init__(f"mission transfer timed out waiting for {stage} (seq={seq}, attempts={attempts})")


class MissionMismatch(VehicleLinkError):
    """The mission read back from the vehicle differs from the one uploaded.

    ``differences`` is a list of human-readable strings, one per differing field or count.
    """

    def __init__(self, differences: Sequence[str]) -> None:
        self.differences = list(differences)
        shown = "; ".join(self.differences[:5])
        more = f" (+{len(self.differences) - 5} more)" if len(self.differences) > 5 else ""
        super().__init__(f"mission read back differs: {shown}{more}")


class CommandRejected(VehicleLinkError):
    """A COMMAND_LONG was answered with a result other than ACCEPTED, or never answered.

    ``result`` is the MAV_RESULT number, or ``None`` when no COMMAND_ACK arrived.
    """

    def __init__(self, command: int, result: int | None) -> None:
        self.command = int(command)
        self.result = result
        super().__init__(f"command {command} rejected: result={'no ack' if result is None else result}")


class PreArmFailed(VehicleLinkError):
    """The vehicle is not ready to fly; ``reasons`` are PreArm texts and unmet readiness conditions."""

    def __init__(self, reasons: Sequence[str]) -> None:
        self.reasons = list(reasons)
        super().__init__("not ready to arm: " + "; ".join(self.reasons or ["unknown"]))


class ParamSetFailed(VehicleLinkError):
    """A parameter could not be set: ``got`` is the echoed value, ``None`` when nothing was echoed."""

    def __init__(self, name: str, wanted: float, got: float | None) -> None:
        self.name = name
        self.wanted = wanted
        self.got = got
        super().__init__(f"parameter {name}: wanted {wanted}, got {'no reply' if got is None else got}")


class ParamReadFailed(VehicleLinkError):
    """A parameter read got no PARAM_VALUE (unknown name or link trouble)."""

    def __init__(self, name: str, attempts: int) -> None:
        self.name = name
        self.attempts = attempts
        super().__init__(f"parameter {name}: no PARAM_VALUE after {attempts} attempts")


class LinkLost(VehicleLinkError):
    """No HEARTBEAT from vehicle ``sysid`` for ``silent_s`` seconds."""

    def __init__(self, sysid: int, silent_s: float) -> None:
        self.sysid = int(sysid)
        self.silent_s = float(silent_s)
        super().__init__(f"vehicle {sysid}: no heartbeat for {silent_s:.1f} s")


class NotReady(VehicleLinkError):
    """A wait for a vehicle condition (mode, armed, heartbeat …) timed out; ``what`` says which."""

    def __init__(self, what: str, timeout_s: float, detail: dict[str, Any] | None = None) -> None:
        self.what = what
        self.timeout_s = timeout_s
        self.detail = dict(detail or {})
        super().__init__(f"timed out after {timeout_s:.1f} s waiting for {what} {self.detail or ''}".rstrip())


class IllegalTransition(VehicleLinkError):
    """A sortie state machine was asked for a transition its table does not allow."""

    def __init__(self, current: str, wanted: str) -> None:
        self.current = current
        self.wanted = wanted
        super().__init__(f"illegal sortie transition {current} -> {wanted}")


_MISSION_RESULTS = {
    0: "ACCEPTED", 1: "ERROR", 2: "UNSUPPORTED_FRAME", 3: "UNSUPPORTED", 4: "NO_SPACE", 5: "INVALID",
    6: "INVALID_PARAM1", 7: "INVALID_PARAM2", 8: "INVALID_PARAM3", 9: "INVALID_PARAM4",
    10: "INVALID_PARAM5_X", 11: "INVALID_PARAM6_Y", 12: "INVALID_PARAM7", 13: "INVALID_SEQUENCE",
    14: "DENIED", 15: "OPERATION_CANCELLED",
}


def mission_result_name(result: int) -> str:
    """Return the MAV_MISSION_RESULT name for ``result`` (e.g. 4 -> "NO_SPACE")."""
    return _MISSION_RESULTS.get(int(result), f"UNKNOWN_{result}")
