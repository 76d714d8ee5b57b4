"""Fixtures for flying sorties end to end: a Shengsi database, simulated ArduCopters, a live app."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from controller.api.app import create_app
from controller.db.engine import transaction
from controller.db.models import Drone, Pad, Sortie
from controller.db.types import utc_now
from controller.domain.parcel_input import ParcelInput
from controller.scenario import load_scenario
from controller.services import auth, parcels, sorties
from controller.services.auth import Role
from controller.services.plan_checks import fence_check_for, geofence_for
from controller.services.sortie_plans import build_sortie_plan
from sitl.simvehicle import SimVehicle, SimVehicleConfig
from tests.conftest import TEST_SECRET, make_settings

SPEEDUP = 25.0


def start_sim_for(factory: sessionmaker[Session], drone_id: str, **overrides: object) -> SimVehicle:
    """A simulated ArduCopter at the drone's pad, its URL stored on the drone."""
    with factory() as session:
        drone = session.get(Drone, drone_id)
        pad = session.get(Pad, drone.current_pad_id)  # type: ignore[union-attr]
        config = dict(sysid=drone.sysid, home_lat_deg=pad.lat_deg, home_lon_deg=pad.lon_deg,  # type: ignore[union-attr]
                      home_alt_m=pad.alt_amsl_m, speedup=SPEEDUP, gps_warmup_s=4.0, model=drone.model)  # type: ignore[union-attr]
    config.update(overrides)
    vehicle = SimVehicle(SimVehicleConfig(**config)).start()  # type: ignore[arg-type]
    with transaction(factory) as session:
        session.execute(update(Drone).where(Drone.id == drone_id).values(connection_url=vehicle.url))
    return vehicle


def plan_sortie(factory: sessionmaker[Session], *, sortie_id: str, drone_id: str, origin: str, stops: list[str],
                parcel_ids: list[str], approve: bool = True, energy_wh: float | None = None) -> str:
    """Create (and approve) a sortie the way the scheduler and a dispatcher would."""
    with transaction(factory) as session:
        pads = {p.id: p for p in session.query(Pad)}
        for parcel_id, stop in zip(parcel_ids, stops):
            parcels.create_parcel(session, data=ParcelInput(
                id=parcel_id, origin=pads[origin].service_point_id, destination=pads[stop].service_point_id,
                weight_kg=1.0, length_cm=20, width_cm=20, height_cm=20), actor="test")
        geofence, version = geofence_for(session)
        plan = build_sortie_plan(
            geofence=geofence, geofence_version=version, pads={k: (p.lat_deg, p.lon_deg) for k, p in pads.items()},
            pad_alt_amsl_m={k: p.alt_amsl_m for k, p in pads.items()}, drone_id=drone_id, origin_pad=origin,
            stops=stops, parcel_ids=parcel_ids, altitude_m=60.0, margin_m=100.0,
            wind={"speed_m_s": 3.0, "from_deg": 90.0}, payload_kg=float(len(parcel_ids)),
            extra={"reserve_fraction": 0.25, "energy_wh": energy_wh})
        now = utc_now()
        sorties.create_planned(session, sortie_id=sortie_id, drone_id=drone_id, origin_pad=origin, stops=stops,
                               plan=plan, drops=dict(zip(parcel_ids, stops)), payload_kg=float(len(parcel_ids)),
                               energy_wh=100.0, battery_wh=1000.0, altitude_m=60.0, depart_at=now,
                               arrive_at=now + timedelta(minutes=10), geofence_version=version, actor="scheduler")
    if approve:
        with transaction(factory) as session:
            current = sorties.get_sortie(session, sortie_id).plan_hash
            sorties.approve(session, sortie_id=sortie_id, seen_plan_hash=current, actor="dispatcher-test",
                            ttl_s=600, fence_check=fence_check_for(session))
    return sortie_id


def wait_for(predicate: Callable[[], object], *, timeout_s: float, what: str, poll_s: float = 0.1) -> object:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def sortie_state(factory: sessionmaker[Session], sortie_id: str) -> str:
    with factory() as session:
        return session.get(Sortie, sortie_id).state  # type: ignore[union-attr]


def wait_state(factory: sessionmaker[Session], sortie_id: str, states: set[str], *, timeout_s: float = 60.0) -> str:
    return wait_for(lambda: (s := sortie_state(factory, sortie_id)) in states and s, timeout_s=timeout_s,  # type: ignore[return-value]
                    what=f"sortie {sortie_id} to reach {sorted(states)} (now {sortie_state(factory, sortie_id)})")


@pytest.fixture
def flight_settings(sqlite_url, tmp_path, shengsi_factory):  # type: ignore[no-untyped-def]
    return make_settings(sqlite_url, tmp_path, run_vehicles=True, executor_tick_s=0.2,
                         gcs_heartbeat_period_s=1.0 / SPEEDUP, instance_id="controller-a")


@pytest.fixture
def dispatcher_token(shengsi_factory) -> str:  # type: ignore[no-untyped-def]
    with transaction(shengsi_factory) as session:
        return auth.create_user(session, name="dispatcher-li", role=Role.DISPATCHER, secret_key=TEST_SECRET,
                                actor="test")[1]


@pytest.fixture
def live_app(flight_settings) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(create_app(flight_settings)) as client:
        yield client


@pytest.fixture
def scenario():  # type: ignore[no-untyped-def]
    return load_scenario("shengsi")
