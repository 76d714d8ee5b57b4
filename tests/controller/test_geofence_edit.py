"""Editing the geofence makes a new version and voids approvals bound to the old one."""

from __future__ import annotations

import copy
import json
from importlib import resources

from controller.services.auth import Role
from tests.controller.conftest import bearer

AT = "2026-12-01T07:00:00+08:00"


def _fence() -> dict:  # type: ignore[type-arg]
    return json.loads((resources.files("controller") / "scenarios" / "shengsi" / "geofence.geojson").read_text())


def test_new_fence_voids_approvals_and_the_old_plan_cannot_be_uploaded(client, role_tokens, shengsi_factory) -> None:  # type: ignore[no-untyped-def]
    from controller.services import sorties
    from controller.services.plan_checks import fence_check_for

    admin, dispatcher = bearer(role_tokens[Role.ADMIN]), bearer(role_tokens[Role.DISPATCHER])
    sample = (resources.files("controller") / "scenarios" / "shengsi" / "parcels-sample.csv").read_text("utf-8")
    client.post("/api/v1/parcels/import", content=sample.encode(), headers={**dispatcher, "content-type": "text/csv"})
    plan = client.post("/api/v1/schedule", json={"at": AT}, headers=dispatcher).json()
    first = client.get(f"/api/v1/sorties/{plan['sorties'][0]['id']}", headers=dispatcher).json()
    assert client.post(f"/api/v1/sorties/{first['id']}/approve", json={"plan_hash": first["plan_hash"]},
                       headers=dispatcher).json()["state"] == "approved"

    fence = _fence()
    fence["features"].append({"type": "Feature", "properties": {"kind": "exclusion", "name": "临时管制区 (test)"},
                              "geometry": {"type": "Point", "coordinates": [122.60, 30.62]}})
    fence["features"][-1]["properties"]["radius_m"] = 800
    forbidden = client.put("/api/v1/geofence", json={"geojson": fence, "reason": "x"}, headers=dispatcher)
    assert forbidden.status_code == 403
    changed = client.put("/api/v1/geofence", json={"geojson": fence, "reason": "temporary restriction"},
                         headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"version": 2, "voided_approvals": [first["id"]]}
    after = client.get(f"/api/v1/sorties/{first['id']}", headers=dispatcher).json()
    assert after["state"] == "planned" and "geofence changed to v2" in after["void_reason"]
    assert client.get("/api/v1/network", headers=dispatcher).json()["geofence"]["version"] == 2
    with shengsi_factory() as session:
        stale = sorties.get_sortie(session, first["id"])
        assert "geofence changed" in (fence_check_for(session)(stale.plan) or "")
    again = client.post(f"/api/v1/sorties/{first['id']}/approve", json={"plan_hash": first["plan_hash"]},
                        headers=dispatcher)
    assert (again.status_code, again.json()["code"]) == (409, "upload_not_allowed")


def test_bad_fences_are_refused_with_the_feature_named(client, role_tokens) -> None:  # type: ignore[no-untyped-def]
    admin = bearer(role_tokens[Role.ADMIN])
    swapped = _fence()
    ring = swapped["features"][0]["geometry"]["coordinates"][0]
    swapped["features"][0]["geometry"]["coordinates"][0] = [[lat, lon] for lon, lat in ring]
    refused = client.put("/api/v1/geofence", json={"geojson": swapped, "reason": "typo"}, headers=admin)
    assert refused.status_code == 422 and refused.json()["details"]["feature_index"] == 0
    over_pad = _fence()
    over_pad["features"].append({"type": "Feature", "properties": {"kind": "exclusion", "name": "over caiyuan",
                                                                   "radius_m": 500},
                                 "geometry": {"type": "Point", "coordinates": [122.452, 30.7245]}})
    blocked = client.put("/api/v1/geofence", json={"geojson": over_pad, "reason": "x"}, headers=admin)
    assert blocked.status_code == 422 and "pad caiyuan" in blocked.json()["message"]
    assert client.get("/api/v1/network", headers=admin).json()["geofence"]["version"] == 1
