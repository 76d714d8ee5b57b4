"""The sortie state machine (names shared with controller.vehicle's SortieRunner)."""

from __future__ import annotations

import enum

from controller.domain.state_machine import TransitionTable


class SortieState(str, enum.Enum):
    PLANNED = "planned"
    APPROVED = "approved"
    REJECTED = "rejected"
    UPLOADING = "uploading"
    READY = "ready"
    AIRBORNE = "airborne"
    DELIVERING = "delivering"
    RETURNING = "returning"
    LANDING = "landing"
    COMPLETED = "completed"
    UPLOAD_FAILED = "upload_failed"
    PREFLIGHT_FAILED = "preflight_failed"
    ABORTED = "aborted"
    DIVERTED = "diverted"
    LINK_LOST = "link_lost"
    FAILSAFE = "failsafe"
    CANCELLED = "cancelled"


_S = SortieState
FLYING = frozenset({_S.AIRBORNE, _S.DELIVERING, _S.RETURNING, _S.LANDING})
ACTIVE = frozenset({_S.UPLOADING, _S.READY, *FLYING, _S.LINK_LOST, _S.FAILSAFE, _S.ABORTED, _S.DIVERTED})

_IN_FLIGHT_FAILURES = frozenset({_S.ABORTED, _S.DIVERTED, _S.LINK_LOST, _S.FAILSAFE})

SORTIE_TRANSITIONS: TransitionTable[SortieState] = TransitionTable.build(
    "sortie",
    {
        _S.PLANNED: {_S.APPROVED, _S.REJECTED, _S.CANCELLED},
        # An approval is voided (plan changed, expired) back to planned.
        _S.APPROVED: {_S.UPLOADING, _S.PLANNED, _S.CANCELLED},
        _S.REJECTED: set(),
        _S.UPLOADING: {_S.READY, _S.UPLOAD_FAILED, _S.LINK_LOST, _S.ABORTED},
        _S.READY: {_S.AIRBORNE, _S.PREFLIGHT_FAILED, _S.LINK_LOST, _S.ABORTED, _S.PLANNED},
        _S.AIRBORNE: {_S.DELIVERING, _S.RETURNING, _S.LANDING, _S.COMPLETED, *_IN_FLIGHT_FAILURES},
        _S.DELIVERING: {_S.RETURNING, _S.LANDING, _S.COMPLETED, *_IN_FLIGHT_FAILURES},
        _S.RETURNING: {_S.LANDING, _S.COMPLETED, *_IN_FLIGHT_FAILURES},
        _S.LANDING: {_S.COMPLETED, *_IN_FLIGHT_FAILURES},
        _S.COMPLETED: set(),
        _S.UPLOAD_FAILED: {_S.PLANNED, _S.CANCELLED},
        _S.PREFLIGHT_FAILED: {_S.PLANNED, _S.CANCELLED},
        # Abort means RTL: the vehicle still lands, which completes the (failed) sortie.
        _S.ABORTED: {_S.LANDING, _S.COMPLETED, _S.LINK_LOST, _S.FAILSAFE, _S.CANCELLED},
        _S.DIVERTED: {_S.LANDING, _S.COMPLETED, _S.LINK_LOST, _S.FAILSAFE, _S.ABORTED},
        # Monitoring resumes on reconnect: back to whatever the vehicle is doing.
        _S.LINK_LOST: {*FLYING, _S.READY, _S.COMPLETED, _S.ABORTED, _S.FAILSAFE, _S.DIVERTED, _S.UPLOADING,
                       _S.UPLOAD_FAILED, _S.PREFLIGHT_FAILED},
        # The operator may still abort (RTL/land) a vehicle that is in a failsafe or diverted.
        _S.FAILSAFE: {_S.LANDING, _S.COMPLETED, _S.LINK_LOST, _S.DIVERTED, _S.ABORTED},
        _S.CANCELLED: set(),
    },
)
