"""Scheduling and approval through the HTTP API on the Shengsi scenario."""

from __future__ import annotations

from importlib import resources

import pytest

from controller.services.auth import Role
from tests.controller.conftest import bearer

AT = "2026-12-01T07:00:00+08:00"


@pytest.fixture
def dispatcher(role_tokens) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(role_tokens[Role.DISPATCHER])


@pytest.fixture
def scheduled(client, dispatcher):  # type: ignore[no-untyped-def]
    sample = (resources.files("controller") / "scenarios" / "shengsi" / "parcels-sample.csv").read_text("utf-8")
    imported = client.post("/api/v1/parcels/import", content=sample.encode(),
                           headers={**dispatcher, "content-type": "text/csv"}).json()
    assert imported["rejected"] == []
    response = client.post("/api/v1/schedule", json={"at": AT, "wind_ms": 4, "wind_from_deg": 90},
                           headers=dispatcher)
    assert response.status_code == 200, response.text
    return imported["imported"], response.json()


def test_schedule_accounts_for_every_parcel(scheduled, client, dispatcher) -> None:  # type: ignore[no-untyped-def]
    imported, plan = scheduled
    flown = [p for s in plan["sorties"] for p in s["parcels"]]
    by_surface = [p for leg in plan["surface_legs"] for p in leg["parcels"]]
    unassigned = [u["parcel"] for u in plan["unassigned"]]
    assert sorted(flown + by_surface + unassigned) == sorted(imported)
    # Bus legs of bus + drone journeys (village without a pad) carry parcels already counted as flown.
    connecting = [p for leg in plan["connecting_legs"] for p in leg["parcels"]]
    assert set(connecting) <= set(flown) and set(plan["journeys"]) <= set(flown)
    assert plan["sorties"], "the sample day should fly something"
    listed = client.get("/api/v1/sorties", params={"status": "planned"}, headers=dispatcher).json()
    assert {s["id"] for s in listed} == {s["id"] for s in plan["sorties"]}
    for sortie in listed:
        assert sortie["energy_wh"] <= sortie["energy_budget_wh"] + 1e-6
        assert len(sortie["route"]) >= 2 and sortie["plan_hash"] and sortie["wind"]["speed_m_s"] == 4
        assert sortie["separation"]["reason"]
    parcels = client.get("/api/v1/parcels", params={"state": "scheduled", "limit": 500}, headers=dispatcher).json()
    assert parcels["total"] == len(flown) + len(by_surface)
    heavy = [p for p in by_surface]
    assert heavy, "parcels over every drone's payload must go by ferry or bus"


def test_approve_then_the_queue_moves(scheduled, client, dispatcher) -> None:  # type: ignore[no-untyped-def]
    _, plan = scheduled
    first = client.get(f"/api/v1/sorties/{plan['sorties'][0]['id']}", headers=dispatcher).json()
    assert first["mission_items"][1]["command"] == 22 and first["transitions"][0]["to_state"] == "planned"
    wrong = client.post(f"/api/v1/sorties/{first['id']}/approve", json={"plan_hash": "0" * 64}, headers=dispatcher)
    assert (wrong.status_code, wrong.json()["code"]) == (409, "plan_changed")
    ok = client.post(f"/api/v1/sorties/{first['id']}/approve", json={"plan_hash": first["plan_hash"]},
                     headers=dispatcher)
    assert ok.status_code == 200 and ok.json()["state"] == "approved"
    assert ok.json()["approved_by"] == "test-dispatcher" and ok.json()["approval_expires_at"]
    again = client.post(f"/api/v1/sorties/{first['id']}/approve", json={"plan_hash": first["plan_hash"]},
                        headers=dispatcher)
    assert again.json()["code"] == "invalid_transition"


