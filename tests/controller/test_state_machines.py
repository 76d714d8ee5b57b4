"""The explicit transition tables: legal paths pass, illegal ones raise with the facts."""

from __future__ import annotations

import pytest

from controller.domain.errors import InvalidTransition
from controller.domain.parcel_states import PARCEL_TRANSITIONS, ParcelState
from controller.domain.sortie_states import SORTIE_TRANSITIONS, SortieState

P, S = ParcelState, SortieState


@pytest.mark.parametrize("path", [
    [P.RECEIVED, P.SCHEDULED, P.IN_TRANSIT_DRONE, P.AT_SERVICE_POINT, P.IN_TRANSIT_BUS, P.AT_LOCKER, P.PICKED_UP],
    [P.RECEIVED, P.SCHEDULED, P.IN_TRANSIT_FERRY, P.AT_SERVICE_POINT, P.PICKED_UP],
    [P.RECEIVED, P.SCHEDULED, P.RECEIVED, P.CANCELLED],
    [P.RECEIVED, P.AT_LOCKER, P.RETURNED],
    [P.RECEIVED, P.SCHEDULED, P.IN_TRANSIT_DRONE, P.LOST, P.AT_SERVICE_POINT],
])
def test_parcel_paths_allowed(path: list[ParcelState]) -> None:
    for before, after in zip(path, path[1:]):
        PARCEL_TRANSITIONS.check("p", before, after)


@pytest.mark.parametrize(("before", "after"), [
    (P.RECEIVED, P.PICKED_UP), (P.PICKED_UP, P.AT_LOCKER), (P.CANCELLED, P.SCHEDULED),
    (P.RETURNED, P.RECEIVED), (P.SCHEDULED, P.PICKED_UP), (P.AT_LOCKER, P.SCHEDULED),
])
def test_parcel_transitions_refused(before: ParcelState, after: ParcelState) -> None:
    with pytest.raises(InvalidTransition) as info:
        PARCEL_TRANSITIONS.check("SS9", before, after)
    assert info.value.facts["from_state"] == before.value and info.value.facts["to_state"] == after.value


def test_parcel_terminal_states() -> None:
    assert PARCEL_TRANSITIONS.terminal_states() == {P.PICKED_UP, P.RETURNED, P.CANCELLED}


def test_every_state_has_a_row() -> None:
    assert set(PARCEL_TRANSITIONS.allowed) == set(ParcelState)
    assert set(SORTIE_TRANSITIONS.allowed) == set(SortieState)


@pytest.mark.parametrize("path", [
    [S.PLANNED, S.APPROVED, S.UPLOADING, S.READY, S.AIRBORNE, S.DELIVERING, S.RETURNING, S.LANDING, S.COMPLETED],
    [S.PLANNED, S.APPROVED, S.PLANNED],  # approval voided
    [S.PLANNED, S.APPROVED, S.UPLOADING, S.UPLOAD_FAILED, S.PLANNED],
    [S.PLANNED, S.APPROVED, S.UPLOADING, S.READY, S.AIRBORNE, S.LINK_LOST, S.AIRBORNE, S.COMPLETED],
    [S.PLANNED, S.APPROVED, S.UPLOADING, S.READY, S.AIRBORNE, S.ABORTED, S.LANDING, S.COMPLETED],
])
def test_sortie_paths_allowed(path: list[SortieState]) -> None:
    for before, after in zip(path, path[1:]):
        SORTIE_TRANSITIONS.check("s", before, after)


@pytest.mark.parametrize(("before", "after"), [
    (S.PLANNED, S.UPLOADING),  # nothing is uploaded without approval
    (S.PLANNED, S.AIRBORNE), (S.REJECTED, S.APPROVED), (S.COMPLETED, S.AIRBORNE), (S.UPLOAD_FAILED, S.READY),
])
def test_sortie_transitions_refused(before: SortieState, after: SortieState) -> None:
    assert not SORTIE_TRANSITIONS.can(before, after)
