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
                                    "issued_at": assigned.json()["issued_at"], "recipient_phone": "13800000000",
                                    "expires_at": manifest["parcels"][0]["expires_at"]}]
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


def reissue(client, token: str, parcel_id: str = "SS2001", locker_id: str = LOCKER,  # type: ignore[no-untyped-def]
            reason: str = "recipient lost the SMS"):
    return client.post(f"/api/v1/lockers/{locker_id}/parcels/{parcel_id}/code", json={"reason": reason},
                       headers=bearer(token))


def test_reissue_replaces_a_held_parcels_code_keeps_its_expiry_and_is_audited(client, role_tokens,  # type: ignore[no-untyped-def]
                                                                              shengsi_factory) -> None:
    courier = role_tokens[Role.COURIER]
    client.post("/api/v1/parcels", json=PARCEL, headers=bearer(courier))
    old = client.post(f"/api/v1/lockers/{LOCKER}/parcels", json={"parcel_id": "SS2001"}, headers=bearer(courier)).json()
    agent = bearer(agent_token(shengsi_factory))
    deposit = event("deposit", at="2026-11-01T08:00:00+00:00", parcel_id="SS2001", board=1, lock=3, size="S",
                    courier="wang", expires_at="2099-01-04T08:00:00+00:00")  # deposited with the manifest's code
    assert client.post(f"/api/v1/lockers/{LOCKER}/events", json={"events": [deposit]}, headers=agent
                       ).json()["rejected"] == []

    reply = reissue(client, courier)
    assert reply.status_code == 200, reply.text
    new = reply.json()
    assert new["code"] != old["code"] and len(new["code"]) == 7 and new["code"].isdigit()
    assert new["issued_at"] > old["issued_at"]
    assert new["expires_at"] == "2099-01-04T08:00:00+00:00"  # in the locker: the expiry does not restart
    key = lockers.locker_code_key(TEST_SECRET, LOCKER)
    with shengsi_factory() as session:
        stored = session.get(PickupCode, "SS2001")
        assert stored.code_hmac == hash_secret(key, new["code"]) != hash_secret(key, old["code"])
        assert stored.issued_at.isoformat() == new["issued_at"]
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "locker.reissue_code")).one()
        assert (entry.actor, entry.object_id) == ("test-courier", "SS2001")
        assert entry.details["reason"] == "recipient lost the SMS" and entry.details["held"] is True
        assert new["code"] not in str(entry.details) and old["code"] not in str(entry.details)
    manifest = client.get(f"/api/v1/lockers/{LOCKER}/manifest", headers=agent).json()["parcels"]
    assert [(p["code_hmac"], p["issued_at"]) for p in manifest] == [(hash_secret(key, new["code"]), new["issued_at"])]

    # The agent reports it adopted the code: audited too.
    adopted = event("code_replaced", parcel_id="SS2001", state="held", board=1, lock=3, code_issued_at=new["issued_at"])
    assert client.post(f"/api/v1/lockers/{LOCKER}/events", json={"events": [adopted]}, headers=agent
                       ).json()["accepted"] == [adopted["event_uid"]]
    with shengsi_factory() as session:
        assert session.scalars(select(AuditEntry.details).where(AuditEntry.action == "locker.code_replaced")
                               ).one()["issued_at"] == new["issued_at"]


def test_reissue_for_a_parcel_on_its_way_restarts_the_expiry(client, role_tokens, shengsi_factory) -> None:  # type: ignore[no-untyped-def]
    dispatcher = role_tokens[Role.DISPATCHER]
    client.post("/api/v1/parcels", json=PARCEL, headers=bearer(dispatcher))
    old = client.post(f"/api/v1/lockers/{LOCKER}/parcels", json={"parcel_id": "SS2001"},
                      headers=bearer(dispatcher)).json()
    new = reissue(client, dispatcher, reason="SMS gateway down").json()
    assert new["code"] != old["code"] and new["expires_at"] >= old["expires_at"]
    with shengsi_factory() as session:
        assert session.get(PickupCode, "SS2001").code_hmac == hash_secret(
            lockers.locker_code_key(TEST_SECRET, LOCKER), new["code"])


