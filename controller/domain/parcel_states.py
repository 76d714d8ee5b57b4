"""The parcel state machine: one explicit table, every transition stored as a tracking event."""

from __future__ import annotations

import enum

from controller.domain.state_machine import TransitionTable


class ParcelState(str, enum.Enum):
    RECEIVED = "received"  # accepted at its origin service point
    SCHEDULED = "scheduled"  # assigned to a sortie or a surface leg
    IN_TRANSIT_DRONE = "in_transit_drone"
    IN_TRANSIT_BUS = "in_transit_bus"  # in a bus locker or the bus's hold
    IN_TRANSIT_FERRY = "in_transit_ferry"
    AT_SERVICE_POINT = "at_service_point"
    AT_LOCKER = "at_locker"  # deposited, pickup code issued
    PICKED_UP = "picked_up"
    RETURNED = "returned"  # back to sender (expired or refused)
    LOST = "lost"
    CANCELLED = "cancelled"


IN_TRANSIT = frozenset({ParcelState.IN_TRANSIT_DRONE, ParcelState.IN_TRANSIT_BUS, ParcelState.IN_TRANSIT_FERRY})

_P = ParcelState
PARCEL_TRANSITIONS: TransitionTable[ParcelState] = TransitionTable.build(
    "parcel",
    {
        _P.RECEIVED: {_P.SCHEDULED, *IN_TRANSIT, _P.AT_SERVICE_POINT, _P.AT_LOCKER, _P.CANCELLED, _P.LOST},
        # Back to received when a sortie is rejected, voided or aborted before take-off.
        _P.SCHEDULED: {*IN_TRANSIT, _P.RECEIVED, _P.CANCELLED, _P.LOST},
        _P.IN_TRANSIT_DRONE: {_P.AT_SERVICE_POINT, _P.AT_LOCKER, _P.IN_TRANSIT_BUS, _P.RECEIVED, _P.LOST},
        _P.IN_TRANSIT_BUS: {_P.AT_LOCKER, _P.AT_SERVICE_POINT, _P.PICKED_UP, _P.RECEIVED, _P.LOST},
        _P.IN_TRANSIT_FERRY: {_P.AT_SERVICE_POINT, _P.AT_LOCKER, _P.IN_TRANSIT_BUS, _P.RECEIVED, _P.LOST},
        # A parcel at an intermediate service point is scheduled onwards.
        _P.AT_SERVICE_POINT: {
            _P.SCHEDULED, *IN_TRANSIT, _P.AT_LOCKER, _P.PICKED_UP, _P.RETURNED, _P.LOST
        },
        _P.AT_LOCKER: {_P.PICKED_UP, _P.AT_SERVICE_POINT, _P.IN_TRANSIT_BUS, _P.RETURNED, _P.LOST},
        _P.PICKED_UP: set(),
        _P.RETURNED: set(),
        # A lost parcel that turns up is scanned in at a service point.
        _P.LOST: {_P.AT_SERVICE_POINT},
        _P.CANCELLED: set(),
    },
)
