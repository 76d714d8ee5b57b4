"""Persistence: the same tests run on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from controller.db import migrate
from controller.db.engine import make_engine, make_session_factory, transaction
from controller.db.models import AuditEntry, Base, Parcel, TrackingEvent
from controller.domain.errors import AlreadyExists, InvalidTransition
from controller.domain.parcel_input import ParcelInput
from controller.domain.parcel_states import ParcelState
from controller.scenario import load_scenario
from controller.services import network, parcel_import, parcels


@pytest.fixture
def factory(any_database_url):  # type: ignore[no-untyped-def]
    engine = make_engine(any_database_url)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        network.install_scenario(session, scenario=load_scenario("shengsi"), actor="test")
    yield factory
    engine.dispose()


def _parcel(**overrides: object) -> ParcelInput:
    fields: dict[str, object] = dict(id="SS0001", origin="caiyuan-dc", destination="dengta-village",
                                     weight_kg=1.2, length_cm=30, width_cm=20, height_cm=15)
    fields.update(overrides)
    return ParcelInput(**fields)  # type: ignore[arg-type]


def test_migrations_reach_head_and_match_the_models(any_database_url: str) -> None:
    engine = make_engine(any_database_url)
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == "0005"
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        drift = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert drift == [], f"models and migrations differ: {drift}"
    engine.dispose()


def test_scenario_install_is_idempotent(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as session:
        assert network.install_scenario(session, scenario=load_scenario("shengsi"), actor="test") is False
        meta = network.scenario_metadata(session)
    assert meta["name"] == "shengsi"
    assert meta["counts"]["service_points"] == len(load_scenario("shengsi").service_points)


def test_parcel_lifecycle_is_stored_with_every_transition(factory) -> None:  # type: ignore[no-untyped-def]
    ready = datetime(2026, 12, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    with transaction(factory) as session:
        parcels.create_parcel(session, data=_parcel(ready_at=ready), actor="courier-li")
    steps = [(ParcelState.SCHEDULED, "caiyuan-dc"), (ParcelState.IN_TRANSIT_DRONE, "huaniao"),
             (ParcelState.AT_SERVICE_POINT, "huaniao-station"), (ParcelState.IN_TRANSIT_BUS, "huaniao-1"),
             (ParcelState.AT_LOCKER, "locker-bus-huaniao-1"), (ParcelState.PICKED_UP, "locker-bus-huaniao-1")]
    for state, place in steps:
        with transaction(factory) as session:
            parcels.transition_parcel(session, parcel_id="SS0001", to_state=state, actor="test", place_id=place)
    with factory() as session:
        parcel = session.get(Parcel, "SS0001")
        events = parcels.tracking_events(session, "SS0001")
        assert parcel is not None and parcel.state == "picked_up"
        assert parcel.ready_at == ready and parcel.ready_at.tzinfo is not None
        assert [e.to_state for e in events] == ["received"] + [s.value for s, _ in steps]
        assert [e.from_state for e in events[1:]] == [e.to_state for e in events[:-1]]
        assert all(e.at.tzinfo is not None for e in events)
        audited = session.scalars(select(AuditEntry).where(AuditEntry.object_id == "SS0001")).all()
        assert len(audited) == len(steps) + 1


def test_invalid_transition_is_rejected_and_writes_nothing(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as session:
        parcels.create_parcel(session, data=_parcel(), actor="test")
    with pytest.raises(InvalidTransition) as info:
        with transaction(factory) as session:
            parcels.transition_parcel(session, parcel_id="SS0001", to_state=ParcelState.PICKED_UP, actor="x")
    assert info.value.facts == {"kind": "parcel", "id": "SS0001", "from_state": "received",
                                "to_state": "picked_up"}
    with factory() as session:
        assert session.get(Parcel, "SS0001").state == "received"  # type: ignore[union-attr]
        assert len(parcels.tracking_events(session, "SS0001")) == 1


def test_device_events_apply_once(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as session:
        parcels.create_parcel(session, data=_parcel(), actor="test")
    for _ in range(3):
        with transaction(factory) as session:
            parcels.transition_parcel(session, parcel_id="SS0001", to_state=ParcelState.AT_LOCKER,
                                      actor="locker", event_uid="evt-1")
    with factory() as session:
        count = session.scalars(select(TrackingEvent).where(TrackingEvent.parcel_id == "SS0001")).all()
        assert len(count) == 2


def test_duplicate_parcel_is_refused(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as session:
        parcels.create_parcel(session, data=_parcel(), actor="test")
    with pytest.raises(AlreadyExists):
        with transaction(factory) as session:
            parcels.create_parcel(session, data=_parcel(), actor="test")


def test_csv_import_keeps_good_rows_and_reports_bad_ones(factory) -> None:  # type: ignore[no-untyped-def]
    text = (
        "id,origin,destination,weight_kg,length_cm,width_cm,height_cm,priority,ready_at,due_at\n"
        "P1,caiyuan-dc,dengta-village,1.0,20,20,20,1,2026-12-01T08:00:00+08:00,2026-12-01T12:00:00+08:00\n"
        "P2,caiyuan-dc,nowhere,1.0,20,20,20,2,,\n"  # unknown destination
        "P3,caiyuan-dc,daao-village,-4,20,20,20,2,,\n"  # negative weight
        "P4,huaniao-station,caiyuan-dc,3.5,40,30,20,1,2026-12-01T09:00:00+08:00,\n"
        "P1,caiyuan-dc,dengta-village,1.0,20,20,20,1,,\n"  # duplicate of row 1
        "P5,caiyuan-dc,dengta-village,1.0,20,20,20,2,2026-12-01T08:00:00,\n"  # naive time
    )
    with transaction(factory) as session:
        report = parcel_import.import_csv(session, text=text, actor="test")
    assert report.imported == ["P1", "P4"]
    assert [(r.row, r.parcel_id) for r in report.rejected] == [(2, "P2"), (3, "P3"), (5, "P1"), (6, "P5")]
    assert "nowhere" in report.rejected[0].error and "weight_kg" in report.rejected[1].error
    with factory() as session:
        stored = sorted(p.id for p in session.scalars(select(Parcel)))
    assert stored == ["P1", "P4"]


def test_times_round_trip_as_utc(factory) -> None:  # type: ignore[no-untyped-def]
    due = datetime(2026, 12, 1, 23, 30, tzinfo=timezone(timedelta(hours=8)))
    with transaction(factory) as session:
        parcels.create_parcel(session, data=_parcel(due_at=due), actor="test")
    with factory() as session:
        stored = session.get(Parcel, "SS0001").due_at  # type: ignore[union-attr]
    assert stored == due and stored.utcoffset() == timedelta(0) and stored.tzinfo == UTC
