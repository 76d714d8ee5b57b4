"""Sorties the controller cannot settle from the vehicle go to an operator, who settles them by API.

A controller restarted with a sortie in ``ready`` whose launch was commanded, on a vehicle that is down
and reports no battery level, cannot tell whether it flew: it must not launch it (it might fly twice)
nor complete it (it might never have flown). It alerts once, stops driving it, and waits for
``POST /api/v1/sorties/{id}/resolve``. A sortie left ``aborted`` before take-off by a restart ends
``cancelled`` with its parcels back in the pool, not ``completed``.
"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from controller.api.app import create_app
from controller.db.engine import transaction
from controller.db.models import Alert, Drone, Parcel, Sortie
from controller.db.types import utc_now
from controller.domain.errors import Conflict
from controller.domain.sortie_states import SortieState
from controller.operations.resolution import resolve_sortie
from controller.services import parcels, sorties
from tests.conftest import make_settings
from tests.operations.conftest import plan_sortie, start_sim_for, wait_for
from tests.reliability.conftest import transitions

SPEEDUP = 60.0


def _leave(factory, sortie_id: str, states: list[SortieState], *, launch_marker: bool) -> None:  # type: ignore[no-untyped-def]
    """What a controller killed at that point leaves: the states, and a launch marker without a battery level."""
    with transaction(factory) as session:
        sortie = sorties.get_sortie(session, sortie_id, for_update=True)
        for state in states:
            sorties.transition(session, sortie=sortie, to_state=state, actor="controller:killed", reason="test")
        if launch_marker:
            session.execute(update(Sortie).where(Sortie.id == sortie_id).values(
                launch_commanded_at=utc_now(), launch_battery_pct=None))


def _alerts(factory, sortie_id: str, kind: str) -> list[Alert]:  # type: ignore[no-untyped-def]
    with factory() as session:
        return list(session.scalars(select(Alert).where(Alert.object_id == sortie_id, Alert.kind == kind)))


def _parcel(factory, parcel_id: str) -> tuple[str, str | None, list[str]]:  # type: ignore[no-untyped-def]
    with factory() as session:
        parcel = session.get(Parcel, parcel_id)
        return parcel.state, parcel.location_id, [e.to_state for e in parcels.tracking_events(session, parcel_id)]


def test_unknown_launch_outcome_waits_for_an_operator_who_settles_it(shengsi_factory, sqlite_url, tmp_path,
                                                                      dispatcher_token) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(sqlite_url, tmp_path, run_vehicles=True, executor_tick_s=0.1,
                             gcs_heartbeat_period_s=1.0 / SPEEDUP, instance_id="controller-b")
    auth = {"Authorization": f"Bearer {dispatcher_token}"}
    for sortie_id in ("U1", "U2"):
        plan_sortie(shengsi_factory, sortie_id=sortie_id, drone_id="d01", origin="caiyuan",
                    stops=["wulong", "caiyuan"], parcel_ids=[f"P{sortie_id}"])
    _leave(shengsi_factory, "U1", [SortieState.UPLOADING, SortieState.READY], launch_marker=True)
    vehicle = start_sim_for(shengsi_factory, "d01", speedup=SPEEDUP)
    try:
        with TestClient(create_app(settings)) as client:
            wait_for(lambda: _alerts(shengsi_factory, "U1", "launch_outcome_unknown"), timeout_s=30,
                     what="the launch_outcome_unknown alert")
            time.sleep(1.5)  # 15 executor ticks: a retrying executor would have tried (and alerted) again
            assert len(_alerts(shengsi_factory, "U1", "launch_outcome_unknown")) == 1
            held = sorties.get_sortie(shengsi_factory(), "U1")
            # Still ready, and not claimed again: a retrying executor would hold the lease.
            assert (held.state, held.lease_owner) == ("ready", None)
            assert not vehicle.snapshot().armed and len(vehicle.snapshot().mission_items) == 1  # home only

            # Settling needs a reason; a sortie that is not active cannot be settled.
            assert client.post("/api/v1/sorties/U1/resolve", json={"flown": False}, headers=auth).status_code == 422
            assert client.post("/api/v1/sorties/U2/resolve", json={"flown": False, "reason": "x"},
                               headers=auth).status_code == 409

            response = client.post("/api/v1/sorties/U1/resolve", headers=auth,
                                   json={"flown": False, "reason": "pad crew: drone never moved, box still on"})
            assert response.status_code == 200, response.text
            assert response.json()["state"] == "cancelled"
        assert [s for s, _ in transitions(shengsi_factory, "U1")][-2:] == ["aborted", "cancelled"]
        state, location, _events = _parcel(shengsi_factory, "PU1")
        assert (state, location) == ("received", "caiyuan-dc")
        assert not vehicle.snapshot().armed
    finally:
        vehicle.stop()


def test_resolve_as_flown_delivers_at_the_stops_and_moves_the_drone(shengsi_factory) -> None:  # type: ignore[no-untyped-def]
    plan_sortie(shengsi_factory, sortie_id="F1", drone_id="d01", origin="caiyuan", stops=["wulong", "caiyuan"],
                parcel_ids=["PF1"])
    _leave(shengsi_factory, "F1", [SortieState.UPLOADING, SortieState.READY], launch_marker=True)
    with transaction(shengsi_factory) as session:
        session.get(Drone, "d01").current_pad_id = "wulong"  # wherever it was: the mission ends at caiyuan
        resolve_sortie(session, sortie_id="F1", flown=True, actor="dispatcher-li", reason="log shows a flight",
                       now=utc_now(), driven_here=False)
    states = [s for s, _ in transitions(shengsi_factory, "F1")]
    assert states[-2:] == ["airborne", "completed"], states
    state, location, events = _parcel(shengsi_factory, "PF1")
    assert (state, location) == ("at_service_point", "wulong-station")
    assert events[-2:] == ["in_transit_drone", "at_service_point"]
    with shengsi_factory() as session:
        assert session.get(Drone, "d01").current_pad_id == "caiyuan"
        assert session.get(Sortie, "F1").lease_owner is None


def test_resolve_refuses_a_driven_sortie_and_not_flown_after_a_recorded_flight(shengsi_factory) -> None:  # type: ignore[no-untyped-def]
    plan_sortie(shengsi_factory, sortie_id="L1", drone_id="d01", origin="caiyuan", stops=["wulong"],
                parcel_ids=["PL1"])
    _leave(shengsi_factory, "L1", [SortieState.UPLOADING, SortieState.READY, SortieState.AIRBORNE,
                                   SortieState.LINK_LOST], launch_marker=True)
    with transaction(shengsi_factory) as session:
        session.execute(update(Sortie).where(Sortie.id == "L1").values(
            lease_owner="controller-x", lease_expires_at=utc_now().replace(year=2100)))
    for kwargs in ({"flown": True, "driven_here": False}, {"flown": False, "driven_here": True}):
        with pytest.raises(Conflict, match="being driven"), transaction(shengsi_factory) as session:
            resolve_sortie(session, sortie_id="L1", actor="d", reason="r", now=utc_now(), **kwargs)
    with transaction(shengsi_factory) as session:
        session.execute(update(Sortie).where(Sortie.id == "L1").values(lease_expires_at=utc_now().replace(year=2000)))
    with pytest.raises(Conflict, match="recorded in the air"), transaction(shengsi_factory) as session:
        resolve_sortie(session, sortie_id="L1", flown=False, actor="d", reason="r", now=utc_now(), driven_here=False)
    assert sorties.get_sortie(shengsi_factory(), "L1").state == "link_lost"


def test_restart_after_an_abort_before_take_off_cancels(shengsi_factory, sqlite_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(sqlite_url, tmp_path, run_vehicles=True, executor_tick_s=0.1,
                             gcs_heartbeat_period_s=1.0 / SPEEDUP, instance_id="controller-b")
    plan_sortie(shengsi_factory, sortie_id="A1", drone_id="d01", origin="caiyuan", stops=["wulong", "caiyuan"],
                parcel_ids=["PA1"])
    # Killed between the operator's abort (persisted) and the cancellation that follows it.
    _leave(shengsi_factory, "A1", [SortieState.UPLOADING, SortieState.READY, SortieState.ABORTED],
           launch_marker=False)
    vehicle = start_sim_for(shengsi_factory, "d01", speedup=SPEEDUP)
    try:
        with TestClient(create_app(settings)):
            wait_for(lambda: sorties.get_sortie(shengsi_factory(), "A1").state in ("cancelled", "completed"),
                     timeout_s=30, what="the aborted sortie settled")
        assert [s for s, _ in transitions(shengsi_factory, "A1")][-2:] == ["aborted", "cancelled"]
        assert _parcel(shengsi_factory, "PA1")[:2] == ("received", "caiyuan-dc")
        assert not vehicle.snapshot().armed
    finally:
        vehicle.stop()
