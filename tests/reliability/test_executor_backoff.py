"""A sortie whose driver crashes is retried with back-off and an alert, not every executor tick."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from controller.api.app import create_app
from controller.db.engine import transaction
from controller.db.models import Alert, Sortie
from tests.operations.conftest import plan_sortie, start_sim_for, wait_for


def test_crashing_sortie_backs_off_and_alerts_once(shengsi_factory, flight_settings) -> None:  # type: ignore[no-untyped-def]
    vehicle = start_sim_for(shengsi_factory, "d01")
    try:
        plan_sortie(shengsi_factory, sortie_id="S-crash", drone_id="d01", origin="caiyuan", stops=["wulong"],
                    parcel_ids=["PB1"])
        # The database says airborne but the vehicle (on the ground, no mission) is not flying this sortie:
        # re-attaching raises MissionMismatch every time it is tried.
        with transaction(shengsi_factory) as session:
            session.execute(update(Sortie).where(Sortie.id == "S-crash").values(state="airborne"))
        with TestClient(create_app(flight_settings)) as client:
            executor = client.app.state.executor
            started = time.monotonic()
            wait_for(lambda: executor.failures.get("S-crash", (0, 0))[0] >= 3, timeout_s=20,
                     what="three failed attempts")
            elapsed_s = time.monotonic() - started
            attempts = executor.failures["S-crash"][0]
        with shengsi_factory() as session:
            alerts = session.scalar(select(func.count()).select_from(Alert).where(
                Alert.kind == "executor_error", Alert.object_id == "S-crash"))
            state = session.get(Sortie, "S-crash").state
        counts = f"attempts={attempts} in {elapsed_s:.1f} s (tick 0.2 s), executor_error alerts={alerts}"
        print(counts)
        # tick 0.2 s: back-off 0.4 + 0.8 s between the first three attempts; without it, ~6 attempts by now.
        assert elapsed_s >= 1.2 and attempts <= 4, counts
        assert alerts == 1, counts
        assert state == "airborne"  # nothing invented: the database is left for an operator to resolve
        assert len(vehicle.snapshot().mission_items) <= 1  # and nothing was uploaded to the vehicle
    finally:
        vehicle.stop()
