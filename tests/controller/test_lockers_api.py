"""Locker endpoints through a real app and database: assignment with one-time codes, the agent's
manifest, event sync exactly once, faults and alerts, admin remote open, who may do what."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from controller.db.engine import transaction
from controller.db.models import Alert, AuditEntry, LockerEvent, Parcel, PickupCode, TrackingEvent
from controller.services import auth, lockers
from controller.services.auth import Role, hash_secret
from tests.conftest import TEST_SECRET
from tests.controller.conftest import bearer

LOCKER = "locker-bus-huaniao-1"
PARCEL = {"id": "SS2001", "origin": "caiyuan-dc", "destination": "dengta-village", "weight_kg": 1.0,
          "length_cm": 20, "width_cm": 15, "height_cm": 10, "recipient_phone": "13800000000"}


def agent_token(factory, locker_id: str = LOCKER) -> str:  # type: ignore[no-untyped-def]
    with transaction(factory) as session:
        return auth.create_user(session, name=lockers.agent_user_name(locker_id), role=Role.KIOSK,
                                secret_key=TEST_SECRET, actor="test")[1]


def event(kind: str, at: str = "2026-12-01T08:00:00+00:00", **payload: object) -> dict[str, object]:
    return {"event_uid": uuid.uuid4().hex, "kind": kind, "at": at, "payload": payload}


def test_assign_issues_a_one_time_code_kept_only_as_hmac(client, role_tokens, shengsi_factory) -> None:  # type: ignore[no-untyped-def]
    courier = bearer(role_tokens[Role.COURIER])
    assert client.post("/api/v1/parcels", json=PARCEL, headers=courier).status_code == 201
    assigned = client.post(f"/api/v1/lockers/{LOCKER}/parcels", json={"parcel_id": "SS2001"}, headers=courier)
    assert assigned.status_code == 201, assigned.text
    code = assigned.json()["code"]
    assert len(code) == 7 and code.isdigit() and assigned.json()["size"] == "S"
    with shengsi_factory() as session:
        stored = session.get(PickupCode, "SS2001")
        assert stored.code_hmac == hash_secret(lockers.locker_code_key(TEST_SECRET, LOCKER), code)
        assert code not in stored.code_hmac
    token = agent_token(shengsi_factory)
    manifest = client.get(f"/api/v1/lockers/{LOCKER}/manifest", headers=bearer(token)).json()
    assert manifest["parcels"] == [{"parcel_id": "SS2001", "code_hmac": stored.code_hmac, "size": "S",
                                    "recipient_phone": "13800000000", "expires_at": manifest["parcels"][0]["expires_at"]}]
    assert "code" not in manifest["parcels"][0]


def test_events_apply_once_and_resent_batches_are_acknowledged(client, role_tokens, shengsi_factory) -> None:  # type: ignore[no-untyped-def]
    client.post("/api/v1/parcels", json=PARCEL, headers=bearer(role_tokens[Role.COURIER]))
    token = bearer(agent_token(shengsi_factory))
    batch = [event("position", lat_deg=30.857, lon_deg=122.672, speed_m_s=0.0),
             event("deposit", parcel_id="SS2001", board=1, lock=3, size="S", courier="wang",
                   expires_at="2026-12-04T08:00:00+00:00", code_hmac="ab" * 32),
             event("pickup", at="2026-12-01T09:00:00+00:00", parcel_id="SS2001", board=1, lock=3)]
    first = client.post(f"/api/v1/lockers/{LOCKER}/events", json={"events": batch}, headers=token)
    assert first.status_code == 200, first.text
    assert first.json()["accepted"] == [e["event_uid"] for e in batch] and first.json()["rejected"] == []
    again = client.post(f"/api/v1/lockers/{LOCKER}/events", json={"events": batch}, headers=token)
    assert again.json() == {"accepted": [], "duplicates": [e["event_uid"] for e in batch], "rejected": []}
    with shengsi_factory() as session:
        assert session.scalar(select(func.count()).select_from(LockerEvent)) == 3
        parcel = session.get(Parcel, "SS2001")
        assert parcel.state == "picked_up" and parcel.location_id == "dengta-village"  # the nearest stop
        steps = session.scalars(select(TrackingEvent.to_state).where(TrackingEvent.parcel_id == "SS2001")
                                .order_by(TrackingEvent.id)).all()
        assert steps == ["received", "at_locker", "picked_up"]
        assert session.get(PickupCode, "SS2001").used_at is not None
    status = client.get(f"/api/v1/lockers/{LOCKER}", headers=bearer(role_tokens[Role.DISPATCHER])).json()
    assert status["online"] is True and status["counts"]["free"] == 24 and status["lat_deg"] == 30.857


def test_faults_become_compartment_states_and_alerts(client, role_tokens, shengsi_factory) -> None:  # type: ignore[no-untyped-def]
    token = bearer(agent_token(shengsi_factory))
    batch = [event("door_fault", board=1, lock=5, during="deposit", parcel_id=None),
             event("door_left_open", board=1, lock=6, state="reserved", parcel_id="X", open_s=130),
             event("board_offline", board=1),
             event("keypad_lockout", failures=5, lockout_s=1800.0),
             event("deposit", parcel_id="NO-SUCH-PARCEL", board=1, lock=1, expires_at="2026-12-04T08:00:00+00:00"),
             event("teleport")]
    reply = client.post(f"/api/v1/lockers/{LOCKER}/events", json={"events": batch}, headers=token).json()
    assert len(reply["accepted"]) == 4
    assert [r["code"] for r in reply["rejected"]] == ["not_found", "unknown_event_kind"]
    status = client.get(f"/api/v1/lockers/{LOCKER}", headers=bearer(role_tokens[Role.ADMIN])).json()
    assert status["counts"]["offline"] == 24
    online = event("board_online", board=1, compartments=[
        {"lock": n, "state": "faulty" if n == 5 else "free", "parcel_id": None} for n in range(1, 25)])
    client.post(f"/api/v1/lockers/{LOCKER}/events", json={"events": [online]}, headers=token)
    status = client.get(f"/api/v1/lockers/{LOCKER}", headers=bearer(role_tokens[Role.ADMIN])).json()
    assert status["counts"]["faulty"] == 1 and status["counts"]["free"] == 23
    with shengsi_factory() as session:
        alert_kinds = sorted(session.scalars(select(Alert.kind)).all())
    assert alert_kinds == ["locker_board_offline", "locker_door_fault", "locker_door_left_open",
                           "locker_event_rejected", "locker_event_rejected", "locker_keypad_lockout"]
    # Stored, so re-sending the rejected ones does not alert again.
    again = client.post(f"/api/v1/lockers/{LOCKER}/events", json={"events": batch[4:]}, headers=token).json()
    assert again["duplicates"] == [batch[4]["event_uid"], batch[5]["event_uid"]]


def test_remote_open_is_audited_and_reaches_the_agent(client, role_tokens, shengsi_factory) -> None:  # type: ignore[no-untyped-def]
    admin = bearer(role_tokens[Role.ADMIN])
    refused = client.post(f"/api/v1/lockers/{LOCKER}/open", json={"board": 1, "lock": 99, "reason": "stuck"},
                          headers=admin)
    assert refused.status_code == 404
    queued = client.post(f"/api/v1/lockers/{LOCKER}/open", json={"board": 1, "lock": 4, "reason": "parcel stuck"},
                         headers=admin)
    assert queued.status_code == 202, queued.text
    command_id = queued.json()["command_id"]
    token = bearer(agent_token(shengsi_factory))
    commands = client.get(f"/api/v1/lockers/{LOCKER}/commands", headers=token).json()["commands"]
    assert [(c["command_id"], c["board"], c["lock"]) for c in commands] == [(command_id, 1, 4)]
    done = event("remote_open", command_id=command_id, board=1, lock=4, reason="parcel stuck", ok=True)
    client.post(f"/api/v1/lockers/{LOCKER}/events", json={"events": [done]}, headers=token)
    assert client.get(f"/api/v1/lockers/{LOCKER}/commands", headers=token).json()["commands"] == []
    with shengsi_factory() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == LOCKER)).all()
    assert "locker.remote_open" in actions and "locker.remote_open_done" in actions


def test_a_kiosk_may_only_sync_its_own_locker(client, role_tokens, shengsi_factory) -> None:  # type: ignore[no-untyped-def]
    other = bearer(agent_token(shengsi_factory, "locker-bus-sijiao-1"))
    for method, tail in (("GET", "manifest"), ("GET", "commands"), ("POST", "events")):
        response = client.request(method, f"/api/v1/lockers/{LOCKER}/{tail}", headers=other,
                                  json={"events": []} if method == "POST" else None)
        assert (response.status_code, response.json()["code"]) == (403, "forbidden"), tail
    generic_kiosk = bearer(role_tokens[Role.KIOSK])
    assert client.get(f"/api/v1/lockers/{LOCKER}/manifest", headers=generic_kiosk).status_code == 403
    assert client.get("/api/v1/lockers", headers=bearer(role_tokens[Role.COURIER])).status_code == 403
    listed = client.get("/api/v1/lockers", headers=bearer(role_tokens[Role.DISPATCHER])).json()
    assert {lk["id"] for lk in listed} >= {LOCKER, "locker-dengta", "locker-daao"}
