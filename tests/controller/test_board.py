"""The board, daily statistics and alerts API against a real (SQLite) database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from controller.db.engine import transaction
from controller.db.models import Alert, Compartment, Locker, LockerEvent, Parcel, Sortie, TrackingEvent
from controller.db.types import utc_now
from controller.services import board
from controller.services.auth import Role
from tests.controller.conftest import bearer

SHANGHAI_MIDNIGHT_UTC = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 2026-12-01 00:00 in Asia/Shanghai


def _parcel(session, pid: str, *, created_at: datetime, direction: str = "down", state: str = "received",  # type: ignore[no-untyped-def]
            location: str = "caiyuan-dc", destination: str = "daao-village", due_at: datetime | None = None) -> None:
    origin = "caiyuan-dc" if direction == "down" else "dengta-village"
    session.add(Parcel(id=pid, origin_id=origin, destination_id=destination, direction=direction, weight_kg=1.0,
                       length_cm=10, width_cm=10, height_cm=10, state=state, location_id=location,
                       due_at=due_at, created_at=created_at))
    session.flush()


@pytest.fixture
def staff(role_tokens):  # type: ignore[no-untyped-def]
    return bearer(role_tokens[Role.DISPATCHER])


def test_daily_stats_count_by_local_day_direction_on_time_and_sorties(client, shengsi_factory, staff) -> None:  # type: ignore[no-untyped-def]
    day = SHANGHAI_MIDNIGHT_UTC  # local 12-01 00:00
    with transaction(shengsi_factory) as session:
        # 23:30 UTC on 11-30 is 07:30 on 12-01 in Shanghai: counted on 12-01, not 11-30.
        _parcel(session, "A1", created_at=day + timedelta(hours=7, minutes=30))
        _parcel(session, "A2", created_at=day + timedelta(hours=2), direction="up", destination="caiyuan-dc")
        _parcel(session, "A3", created_at=day - timedelta(minutes=1))  # 11-30 23:59 local
        # Delivered on 12-01: A1 on time, A2 late; an arrival elsewhere than the destination is not a delivery.
        session.add(TrackingEvent(parcel_id="A1", at=day + timedelta(hours=10), to_state="at_locker",
                                  place_id="daao-village", actor="t"))
        session.execute(Parcel.__table__.update().where(Parcel.id == "A1").values(due_at=day + timedelta(hours=11)))
        session.execute(Parcel.__table__.update().where(Parcel.id == "A2").values(due_at=day + timedelta(hours=3)))
        session.add(TrackingEvent(parcel_id="A2", at=day + timedelta(hours=4), to_state="at_service_point",
                                  place_id="caiyuan-dc", actor="t"))
        session.add(TrackingEvent(parcel_id="A3", at=day + timedelta(hours=5), to_state="at_service_point",
                                  place_id="caiyuan-dc", actor="t"))
        for n, state in enumerate(["completed", "approved", "rejected"]):
            session.add(Sortie(id=f"X{n}", drone_id="d01", origin_pad_id="caiyuan", stops=[], state=state, plan={},
                               plan_hash="0" * 64, payload_kg=0, energy_wh=100.0 * (n + 1), battery_wh=1800,
                               altitude_m=90, depart_at=day + timedelta(hours=8), arrive_at=day + timedelta(hours=9)))
    response = client.get("/api/v1/stats/daily", params={"days": 2, "end": "2026-12-01"}, headers=staff)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["timezone"] == "Asia/Shanghai"
    assert [d["date"] for d in body["days"]] == ["2026-11-30", "2026-12-01"]
    nov30, dec1 = body["days"]
    assert (nov30["parcels_down"], nov30["parcels_up"]) == (1, 0)
    assert (dec1["parcels_down"], dec1["parcels_up"]) == (1, 1)
    assert (dec1["delivered"], dec1["on_time"], dec1["on_time_rate"]) == (2, 1, 0.5)
    assert nov30["on_time_rate"] is None
    assert (dec1["sorties"], dec1["sorties_completed"], dec1["energy_wh"]) == (2, 1, 300.0)  # rejected not counted


def test_daily_stats_validates_days(client, staff) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/stats/daily", params={"days": 0}, headers=staff).status_code == 422
    assert client.get("/api/v1/stats/daily", params={"days": 93}, headers=staff).status_code == 422
    assert len(client.get("/api/v1/stats/daily", headers=staff).json()["days"]) == 14


def test_board_counts_waiting_overdue_lockers_and_puts_open_alerts_first(client, shengsi_factory, staff) -> None:  # type: ignore[no-untyped-def]
    now = utc_now()
    with transaction(shengsi_factory) as session:
        _parcel(session, "W1", created_at=now, due_at=now + timedelta(hours=5))
        _parcel(session, "W2", created_at=now, state="scheduled", due_at=now - timedelta(hours=1))  # overdue
        _parcel(session, "T1", created_at=now, state="in_transit_drone", location=None,  # type: ignore[arg-type]
                due_at=now - timedelta(minutes=5))  # overdue, bound for daao, not waiting anywhere
        _parcel(session, "D1", created_at=now, state="picked_up", location="daao-village",
                due_at=now - timedelta(days=1))  # delivered: neither waiting nor overdue
        session.add(TrackingEvent(parcel_id="W2", at=now, to_state="scheduled", place_id="caiyuan-dc", actor="t",
                                  reason="sortie S1"))
        session.add(Alert(severity="info", kind="note", object_type="sortie", object_id="S1", message="info",
                          at=now))
        session.add(Alert(severity="critical", kind="offline", object_type="locker", object_id="locker-dengta",
                          message="offline", at=now - timedelta(hours=1)))
        session.add(Alert(severity="warning", kind="old", object_type="locker", object_id="locker-daao",
                          message="acked", at=now, acknowledged_at=now, acknowledged_by="someone"))
        session.get(Locker, "locker-daao").last_seen_at = now - timedelta(seconds=30)
        session.get(Locker, "locker-dengta").last_seen_at = now - timedelta(seconds=board.LOCKER_ONLINE_WINDOW_S + 5)
        comps = list(session.scalars(select(Compartment).where(Compartment.locker_id == "locker-daao")))
        comps[0].state, comps[1].state = "occupied", "faulty"
        session.add(LockerEvent(event_uid="e1", locker_id="locker-daao", kind="door_closed", at=now))
    response = client.get("/api/v1/board", headers=staff)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [a["message"] for a in body["alerts"]] == ["offline", "info"]  # open only, critical first
    points = {p["id"]: p for p in body["service_points"]}
    assert (points["caiyuan-dc"]["waiting"], points["caiyuan-dc"]["overdue"]) == (2, 1)
    assert (points["daao-village"]["waiting"], points["daao-village"]["overdue"]) == (0, 2)
    assert points["caiyuan-dc"]["last_event"]["parcel_id"] == "W2"
    assert points["daao-village"]["lockers"] == ["locker-daao"]
    lockers = {lk["id"]: lk for lk in body["lockers"]}
    daao = lockers["locker-daao"]
    assert daao["online"] is True and lockers["locker-dengta"]["online"] is False
    assert (daao["compartments"]["occupied"], daao["compartments"]["faulty"]) == (1, 1)
    assert daao["compartments"]["free"] == daao["compartments"]["total"] - 2
    assert daao["last_event"]["kind"] == "door_closed"
    assert lockers["locker-bus-huanglong-1"]["last_event"] is None


def test_alerts_list_and_acknowledge_once(client, shengsi_factory, staff, role_tokens) -> None:  # type: ignore[no-untyped-def]
    with transaction(shengsi_factory) as session:
        session.add(Alert(severity="warning", kind="k", object_type="sortie", object_id="S1", message="m"))
    alerts = client.get("/api/v1/alerts", params={"open": True}, headers=staff).json()
    assert len(alerts) == 1 and alerts[0]["acknowledged_at"] is None
    alert_id = alerts[0]["id"]
    acked = client.post(f"/api/v1/alerts/{alert_id}/ack", headers=staff)
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged_by"] == "test-dispatcher"
    again = client.post(f"/api/v1/alerts/{alert_id}/ack", headers=staff)
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert client.get("/api/v1/alerts", params={"open": True}, headers=staff).json() == []
    assert client.get("/api/v1/alerts", headers=staff).json()[0]["acknowledged_by"] == "test-dispatcher"
    assert client.post("/api/v1/alerts/999999/ack", headers=staff).status_code == 404
    audit = client.get("/api/v1/audit", params={"action": "alert.ack"}, headers=bearer(role_tokens[Role.ADMIN]))
    assert [e["object_id"] for e in audit.json()] == [str(alert_id)]


def test_console_is_served_without_a_token(client) -> None:  # type: ignore[no-untyped-def]
    root = client.get("/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/console/"
    page = client.get("/console/")
    assert page.status_code == 200 and 'src="app.js"' in page.text
    for name in ("app.js", "api.js", "map.js", "charts.js", "i18n.js", "style.css"):
        asset = client.get(f"/console/{name}")
        assert asset.status_code == 200, name
        # Offline-capable: nothing is fetched from another host.
        assert "http://" not in asset.text.replace("http://www.w3.org/2000/svg", "") and "https://" not in asset.text
    assert client.get("/console/../controller/settings.py").status_code == 404
