"""/healthz, /readyz, Prometheus /metrics and JSON-lines logs (kept with the security tests: who may read
the metrics, and that they carry counts only)."""

from __future__ import annotations

import io
import json
import logging

from prometheus_client.parser import text_string_to_metric_families

from controller.db.engine import transaction
from controller.domain.parcel_input import ParcelInput
from controller.observability import configure_logging
from controller.services import parcels
from controller.services.auth import Role
from tests.controller.conftest import bearer


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_expose_latency_by_route_template_and_states(client, role_tokens, shengsi_factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(shengsi_factory) as session:
        for i in range(3):
            parcels.create_parcel(session, data=ParcelInput(id=f"M{i}", origin="caiyuan-dc",
                                                            destination="daao-village", weight_kg=1, length_cm=10,
                                                            width_cm=10, height_cm=10), actor="test")
    token = role_tokens[Role.DISPATCHER]
    for parcel_id in ("M0", "M1", "NOPE"):
        client.get(f"/api/v1/parcels/{parcel_id}", headers=bearer(token))
    client.get("/no/such/path/12345")
    response = client.get("/metrics")  # public, no token
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    route = "/api/v1/parcels/{parcel_id}"
    count = lambda status, r=route: samples[("dispatch_http_request_duration_seconds_count",  # noqa: E731
                                              (("method", "GET"), ("route", r), ("status", status)))]
    assert count("200") == 2 and count("404") == 1
    assert count("404", "<unmatched>") == 1  # random paths do not become labels
    assert not any("12345" in str(labels) or "M0" in str(labels) for _, labels in samples)
    assert samples[("dispatch_parcels", (("state", "received"),))] == 3
    assert samples[("dispatch_parcels", (("state", "picked_up"),))] == 0
    assert ("dispatch_sorties", (("state", "approved"),)) in samples
    assert ("dispatch_compartments", (("state", "free"),)) in samples
    assert samples[("dispatch_database_up", ())] == 1
    assert token not in response.text


def test_metrics_report_vehicle_link_health(client) -> None:  # type: ignore[no-untyped-def]
    client.app.state.link_health = lambda: {"1": "ok", "2": "lost"}
    try:
        samples = _samples(client.get("/metrics").text)
        assert samples[("dispatch_vehicle_link_up", (("sysid", "1"),))] == 1
        assert samples[("dispatch_vehicle_link_up", (("sysid", "2"),))] == 0
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["vehicle_links"] == {"1": "ok", "2": "lost"}
    finally:
        del client.app.state.link_health


def test_health_and_readiness(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "checks": {"database": "ok"}}


def test_json_logs_are_one_object_per_line_with_extras() -> None:
    stream = io.StringIO()
    handler = configure_logging(True, stream=stream, level=logging.DEBUG)
    try:
        log = logging.getLogger("controller.operations.test")
        log.info("sortie %s is %s", "S1", "airborne", extra={"sortie_id": "S1", "alt_m": 61.5})
        log.debug("line with\nnewline and 中文")
        again = configure_logging(True, stream=stream)  # idempotent: still one handler of ours
        assert sum(getattr(h, "_dispatch_handler", False) for h in logging.getLogger().handlers) == 1
        log.warning("after reconfigure")
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().removeHandler(again)
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["message"] for e in entries] == ["sortie S1 is airborne", "line with\nnewline and 中文",
                                               "after reconfigure"]
    first = entries[0]
    assert first["level"] == "info" and first["logger"] == "controller.operations.test"
    assert first["sortie_id"] == "S1" and first["alt_m"] == 61.5 and first["ts"].endswith("+00:00")
