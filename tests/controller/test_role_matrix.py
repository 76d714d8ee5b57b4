"""Who may call what: an explicit table checked against real requests to every route of the app."""

from __future__ import annotations

import re

import pytest
from controller.services.auth import Role
from tests.controller.conftest import bearer

A, D, C, K = Role.ADMIN, Role.DISPATCHER, Role.COURIER, Role.KIOSK
EVERYONE = {A, D, C, K}
PUBLIC = None

# (method, path) -> roles allowed; PUBLIC needs no token. Adding a route without a row here fails.
EXPECTED: dict[tuple[str, str], set[Role] | None] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    # Prometheus scrapes without a token; counts only, no ids (see controller/observability.py).
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/api/v1/scenario"): EVERYONE,
    ("GET", "/api/v1/network"): EVERYONE,
    ("GET", "/api/v1/service-points"): EVERYONE,
    ("GET", "/api/v1/pads"): EVERYONE,
    ("PUT", "/api/v1/geofence"): {A},
    ("POST", "/api/v1/parcels"): {A, D, C},
    ("GET", "/api/v1/parcels"): {A, D, C},
    ("GET", "/api/v1/parcels/{parcel_id}"): {A, D, C},
    ("GET", "/api/v1/parcels/{parcel_id}/events"): {A, D, C},
    ("POST", "/api/v1/parcels/{parcel_id}/scan"): {A, D, C},
    ("POST", "/api/v1/parcels/import"): {A, D},
    ("GET", "/api/v1/drones"): {A, D},
    ("POST", "/api/v1/drones"): {A},
    ("GET", "/api/v1/me"): EVERYONE,
    ("GET", "/api/v1/users"): {A},
    ("POST", "/api/v1/users"): {A},
    ("GET", "/api/v1/audit"): {A},
    ("POST", "/api/v1/schedule"): {A, D},
    ("GET", "/api/v1/events"): {A, D},
    ("GET", "/api/v1/sorties"): {A, D},
    ("GET", "/api/v1/sorties/{sortie_id}"): {A, D},
    ("POST", "/api/v1/sorties/{sortie_id}/approve"): {A, D},
    ("POST", "/api/v1/sorties/approve"): {A, D},
    ("POST", "/api/v1/sorties/{sortie_id}/reject"): {A, D},
    ("POST", "/api/v1/sorties/{sortie_id}/abort"): {A, D},
    ("POST", "/api/v1/sorties/{sortie_id}/land"): {A, D},
    ("POST", "/api/v1/sorties/{sortie_id}/continue"): {A, D},
    ("POST", "/api/v1/sorties/{sortie_id}/resolve"): {A, D},
    ("GET", "/api/v1/board"): {A, D},
    ("GET", "/api/v1/stats/daily"): {A, D},
    ("GET", "/api/v1/alerts"): {A, D},
    ("POST", "/api/v1/alerts/{alert_id}/ack"): {A, D},
    ("GET", "/api/v1/lockers"): {A, D},
    ("GET", "/api/v1/lockers/{locker_id}"): {A, D},
    ("POST", "/api/v1/lockers/{locker_id}/parcels"): {A, D, C},
    # Whoever may assign a parcel (and so hand out its code) may re-issue the code.
    ("POST", "/api/v1/lockers/{locker_id}/parcels/{parcel_id}/code"): {A, D, C},
    # Kiosk: only the locker's own agent user (locker:<id>), checked in the route (test_lockers_api.py).
    ("POST", "/api/v1/lockers/{locker_id}/events"): {A, K},
    ("GET", "/api/v1/lockers/{locker_id}/manifest"): {A, K},
    ("GET", "/api/v1/lockers/{locker_id}/commands"): {A, K},
    ("POST", "/api/v1/lockers/{locker_id}/open"): {A},
}


def _app_routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    # The OpenAPI document is the public list of every route and method the app serves.
    return {(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item}


def test_every_route_has_an_expected_row(client) -> None:  # type: ignore[no-untyped-def]
    routes = _app_routes(client.app)
    assert routes - EXPECTED.keys() == set(), "routes missing from the role matrix"
    assert EXPECTED.keys() - routes == set(), "matrix rows for routes that do not exist"


class _Reply:
    def __init__(self, status_code: int, body: bytes, text: str) -> None:
        self.status_code, self._body, self.text = status_code, body, text

    def json(self):  # type: ignore[no-untyped-def]
        import json

        return json.loads(self._body)


def _call(client, method: str, url: str, headers: dict[str, str] | None = None) -> _Reply:  # type: ignore[no-untyped-def]
    # Streamed, so an admitted request to the live event stream is not read forever.
    with client.stream(method, url, json={}, headers=headers or {}) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return _Reply(response.status_code, b"", "")
        body = response.read()
        return _Reply(response.status_code, body, body.decode(errors="replace"))


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "XX-UNKNOWN", path)


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED))
def test_role_matrix(client, role_tokens, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    allowed = EXPECTED[(method, path)]
    url = _concrete(path)
    anonymous = _call(client, method, url)
    if allowed is PUBLIC:
        assert anonymous.status_code not in (401, 403)
        return
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["code"] == "not_authenticated"
    bad = _call(client, method, url, headers=bearer("dsp_not-a-real-token"))
    assert bad.status_code == 401
    for role, token in role_tokens.items():
        response = _call(client, method, url, headers=bearer(token))
        if role in allowed:
            assert response.status_code not in (401, 403), f"{role.value} refused: {response.text}"
        else:
            assert response.status_code == 403, f"{role.value} admitted to {method} {path}"
            assert response.json()["code"] == "forbidden"
