"""Parcel API through a real app and database: intake, errors, tracking, scans, CSV import."""

from __future__ import annotations

import sqlite3
import threading

from sqlalchemy.engine import make_url

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


class _WorkerSpy:
    """Wraps deps.run_in_threadpool: records which write transactions went to a worker thread."""

    def __init__(self, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        from controller.api import deps

        self.writes = 0
        self.started = threading.Event()
        original = deps.run_in_threadpool

        async def spy(func, *args, **kwargs):  # type: ignore[no-untyped-def]
            if func.__name__ == "in_worker":  # deps.run_write's fallback
                self.writes += 1
                self.started.set()
            return await original(func, *args, **kwargs)

        monkeypatch.setattr(deps, "run_in_threadpool", spy)


def _post_in_thread(client, path: str, body: dict, headers: dict) -> tuple[threading.Thread, list]:  # type: ignore[no-untyped-def]
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(client.post(path, json=body, headers=headers)))
    thread.start()
    return thread, answers


def _stored(client, admin: dict, courier: dict, parcel_id: str) -> tuple[dict, dict, dict]:  # type: ignore[no-untyped-def]
    """The parcel, its last tracking event and its last audit entry, without ids, times and the parcel id."""
    parcel = client.get(f"/api/v1/parcels/{parcel_id}", headers=courier).json()
    event = client.get(f"/api/v1/parcels/{parcel_id}/events", headers=courier).json()[-1]
    audit = [e for e in client.get("/api/v1/audit", params={"action": "parcel.transition"}, headers=admin).json()
             if e["object_id"] == parcel_id]
    assert len(audit) == 1
    drop = {"id", "at", "created_at", "state_changed_at", "object_id", "scanned_code", "rfid", "recipient_name"}
    return ({k: v for k, v in parcel.items() if k not in drop}, {k: v for k, v in event.items() if k not in drop},
            {k: v for k, v in audit[0].items() if k not in drop})


