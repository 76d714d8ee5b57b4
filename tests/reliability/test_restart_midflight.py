"""Issue 4 (restart): a controller restarted mid-flight re-attaches to the vehicle and finishes the sortie
from its telemetry, without uploading the mission again or flying it twice."""

from __future__ import annotations

from fastapi.testclient import TestClient

from controller.api.app import create_app
from controller.db.models import Drone, Parcel
from controller.services import parcels
from tests.operations.conftest import plan_sortie, start_sim_for, wait_for, wait_state
from tests.reliability.conftest import count_texts, transitions

DONE = {"completed", "upload_failed", "preflight_failed"}


def test_restart_while_airborne_reattaches_and_completes(shengsi_factory, flight_settings) -> None:  # type: ignore[no-untyped-def]
    vehicle = start_sim_for(shengsi_factory, "d01")
    try:
        plan_sortie(shengsi_factory, sortie_id="S-restart", drone_id="d01", origin="caiyuan", stops=["wulong"],
                    parcel_ids=["PR1"])
        with TestClient(create_app(flight_settings)) as first:
            wait_state(shengsi_factory, "S-restart", {"airborne"}, timeout_s=60)
            wait_for(lambda: (vehicle.snapshot().alt_rel_m or 0) > 30, timeout_s=30, what="climb above 30 m")
            assert "S-restart" in first.app.state.executor.running
        # The first controller is gone; the vehicle flies on by itself.
        before = [s for s, _ in transitions(shengsi_factory, "S-restart")]
        assert before[-1] == "airborne", before
        at_stop = vehicle.snapshot()
        print(f"stopped controller at alt {at_stop.alt_rel_m:.0f} m, mode {at_stop.mode}, "
              f"seq {at_stop.mission_current_seq}")
        with TestClient(create_app(flight_settings)) as second:
            wait_state(shengsi_factory, "S-restart", DONE, timeout_s=90)
            assert second.app.state.executor.instance_id == "controller-a"
        snap = vehicle.snapshot()
        log = transitions(shengsi_factory, "S-restart")
        states = [s for s, _ in log]
        uploads = count_texts(snap.statustexts, "Flight plan received")
        takeoffs = count_texts(snap.statustexts, "Mission: 1 Takeoff")
        counts = (f"uploading transitions={states.count('uploading')} mission uploads={uploads} "
                  f"takeoffs={takeoffs} states={states}")
        print(counts)
        assert states[-1] == "completed", counts
        assert states.count("uploading") == 1 and states.count("airborne") == 1, counts
        # The vehicle got the mission once and took off once: the new controller did not re-upload.
        assert uploads == 1 and takeoffs == 1, counts
        # Reconciled from the vehicle: it is down and disarmed at the destination, and so says the database.
        assert not snap.armed and snap.landed, snap
        with shengsi_factory() as session:
            assert session.get(Drone, "d01").current_pad_id == "wulong"
            parcel = session.get(Parcel, "PR1")
            assert parcel.state == "at_service_point" and parcel.location_id == "wulong-station"
            timeline = [e.to_state for e in parcels.tracking_events(session, "PR1")]
        # Delivered exactly once.
        assert timeline == ["received", "scheduled", "in_transit_drone", "at_service_point"], timeline
        # The second controller wrote the flight's end (it was driving the sortie, not the first one).
        assert len(states) > len(before) and states[:len(before)] == before, (before, states)
    finally:
        vehicle.stop()
