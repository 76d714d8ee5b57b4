"""Parcel API through a real app and database: intake, errors, tracking, scans, CSV import."""

from __future__ import annotations

from controller.services.auth import Role
from tests.controller.conftest import bearer

NEW_PARCEL = {"id": "SS1001", "origin": "caiyuan-dc", "destination": "dengta-village", "weight_kg": 2.0,
              "length_cm": 30, "width_cm": 20, "height_cm": 20, "priority": 1,
              "ready_at": "2026-12-01T08:00:00+08:00", "recipient_name": "王女士"}


def test_create_get_and_track(client, role_tokens) -> None:  # type: ignore[no-untyped-def]
    courier = bearer(role_tokens[Role.COURIER])
    created = client.post("/api/v1/parcels", json=NEW_PARCEL, headers=courier)
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "received"
    assert created.json()["ready_at"] == "2026-12-01T00:00:00Z"
    scan = client.post("/api/v1/parcels/SS1001/scan", headers=courier,
                       json={"to_state": "in_transit_ferry", "place_id": "caiyuan-dc", "reason": "loaded"})
    assert scan.status_code == 200, scan.text
    events = client.get("/api/v1/parcels/SS1001/events", headers=courier).json()
    assert [(e["from_state"], e["to_state"]) for e in events] == [(None, "received"),
                                                                   ("received", "in_transit_ferry")]
    assert events[1]["actor"] == "test-courier" and events[1]["reason"] == "loaded"
    listed = client.get("/api/v1/parcels", params={"state": "in_transit_ferry"}, headers=courier).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == "SS1001"


def test_bad_input_gets_a_4xx_with_a_stable_code(client, role_tokens) -> None:  # type: ignore[no-untyped-def]
    auth = bearer(role_tokens[Role.DISPATCHER])
    cases = [
        ({**NEW_PARCEL, "weight_kg": -1}, 422, "validation_failed"),
        ({**NEW_PARCEL, "destination": "atlantis"}, 422, "validation_failed"),
        ({**NEW_PARCEL, "ready_at": "2026-12-01T08:00:00"}, 422, "validation_failed"),
        ({**NEW_PARCEL, "destination": "caiyuan-dc"}, 422, "validation_failed"),
        ({**NEW_PARCEL, "unexpected": 1}, 422, "validation_failed"),
    ]
    for body, status, code in cases:
        response = client.post("/api/v1/parcels", json=body, headers=auth)
        assert (response.status_code, response.json()["code"]) == (status, code), body
    assert client.post("/api/v1/parcels", content=b"{not json", headers=auth).status_code == 422
    assert client.post("/api/v1/parcels", json=NEW_PARCEL, headers=auth).status_code == 201
    again = client.post("/api/v1/parcels", json=NEW_PARCEL, headers=auth)
    assert (again.status_code, again.json()["code"]) == (409, "already_exists")
    missing = client.get("/api/v1/parcels/NOPE", headers=auth)
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    illegal = client.post("/api/v1/parcels/SS1001/scan", json={"to_state": "picked_up"}, headers=auth)
    assert (illegal.status_code, illegal.json()["code"]) == (409, "invalid_transition")
    assert illegal.json()["details"]["from_state"] == "received"


def test_oversized_request_is_refused(client, role_tokens) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/parcels/import", content=b"x" * 2_000_000,
                           headers={**bearer(role_tokens[Role.ADMIN]), "content-type": "text/csv"})
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"


def test_csv_import_endpoint(client, role_tokens) -> None:  # type: ignore[no-untyped-def]
    csv_text = ("id,origin,destination,weight_kg,length_cm,width_cm,height_cm\n"
                "C1,caiyuan-dc,daao-village,1,10,10,10\n"
                "C2,caiyuan-dc,daao-village,heavy,10,10,10\n")
    response = client.post("/api/v1/parcels/import", content=csv_text.encode(),
                           headers={**bearer(role_tokens[Role.DISPATCHER]), "content-type": "text/csv"})
    assert response.status_code == 200
    assert response.json()["imported"] == ["C1"]
    assert response.json()["rejected"][0]["row"] == 2


def test_service_points_list_the_shengsi_network(client, role_tokens) -> None:  # type: ignore[no-untyped-def]
    points = client.get("/api/v1/service-points", headers=bearer(role_tokens[Role.KIOSK])).json()
    names = {p["name"] for p in points}
    assert {"caiyuan-dc", "huaniao-station", "dengta-village", "daao-village"} <= {p["id"] for p in points}
    assert any("灯塔村" in n for n in names) and any("大岙村" in n for n in names)


def test_tokens_are_stored_only_hashed(client, role_tokens, shengsi_factory) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from controller.db.models import User

    with shengsi_factory() as session:
        stored = {u.token_hash for u in session.scalars(select(User))}
    assert not set(role_tokens.values()) & stored
    assert all(len(h) == 64 for h in stored)


def test_admin_creates_users_and_the_token_works_once_shown(client, role_tokens) -> None:  # type: ignore[no-untyped-def]
    created = client.post("/api/v1/users", json={"name": "dispatcher-zhou", "role": "dispatcher"},
                          headers=bearer(role_tokens[Role.ADMIN]))
    assert created.status_code == 201
    token = created.json()["token"]
    assert client.get("/api/v1/me", headers=bearer(token)).json()["name"] == "dispatcher-zhou"
    users = client.get("/api/v1/users", headers=bearer(role_tokens[Role.ADMIN])).json()
    assert all("token" not in u for u in users)
    audit = client.get("/api/v1/audit", params={"action": "user.create"},
                       headers=bearer(role_tokens[Role.ADMIN])).json()
    assert any(e["object_id"] == "dispatcher-zhou" for e in audit)


def test_scan_persists_state_event_and_audit_once(client, role_tokens) -> None:  # type: ignore[no-untyped-def]
    # The scan endpoint writes with prepared SQL statements (services.parcels.scan_parcel), not the
    # ORM: check it stores what transition_parcel stores, and that a re-sent event_uid is applied once.
    courier = bearer(role_tokens[Role.COURIER])
    admin = bearer(role_tokens[Role.ADMIN])
    assert client.post("/api/v1/parcels", json=NEW_PARCEL, headers=courier).status_code == 201
    body = {"to_state": "at_service_point", "place_id": "dengta-village", "reason": "arrived",
            "event_uid": "scan-1"}
    first = client.post("/api/v1/parcels/SS1001/scan", json=body, headers=courier)
    again = client.post("/api/v1/parcels/SS1001/scan", json=body, headers=courier)
    assert first.status_code == again.status_code == 200, first.text
    assert first.json() == again.json()
    assert first.json()["from_state"] == "received" and first.json()["place_id"] == "dengta-village"
    parcel = client.get("/api/v1/parcels/SS1001", headers=courier).json()
    assert (parcel["state"], parcel["location_id"]) == ("at_service_point", "dengta-village")
    events = client.get("/api/v1/parcels/SS1001/events", headers=courier).json()
    assert [e["id"] for e in events][-1] == first.json()["id"] and len(events) == 2
    audit = client.get("/api/v1/audit", params={"action": "parcel.transition"}, headers=admin).json()
    assert [(e["object_id"], e["details"]["to"]) for e in audit] == [("SS1001", "at_service_point")]
    no_place = client.post("/api/v1/parcels/SS1001/scan", json={"to_state": "in_transit_ferry"}, headers=courier)
    assert no_place.json()["place_id"] == "dengta-village"  # the parcel's last place, as before