def test_reissue_refuses_with_clear_errors(client, role_tokens, shengsi_factory) -> None:  # type: ignore[no-untyped-def]
    admin = role_tokens[Role.ADMIN]
    for n in range(1, 5):
        client.post("/api/v1/parcels", json={**PARCEL, "id": f"SS200{n}"}, headers=bearer(admin))
    assert reissue(client, admin, "NO-SUCH").json()["code"] == "not_found"
    assert reissue(client, admin, locker_id="no-such-locker").json()["code"] == "not_found"
    unassigned = reissue(client, admin, "SS2001")
    assert (unassigned.status_code, unassigned.json()["code"]) == (404, "parcel_not_in_locker")
    assert "not assigned to any locker" in unassigned.json()["message"]
    client.post("/api/v1/lockers/locker-dengta/parcels", json={"parcel_id": "SS2001"}, headers=bearer(admin))
    elsewhere = reissue(client, admin, "SS2001")
    assert elsewhere.status_code == 404 and "assigned to locker-dengta" in elsewhere.json()["message"]
    assert reissue(client, admin, "SS2001", locker_id="locker-dengta").status_code == 200

    agent = bearer(agent_token(shengsi_factory))
    for parcel_id in ("SS2002", "SS2003"):
        client.post(f"/api/v1/lockers/{LOCKER}/parcels", json={"parcel_id": parcel_id}, headers=bearer(admin))
    batch = [event("deposit", parcel_id="SS2002", board=1, lock=1, expires_at="2099-01-01T00:00:00+00:00"),
             event("pickup", parcel_id="SS2002", board=1, lock=1),
             event("deposit", parcel_id="SS2003", board=1, lock=2, expires_at="2026-01-01T00:00:00+00:00")]
    assert client.post(f"/api/v1/lockers/{LOCKER}/events", json={"events": batch}, headers=agent
                       ).json()["rejected"] == []
    collected = reissue(client, admin, "SS2002")
    assert (collected.status_code, collected.json()["code"]) == (409, "conflict")
    assert "picked_up" in collected.json()["message"]
    expired = reissue(client, admin, "SS2003")
    assert expired.status_code == 409 and "expired" in expired.json()["message"]

    client.post(f"/api/v1/lockers/{LOCKER}/parcels", json={"parcel_id": "SS2004"}, headers=bearer(admin))
    assert reissue(client, admin, "SS2004", reason="   ").status_code == 422
    no_reason = client.post(f"/api/v1/lockers/{LOCKER}/parcels/SS2004/code", json={}, headers=bearer(admin))
    assert no_reason.status_code == 422
    with shengsi_factory() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "locker.reissue_code")) == 1  # only the one that worked


def test_a_deposit_event_keeps_the_newer_of_the_agents_code_and_a_reissued_one(client, role_tokens,  # type: ignore[no-untyped-def]
                                                                               shengsi_factory) -> None:
    admin = role_tokens[Role.ADMIN]
    for parcel_id in ("SS2001", "SS2002"):
        client.post("/api/v1/parcels", json={**PARCEL, "id": parcel_id}, headers=bearer(admin))
        client.post(f"/api/v1/lockers/{LOCKER}/parcels", json={"parcel_id": parcel_id}, headers=bearer(admin))
    reissued = reissue(client, admin, "SS2001").json()
    agent = bearer(agent_token(shengsi_factory))
    # SS2001: the agent issued its code (not having the manifest) a day before the re-issue; it
    # adopts the re-issued code from the manifest, so the controller keeps that one.
    # SS2002: the agent's code is newer than the assignment's: the agent's wins.
    batch = [event("deposit", parcel_id="SS2001", board=1, lock=1, expires_at="2099-01-01T00:00:00+00:00",
                   code_hmac="aa" * 32, code_issued_at="2026-01-01T00:00:00+00:00"),
             event("deposit", parcel_id="SS2002", board=1, lock=2, expires_at="2099-01-01T00:00:00+00:00",
                   code_hmac="bb" * 32, code_issued_at="2099-01-01T00:00:00+00:00")]
    assert client.post(f"/api/v1/lockers/{LOCKER}/events", json={"events": batch}, headers=agent
                       ).json()["rejected"] == []
    key = lockers.locker_code_key(TEST_SECRET, LOCKER)
    with shengsi_factory() as session:
        first, second = session.get(PickupCode, "SS2001"), session.get(PickupCode, "SS2002")
        assert first.code_hmac == hash_secret(key, reissued["code"])
        assert first.expires_at.isoformat() == "2099-01-01T00:00:00+00:00"  # the deposit's expiry all the same
        assert second.code_hmac == "bb" * 32 and second.issued_at.isoformat() == "2099-01-01T00:00:00+00:00"
    # A re-issue after that is stamped after the agent's code, even though the agent's clock is ahead.
    again = reissue(client, admin, "SS2002").json()
    assert again["issued_at"] > "2099-01-01T00:00:00+00:00"


def test_an_unconfirmed_opening_alerts_once_and_takes_a_deposit_door_out_of_service(client, role_tokens,  # type: ignore[no-untyped-def]
                                                                                  shengsi_factory) -> None:
    token = bearer(agent_token(shengsi_factory))
    pickup = event("opening_unconfirmed", board=1, lock=4, action="pickup", parcel_id="SS2001",
                   begun_at="2026-12-01T07:59:58+00:00", out_of_service=False)
    deposit = event("opening_unconfirmed", board=1, lock=9, action="deposit", parcel_id="SS2002",
                    begun_at="2026-12-01T07:59:59+00:00", out_of_service=True)
    for _ in range(2):  # the agent may settle an intent twice; the uid makes the second a duplicate
        reply = client.post(f"/api/v1/lockers/{LOCKER}/events", json={"events": [pickup, deposit]}, headers=token)
        assert reply.status_code == 200 and reply.json()["rejected"] == [], reply.text
    status = client.get(f"/api/v1/lockers/{LOCKER}", headers=bearer(role_tokens[Role.ADMIN])).json()
    assert status["counts"]["faulty"] == 1  # the deposit's door, not the pickup's (its parcel is still inside)
    with shengsi_factory() as session:
        messages = sorted(session.scalars(select(Alert.message).where(Alert.kind == "locker_opening_unconfirmed")))
    assert len(messages) == 2
    assert "door 4: pickup of parcel SS2001" in messages[0] and "door 9: deposit of parcel SS2002" in messages[1]