def test_batch_approve_reports_each(scheduled, client, dispatcher) -> None:  # type: ignore[no-untyped-def]
    _, plan = scheduled
    items = [{"id": s["id"], "plan_hash": client.get(f"/api/v1/sorties/{s['id']}", headers=dispatcher)
              .json()["plan_hash"]} for s in plan["sorties"][:2]]
    items.append({"id": "S-nope", "plan_hash": "1" * 64})
    result = client.post("/api/v1/sorties/approve", json={"items": items}, headers=dispatcher).json()
    assert result["approved"] == [i["id"] for i in items[:2]]
    assert result["failed"] == [{"id": "S-nope", "code": "not_found", "message": "sortie 'S-nope' not found"}]


def test_reject_and_cancel_release_parcels(scheduled, client, dispatcher) -> None:  # type: ignore[no-untyped-def]
    _, plan = scheduled
    first, second = plan["sorties"][0], plan["sorties"][1]
    assert client.post(f"/api/v1/sorties/{first['id']}/reject", json={"reason": ""},
                       headers=dispatcher).status_code == 422
    rejected = client.post(f"/api/v1/sorties/{first['id']}/reject", json={"reason": "sea fog at the pad"},
                           headers=dispatcher)
    assert rejected.json()["state"] == "rejected"
    cancelled = client.post(f"/api/v1/sorties/{second['id']}/abort", json={"reason": "drone maintenance"},
                            headers=dispatcher)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    for parcel_id in first["parcels"] + second["parcels"]:
        parcel = client.get(f"/api/v1/parcels/{parcel_id}", headers=dispatcher).json()
        assert parcel["state"] == "received" and parcel["sortie_id"] is None
    land = client.post(f"/api/v1/sorties/{second['id']}/land", json={}, headers=dispatcher)
    assert land.status_code == 409


def test_second_run_does_not_double_book(scheduled, client, dispatcher) -> None:  # type: ignore[no-untyped-def]
    _, first = scheduled
    again = client.post("/api/v1/schedule", json={"at": AT}, headers=dispatcher).json()
    first_parcels = {p for s in first["sorties"] for p in s["parcels"]} | {
        p for leg in first["surface_legs"] for p in leg["parcels"]}
    second_parcels = {p for s in again["sorties"] for p in s["parcels"]} | {
        p for leg in again["surface_legs"] for p in leg["parcels"]}
    assert not first_parcels & second_parcels, "a parcel was planned twice"
    assert second_parcels <= {u["parcel"] for u in first["unassigned"]}
    last_arrival = {}
    for sortie in first["sorties"]:
        last_arrival[sortie["drone"]] = max(last_arrival.get(sortie["drone"], ""), sortie["arrive_at"])
    for sortie in again["sorties"]:
        assert sortie["depart_at"] > last_arrival.get(sortie["drone"], ""), "drone double-booked"


def test_village_parcels_fly_to_the_pad_on_their_bus_line(scheduled) -> None:  # type: ignore[no-untyped-def]
    _, plan = scheduled
    drops = {p: leg["to"] for s in plan["sorties"] for leg in s["legs"] for p in leg["drop"]}
    village_parcels = {"P0019": "huaniao", "P0022": "huanglong"}  # 灯塔村 via Huaniao, 大岙村 via Huanglong
    flown = {p: pad for p, pad in village_parcels.items() if p in drops}
    assert flown, f"no village parcel was flown: {plan['unassigned']}"
    for parcel, pad in flown.items():
        assert drops[parcel] == pad


def test_connecting_bus_legs_are_stored(scheduled, shengsi_factory) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from controller.db.models import SurfaceLeg

    _, plan = scheduled
    connecting = [leg for leg in plan.get("connecting_legs", []) if leg["parcels"]]
    assert connecting, "the sample has village parcels flown via a hub; their bus legs must be planned"
    with shengsi_factory() as session:
        stored = {leg.id: leg for leg in session.scalars(select(SurfaceLeg)) if leg.id.startswith("C")}
    assert {leg["id"] for leg in connecting} == set(stored)
    flown = {p for s in plan["sorties"] for p in s["parcels"]}
    for leg in stored.values():
        assert leg.mode == "bus" and set(leg.parcel_ids) <= flown
