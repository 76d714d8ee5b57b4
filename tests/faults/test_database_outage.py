"""Database unavailable: the API answers 503 with a clear message, writes nothing partial, recovers alone.

A real PostgreSQL throwaway database, reached by the app through a TCP proxy this test controls:

* ``cut()`` drops every open connection and refuses new ones (the server went away);
* ``kill_when(pattern)`` drops the one connection whose next packet carries ``pattern`` — e.g. the
  ``INSERT INTO tracking_events`` that follows the parcel insert in the same transaction — to break a
  write half-way;
* ``restore()`` lets connections through again. The app is never restarted.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from controller.api.app import create_app
from controller.db.engine import make_session_factory, transaction
from controller.services import auth
from controller.services.auth import Role
from tests.conftest import TEST_SECRET, install_shengsi, make_settings, migrated_engine
from tests.controller.conftest import bearer

pytestmark = pytest.mark.postgres


class CuttableProxy:
    """A TCP proxy to ``target`` on a free loopback port, with a switch to cut the line."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._up = True
        self._closing = False
        self._kill_pattern: bytes | None = None
        self.killed = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        threading.Thread(target=self._accept, daemon=True, name="db-proxy").start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self._up:
                self.refused += 1
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            pair = (client, upstream)
            with self._lock:
                self._pairs.append(pair)
            threading.Thread(target=self._pump, args=(client, upstream, pair, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, pair, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, pair: tuple[socket.socket, socket.socket],
              to_server: bool) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if to_server and data and self._kill_pattern is not None and self._kill_pattern in data:
                self._kill_pattern = None
                self.killed += 1
                data = b""  # the packet never reaches the server: its transaction dies half-way
            if not data:
                self._drop(pair)
                return
            try:
                dst.sendall(data)
            except OSError:
                self._drop(pair)
                return

    def _drop(self, pair: tuple[socket.socket, socket.socket]) -> None:
        with self._lock:
            if pair in self._pairs:
                self._pairs.remove(pair)
        for sock in pair:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def cut(self) -> None:
        """Drop every connection and refuse new ones."""
        self._up = False
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            self._drop(pair)

    def restore(self) -> None:
        self._up = True

    def kill_when(self, pattern: bytes) -> None:
        """Drop the connection whose next client packet contains ``pattern`` (once)."""
        self._kill_pattern = pattern

    def close(self) -> None:
        self._closing = True
        self.cut()
        self._server.close()


@pytest.fixture
def outage(postgres_url, tmp_path) -> Iterator[tuple[TestClient, CuttableProxy, str, object]]:  # type: ignore[no-untyped-def]
    direct = migrated_engine(postgres_url)
    factory = make_session_factory(direct)
    install_shengsi(factory)
    with transaction(factory) as session:
        _, token = auth.create_user(session, name="outage-courier", role=Role.COURIER, secret_key=TEST_SECRET,
                                    actor="test")
    url = make_url(postgres_url)
    proxy = CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        with TestClient(create_app(make_settings(via_proxy, tmp_path))) as client:
            yield client, proxy, token, direct
    finally:
        proxy.close()
        direct.dispose()


def _parcel(parcel_id: str) -> dict[str, object]:
    return {"id": parcel_id, "origin": "caiyuan-dc", "destination": "daao-village", "weight_kg": 1.2,
            "length_cm": 20, "width_cm": 15, "height_cm": 10}


def _rows(direct, parcel_id: str) -> tuple[int, int, int, str | None]:  # type: ignore[no-untyped-def]
    """(parcels, tracking events, audit entries, state) for ``parcel_id``, read straight from PostgreSQL."""
    with direct.connect() as conn:
        parcels = conn.execute(text("SELECT count(*) FROM parcels WHERE id = :p"), {"p": parcel_id}).scalar()
        events = conn.execute(text("SELECT count(*) FROM tracking_events WHERE parcel_id = :p"),
                              {"p": parcel_id}).scalar()
        audits = conn.execute(text("SELECT count(*) FROM audit_log WHERE object_id = :p"), {"p": parcel_id}).scalar()
        state = conn.execute(text("SELECT state FROM parcels WHERE id = :p"), {"p": parcel_id}).scalar()
    return parcels, events, audits, state


def _assert_unavailable(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["code"] == "database_unavailable"
    assert "database" in body["message"] and "retry" in body["message"]
    assert int(response.headers["Retry-After"]) > 0


def test_outage_is_503_and_recovers_without_restart(outage, report) -> None:  # type: ignore[no-untyped-def]
    client, proxy, token, direct = outage
    auth_header = bearer(token)
    assert client.post("/api/v1/parcels", json=_parcel("OUT-1"), headers=auth_header).status_code == 201
    assert client.get("/readyz").status_code == 200

    proxy.cut()
    outage_calls = [
        client.post("/api/v1/parcels", json=_parcel("OUT-2"), headers=auth_header),
        client.get("/api/v1/parcels/OUT-1", headers=auth_header),
        client.post("/api/v1/parcels/OUT-1/scan", json={"to_state": "scheduled"}, headers=auth_header),
        client.get("/api/v1/parcels", headers=auth_header),
    ]
    for response in outage_calls:
        _assert_unavailable(response)
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("unavailable")
    assert client.get("/healthz").status_code == 200  # the process itself is fine
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "dispatch_database_up 0.0" in metrics.text
    assert proxy.refused > 0
    assert _rows(direct, "OUT-2")[:3] == (0, 0, 0)
    assert _rows(direct, "OUT-1")[3] == "received"

    proxy.restore()
    # The same app, the same pool: stale connections are replaced on their own.
    assert client.get("/api/v1/parcels/OUT-1", headers=auth_header).status_code == 200
    assert client.post("/api/v1/parcels", json=_parcel("OUT-2"), headers=auth_header).status_code == 201
    assert client.get("/readyz").status_code == 200
    assert "dispatch_database_up 1.0" in client.get("/metrics").text
    assert _rows(direct, "OUT-2")[:3] == (1, 1, 1)
    report(f"database outage: {len(outage_calls)} calls during the cut -> 503 database_unavailable with "
           f"Retry-After, {proxy.refused} connections refused, recovered without restart")


@pytest.mark.parametrize(("what", "pattern"), [
    ("intake", b"INSERT INTO tracking_events"),
    ("scan", b"INSERT INTO audit_log"),
])
def test_connection_lost_mid_transaction_writes_nothing(outage, what: str, pattern: bytes, report) -> None:  # type: ignore[no-untyped-def]
    client, proxy, token, direct = outage
    auth_header = bearer(token)
    assert client.post("/api/v1/parcels", json=_parcel("MID-1"), headers=auth_header).status_code == 201
    before = _rows(direct, "MID-1")
    proxy.kill_when(pattern)
    if what == "intake":
        response = client.post("/api/v1/parcels", json=_parcel("MID-2"), headers=auth_header)
    else:
        response = client.post("/api/v1/parcels/MID-1/scan", json={"to_state": "scheduled", "reason": "x"},
                               headers=auth_header)
    assert proxy.killed == 1, f"the {pattern!r} packet was never seen; the test did not break a transaction"
    _assert_unavailable(response)
    # Nothing half-written: the parcel insert (intake) / state update (scan) went with the transaction.
    assert _rows(direct, "MID-2")[:3] == (0, 0, 0)
    assert _rows(direct, "MID-1") == before
    # And the next request works on the same app.
    retry = (client.post("/api/v1/parcels", json=_parcel("MID-2"), headers=auth_header) if what == "intake" else
             client.post("/api/v1/parcels/MID-1/scan", json={"to_state": "scheduled"}, headers=auth_header))
    assert retry.status_code in (200, 201), retry.text
    report(f"database outage: connection killed at {pattern.decode()} during {what} -> 503, 0 rows written; "
           f"retry succeeded ({retry.status_code})")


def test_proxy_really_carries_the_app_traffic(postgres_url) -> None:  # type: ignore[no-untyped-def]
    """The proxy is not a bypass: with it cut, a direct engine through it cannot connect."""
    url = make_url(postgres_url)
    proxy = CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    engine = create_engine(url.set(host="127.0.0.1", port=proxy.port))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        proxy.cut()
        engine.dispose()
        with pytest.raises(Exception, match="(?i)connection|closed|server"):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
        proxy.close()