def test_scan_on_the_event_loop_and_in_a_worker_thread_store_the_same_rows(  # type: ignore[no-untyped-def]
        client, role_tokens, settings, monkeypatch) -> None:
    # A scan runs on the event loop on SQLite's own driver (services.parcels.scan_parcel_sqlite),
    # or in a worker thread with SQLAlchemy Core (scan_parcel) while another process holds SQLite's
    # write lock (deps.run_write). Both paths must store the same rows.
    courier, admin = bearer(role_tokens[Role.COURIER]), bearer(role_tokens[Role.ADMIN])
    for pid in ("SS1001", "SS1002"):
        assert client.post("/api/v1/parcels", json={**NEW_PARCEL, "id": pid}, headers=courier).status_code == 201
    spy = _WorkerSpy(monkeypatch)
    body = {"to_state": "at_service_point", "place_id": "dengta-village", "reason": "arrived"}
    on_loop = client.post("/api/v1/parcels/SS1001/scan", json=body, headers=courier)
    assert on_loop.status_code == 200 and spy.writes == 0
    other_process = sqlite3.connect(make_url(settings.resolved_database_url).database, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")
    try:
        thread, answers = _post_in_thread(client, "/api/v1/parcels/SS1002/scan", body, courier)
        assert spy.started.wait(timeout=30)
    finally:
        other_process.execute("COMMIT")
        other_process.close()
    thread.join(timeout=30)
    assert answers[0].status_code == 200 and spy.writes == 1, answers[0].text
    assert _stored(client, admin, courier, "SS1001") == _stored(client, admin, courier, "SS1002")
    assert {k: v for k, v in on_loop.json().items() if k not in ("id", "at", "scanned_code")} == \
        {k: v for k, v in answers[0].json().items() if k not in ("id", "at", "scanned_code")}
    # Stored times: the same text as the ORM writes (the loop path formats them itself).
    database = sqlite3.connect(make_url(settings.resolved_database_url).database)
    try:
        texts = database.execute("SELECT at FROM tracking_events ORDER BY id").fetchall()
        audit_texts = database.execute("SELECT at, details FROM audit_log WHERE action = 'parcel.transition' "
                                       "ORDER BY id").fetchall()
    finally:
        database.close()
    assert len({len(t[0]) for t in texts + audit_texts}) == 1  # intake (ORM), loop and worker scans alike
    assert audit_texts[0][1] == audit_texts[1][1]  # details JSON byte for byte
    # A forbidden transition on the loop: 409, nothing written, and the write lock is free again.
    from controller.db.engine import _write_locks

    events_before = len(client.get("/api/v1/parcels/SS1001/events", headers=courier).json())
    refused = client.post("/api/v1/parcels/SS1001/scan", json={"to_state": "received"}, headers=courier)
    assert (refused.status_code, refused.json()["code"]) == (409, "invalid_transition")
    assert len(client.get("/api/v1/parcels/SS1001/events", headers=courier).json()) == events_before
    lock = _write_locks[client.app.state.engine]
    assert lock.acquire(blocking=False)
    lock.release()
    # A re-sent event_uid on the loop path answers the stored event, as the worker path does.
    first = client.post("/api/v1/parcels/SS1001/scan", json={"to_state": "in_transit_ferry", "event_uid": "u-1"},
                        headers=courier)
    again = client.post("/api/v1/parcels/SS1001/scan", json={"to_state": "in_transit_ferry", "event_uid": "u-1"},
                        headers=courier)
    assert first.status_code == again.status_code == 200 and first.json() == again.json()


def test_scan_waits_on_the_event_loop_for_another_writer_of_this_process(  # type: ignore[no-untyped-def]
        client, role_tokens, monkeypatch) -> None:
    # While a writer of this process (a worker thread, the WAL checkpointer) holds the write lock, a
    # scan waits for it on the event loop without blocking it, and runs there once it is released.
    from controller.db.engine import _write_locks

    courier = bearer(role_tokens[Role.COURIER])
    assert client.post("/api/v1/parcels", json=NEW_PARCEL, headers=courier).status_code == 201
    spy = _WorkerSpy(monkeypatch)
    lock = _write_locks[client.app.state.engine]
    with lock:
        thread, answers = _post_in_thread(client, "/api/v1/parcels/SS1001/scan", {"to_state": "in_transit_ferry"},
                                          courier)
        for _ in range(5):  # the loop keeps answering while the scan waits
            assert client.get("/healthz").status_code == 200
        assert not answers
    thread.join(timeout=30)
    assert answers[0].status_code == 200 and spy.writes == 0, answers[0].text


def test_scan_waits_in_a_worker_thread_while_another_process_holds_sqlites_write_lock(  # type: ignore[no-untyped-def]
        client, role_tokens, settings, monkeypatch) -> None:
    # BEGIN IMMEDIATE on the loop must fail at once (busy_timeout 0), never sleep in SQLite's busy
    # handler: the scan then waits for the lock in a worker thread and the loop keeps serving.
    courier = bearer(role_tokens[Role.COURIER])
    assert client.post("/api/v1/parcels", json=NEW_PARCEL, headers=courier).status_code == 201
    spy = _WorkerSpy(monkeypatch)
    other_process = sqlite3.connect(make_url(settings.resolved_database_url).database, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")
    try:
        thread, answers = _post_in_thread(client, "/api/v1/parcels/SS1001/scan",
                                          {"to_state": "in_transit_ferry"}, courier)
        assert spy.started.wait(timeout=30)
        # Were the loop asleep in the busy handler, this would only answer after the scan gave up.
        assert client.get("/healthz").status_code == 200
    finally:
        other_process.execute("COMMIT")
        other_process.close()
    thread.join(timeout=30)
    assert answers[0].status_code == 200, answers[0].text
    events = client.get("/api/v1/parcels/SS1001/events", headers=courier).json()
    assert [e["to_state"] for e in events] == ["received", "in_transit_ferry"]
    again = client.post("/api/v1/parcels/SS1001/scan", json={"to_state": "at_service_point"}, headers=courier)
    assert again.status_code == 200 and spy.writes == 1  # the lock is free again: back on the loop


def test_concurrent_scans_of_one_parcel_form_one_unbroken_chain(client, role_tokens) -> None:  # type: ignore[no-untyped-def]
    # Scans racing on one parcel (loop and worker paths mixed): each accepted scan is one stored
    # event starting from the state the previous one left, so no transition is lost or applied twice.
    courier = bearer(role_tokens[Role.COURIER])
    assert client.post("/api/v1/parcels", json=NEW_PARCEL, headers=courier).status_code == 201
    statuses: list[int] = []

    def scans(to_state: str) -> None:
        for _ in range(15):
            statuses.append(client.post("/api/v1/parcels/SS1001/scan", json={"to_state": to_state},
                                        headers=courier).status_code)

    threads = [threading.Thread(target=scans, args=(state,))
               for state in ("in_transit_ferry", "at_service_point") * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert set(statuses) <= {200, 409} and len(statuses) == 90
    events = client.get("/api/v1/parcels/SS1001/events", headers=courier).json()
    assert len(events) == 1 + statuses.count(200)
    assert all(later["from_state"] == earlier["to_state"] for earlier, later in zip(events, events[1:]))
    parcel = client.get("/api/v1/parcels/SS1001", headers=courier).json()
    assert parcel["state"] == events[-1]["to_state"]
