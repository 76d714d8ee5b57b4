"""Approved sorties fly on simulated ArduCopters; the database follows the vehicle."""

from __future__ import annotations

from sqlalchemy import func, select

from controller.db.models import Drone, Parcel, SortieTransition, TrackPoint
from controller.services import parcels
from flight_plans import MissionType
from tests.operations.conftest import SPEEDUP, plan_sortie, start_sim_for, wait_for, wait_state


def _states(factory, sortie_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    with factory() as session:
        rows = session.scalars(select(SortieTransition.to_state).where(SortieTransition.sortie_id == sortie_id)
                               .order_by(SortieTransition.id))
        return list(rows)


def test_approved_sortie_flies_and_delivers(shengsi_factory, live_app) -> None:  # type: ignore[no-untyped-def]
    vehicle = start_sim_for(shengsi_factory, "d01")
    try:
        plan_sortie(shengsi_factory, sortie_id="S-fly-1", drone_id="d01", origin="caiyuan", stops=["wulong"],
                    parcel_ids=["PF1"])
        wait_state(shengsi_factory, "S-fly-1", {"completed", "upload_failed", "preflight_failed", "failsafe"},
                   timeout_s=90)
        states = _states(shengsi_factory, "S-fly-1")
        assert states[:5] == ["planned", "approved", "uploading", "ready", "airborne"], states
        assert states[-1] == "completed", states
        snap = vehicle.snapshot()
        assert not snap.armed and snap.landed
        with shengsi_factory() as session:
            stored = session.scalar(select(func.count()).select_from(TrackPoint)
                                    .where(TrackPoint.sortie_id == "S-fly-1"))
            assert stored and stored >= 5
            parcel = session.get(Parcel, "PF1")
            assert parcel.state == "at_service_point" and parcel.location_id == "wulong-station"
            timeline = [e.to_state for e in parcels.tracking_events(session, "PF1")]
            assert timeline == ["received", "scheduled", "in_transit_drone", "at_service_point"]
            assert session.get(Drone, "d01").current_pad_id == "wulong"
        # What flew is what was approved: the vehicle holds the planned mission and fence.
        assert len(snap.fence_items) > 0 and all(i.mission_type is MissionType.FENCE for i in snap.fence_items)
        assert len(snap.mission_items) >= 4
        # The GCS failsafe listens to this controller, and an approved AUTO mission continues without it.
        assert snap.params["SYSID_MYGCS"] == 250 and snap.params["FS_GCS_ENABLE"] == 1
        assert snap.params["FS_OPTIONS"] == 2 and snap.params["FENCE_TYPE"] == 5
    finally:
        vehicle.stop()


def test_unapproved_sortie_is_never_uploaded(shengsi_factory, live_app) -> None:  # type: ignore[no-untyped-def]
    vehicle = start_sim_for(shengsi_factory, "d01")
    try:
        plan_sortie(shengsi_factory, sortie_id="S-noappr", drone_id="d01", origin="caiyuan", stops=["wulong"],
                    parcel_ids=["PF2"], approve=False)
        # Give the executor several ticks (it ticks every 0.2 s) to do the wrong thing.
        executor = live_app.app.state.executor
        ticks = [0]

        def ticked() -> bool:
            ticks[0] += 1
            return ticks[0] > 10

        wait_for(ticked, timeout_s=5, what="ten polls", poll_s=0.25)
        assert "S-noappr" not in executor.running
        assert _states(shengsi_factory, "S-noappr") == ["planned"]
        assert vehicle.snapshot().mission_items == () or len(vehicle.snapshot().mission_items) <= 1
    finally:
        vehicle.stop()


def test_abort_returns_the_parcels_to_origin(shengsi_factory, live_app, dispatcher_token) -> None:  # type: ignore[no-untyped-def]
    vehicle = start_sim_for(shengsi_factory, "d01")
    try:
        plan_sortie(shengsi_factory, sortie_id="S-abort", drone_id="d01", origin="caiyuan", stops=["wulong"],
                    parcel_ids=["PF3"])
        wait_state(shengsi_factory, "S-abort", {"airborne", "delivering"}, timeout_s=60)
        wait_for(lambda: (vehicle.snapshot().alt_rel_m or 0) > 20, timeout_s=30, what="climb above 20 m")
        response = live_app.post("/api/v1/sorties/S-abort/abort", json={"reason": "thunderstorm ahead"},
                                 headers={"Authorization": f"Bearer {dispatcher_token}"})
        assert response.status_code == 200, response.text
        wait_state(shengsi_factory, "S-abort", {"completed"}, timeout_s=90)
        states = _states(shengsi_factory, "S-abort")
        assert "aborted" in states and states[-1] == "completed"
        with shengsi_factory() as session:
            aborted = session.scalars(select(SortieTransition).where(SortieTransition.sortie_id == "S-abort",
                                                                     SortieTransition.to_state == "aborted")).one()
            assert (aborted.actor, aborted.reason) == ("dispatcher-li", "thunderstorm ahead")
        with shengsi_factory() as session:
            parcel = session.get(Parcel, "PF3")
            assert parcel.state == "received" and parcel.location_id == "caiyuan-dc"
            assert session.get(Drone, "d01").current_pad_id == "caiyuan"
    finally:
        vehicle.stop()


def test_battery_check_refuses_a_sortie_the_battery_cannot_fly(shengsi_factory, live_app) -> None:  # type: ignore[no-untyped-def]
    vehicle = start_sim_for(shengsi_factory, "d01")
    try:
        with shengsi_factory() as session:
            battery_wh = session.get(Drone, "d01").battery_wh
        plan_sortie(shengsi_factory, sortie_id="S-heavy", drone_id="d01", origin="caiyuan", stops=["wulong"],
                    parcel_ids=["PF4"], energy_wh=battery_wh * 0.9)  # more than usable with the reserve
        assert wait_state(shengsi_factory, "S-heavy", {"preflight_failed", "airborne"}, timeout_s=60) \
            == "preflight_failed"
        assert not vehicle.snapshot().armed
        with shengsi_factory() as session:
            assert session.get(Parcel, "PF4").state == "received"
    finally:
        vehicle.stop()


def test_a_busy_drone_gets_no_second_mission_until_the_first_sortie_ends(shengsi_factory, live_app) -> None:  # type: ignore[no-untyped-def]
    vehicle = start_sim_for(shengsi_factory, "d01", speedup=2 * SPEEDUP)  # two flights: only the order matters
    try:
        plan_sortie(shengsi_factory, sortie_id="S-one", drone_id="d01", origin="caiyuan", stops=["wulong"],
                    parcel_ids=["PB1"])
        wait_state(shengsi_factory, "S-one", {"airborne", "delivering"}, timeout_s=60)
        plan_sortie(shengsi_factory, sortie_id="S-two", drone_id="d01", origin="wulong", stops=["caiyuan"],
                    parcel_ids=["PB2"])
        wait_state(shengsi_factory, "S-two", {"completed"}, timeout_s=120)
        with shengsi_factory() as session:
            def at(sortie_id: str, state: str):  # type: ignore[no-untyped-def]
                return session.scalars(select(SortieTransition.at).where(
                    SortieTransition.sortie_id == sortie_id, SortieTransition.to_state == state)).one()

            assert at("S-one", "completed") <= at("S-two", "uploading")
            assert session.get(Parcel, "PB2").state == "at_service_point"
    finally:
        vehicle.stop()
