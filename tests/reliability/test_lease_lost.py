"""A controller that finds its sortie's lease held by another instance (it stalled past the lease, and the
other took over) stops supervising that sortie at its next tick, so two controllers never drive one
sortie for longer than a tick; when the lease is free again it re-attaches without a second upload."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import update

from controller.api.app import create_app
from controller.db.engine import transaction
from controller.db.models import Sortie
from controller.db.types import utc_now
from tests.conftest import make_settings
from tests.operations.conftest import plan_sortie, start_sim_for, wait_for, wait_state
from tests.reliability.conftest import count_texts, transitions

SPEEDUP = 40.0


def test_a_lost_lease_stops_supervision_until_the_lease_is_free(shengsi_factory, sqlite_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(sqlite_url, tmp_path, run_vehicles=True, executor_tick_s=0.1,
                             gcs_heartbeat_period_s=1.0 / SPEEDUP, instance_id="controller-a")
    plan_sortie(shengsi_factory, sortie_id="LL1", drone_id="d01", origin="caiyuan", stops=["wulong"],
                parcel_ids=["PLL1"])
    vehicle = start_sim_for(shengsi_factory, "d01", speedup=SPEEDUP)
    try:
        with TestClient(create_app(settings)) as client:
            executor = client.app.state.executor
            wait_state(shengsi_factory, "LL1", {"airborne", "delivering"}, timeout_s=60)
            with transaction(shengsi_factory) as session:
                session.execute(update(Sortie).where(Sortie.id == "LL1").values(
                    lease_owner="controller-x", lease_expires_at=utc_now().replace(year=2100)))
            wait_for(lambda: "LL1" not in executor.running, timeout_s=5, what="supervision stopped")
            seen = len(transitions(shengsi_factory, "LL1"))
            time.sleep(1.0)  # ten ticks: the sortie is neither claimed back nor written to by controller-a
            assert len(transitions(shengsi_factory, "LL1")) == seen
            assert "LL1" not in executor.running

            with transaction(shengsi_factory) as session:  # controller-x is gone and its lease expired
                session.execute(update(Sortie).where(Sortie.id == "LL1").values(
                    lease_expires_at=utc_now().replace(year=2000)))
            assert wait_state(shengsi_factory, "LL1", {"completed"}, timeout_s=90) == "completed"
        log = transitions(shengsi_factory, "LL1")
        assert [s for s, _ in log].count("uploading") == 1, log
        assert {a for _, a in log if a.startswith("controller:")} == {"controller:controller-a"}, log
        assert count_texts(vehicle.snapshot().statustexts, "Mission: 1 Takeoff") == 1
    finally:
        vehicle.stop()
