"""Tokens only stored hashed, secrets never logged, request size limits, CORS closed by default."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text

from controller.api.app import create_app
from controller.db.models import User
from controller.observability import JsonFormatter, configure_logging
from controller.services import auth
from tests.conftest import TEST_SECRET, make_settings
from tests.controller.conftest import bearer


def _all_stored_text(factory) -> str:  # type: ignore[no-untyped-def]
    """Every value of every row of every table, as one string (what a database dump would show)."""
    with factory() as session:
        tables = inspect(session.get_bind()).get_table_names()
        return "\n".join(repr(tuple(row)) for table in tables
                         for row in session.execute(text(f'SELECT * FROM "{table}"')))


@pytest.fixture
def all_logs() -> Iterator[list[logging.LogRecord]]:
    """Every record any logger emits at DEBUG and above (SQLAlchemy echoes its SQL and parameters)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    root = logging.getLogger()
    handler, old_level = Keep(level=logging.DEBUG), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    sql_logger = logging.getLogger("sqlalchemy.engine")
    old_sql_level = sql_logger.level
    sql_logger.setLevel(logging.DEBUG)  # statements and bound parameters
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        sql_logger.setLevel(old_sql_level)


def _rendered(records: list[logging.LogRecord]) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(r) + " " + repr(vars(r)) for r in records)


def test_tokens_are_stored_only_as_hmac_and_never_logged(settings, role_tokens, shengsi_factory,
                                                         all_logs, report) -> None:  # type: ignore[no-untyped-def]
    admin = role_tokens[auth.Role.ADMIN]
    with TestClient(create_app(settings)) as client:
        created = client.post("/api/v1/users", json={"name": "courier-li", "role": "courier"}, headers=bearer(admin))
        assert created.status_code == 201, created.text
        new_token = created.json()["token"]
        assert new_token.startswith("dsp_")
        # The new token works, in the header and as the EventSource query parameter; a wrong one does not.
        assert client.get("/api/v1/me", headers=bearer(new_token)).json()["name"] == "courier-li"
        assert client.get("/api/v1/me", params={"access_token": new_token}).status_code == 200
        assert client.get("/api/v1/me", headers=bearer(new_token + "x")).status_code == 401
        assert client.get("/api/v1/users", headers=bearer(admin)).status_code == 200
        assert all("token" not in u for u in client.get("/api/v1/users", headers=bearer(admin)).json())
    tokens = [new_token, *role_tokens.values()]
    with shengsi_factory() as session:
        stored = session.scalar(select(User).where(User.name == "courier-li"))
        assert stored is not None
        assert stored.token_hash == auth.hash_secret(TEST_SECRET, new_token) != new_token
    dump = _all_stored_text(shengsi_factory)
    assert not [t for t in tokens if t in dump], "a token is stored in clear"
    assert not [t for t in tokens if t[len("dsp_"):] in dump]
    # httpx/httpcore are the test's HTTP client (it logs the URL it requests), not the controller.
    server_records = [r for r in all_logs if not r.name.startswith(("httpx", "httpcore"))]
    logged = _rendered(server_records)
    assert any(r.name.startswith("sqlalchemy.engine") for r in server_records), "SQL logging was not captured"
    leaked = [t for t in tokens if t[len("dsp_"):] in logged]
    assert leaked == [], "a token appears in the logs"
    assert TEST_SECRET not in logged, "the secret key appears in the logs"
    report(f"secrets: {len(server_records)} server log records at DEBUG (SQL included), {len(tokens)} tokens, 0 leaked; "
           f"{len(dump)} characters of database dump, 0 clear tokens")


def test_json_logs_redact_tokens_even_when_code_logs_them() -> None:
    """Defence in depth: an access log line with ?access_token=… or an Authorization header is redacted."""
    stream = io.StringIO()
    # As an earlier in-process uvicorn with its default config leaves it: private handler, no propagation.
    logging.getLogger("uvicorn.access").addHandler(logging.NullHandler())
    logging.getLogger("uvicorn.access").propagate = False
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    handler = configure_logging(True, stream=stream, level=logging.INFO)
    token = auth.new_token()
    try:
        access = logging.getLogger("uvicorn.access")
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1", "GET", f"/api/v1/events?access_token={token}", "1.1",
                    200)
        logging.getLogger("controller.test").warning("headers %s", {"authorization": f"Bearer {token}"},
                                                     extra={"token": token, "sortie": "S1"})
        try:
            raise RuntimeError(f"boom with {token}")
        except RuntimeError:
            logging.getLogger("controller.test").exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert entries[0]["logger"] == "uvicorn.access" and entries[0]["level"] == "info"
    assert entries[1]["sortie"] == "S1" and entries[1]["token"] == "[redacted]"
    assert "[redacted]" in entries[0]["message"] and "[redacted]" in entries[2]["exc_info"]
    assert token[len("dsp_"):] not in stream.getvalue()


def test_plain_text_logs_redact_too() -> None:
    stream = io.StringIO()
    handler = configure_logging(False, stream=stream)
    token = auth.new_token()
    try:
        logging.getLogger("controller.test").info("Authorization: Bearer %s", token)
    finally:
        logging.getLogger().removeHandler(handler)
    assert "Authorization: Bearer [redacted]" in stream.getvalue()
    assert token not in stream.getvalue()
    assert not isinstance(handler.formatter, JsonFormatter)


def test_cors_is_closed_by_default(client) -> None:  # type: ignore[no-untyped-def]
    preflight = client.options("/api/v1/parcels", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert "access-control-allow-origin" not in preflight.headers
    simple = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers


def test_cors_admits_only_the_configured_origin(sqlite_url, tmp_path, shengsi_factory) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(sqlite_url, tmp_path, cors_origins=["https://console.shengsi.example"])
    with TestClient(create_app(settings)) as client:
        ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        ok = client.options("/api/v1/parcels", headers={"Origin": "https://console.shengsi.example", **ask})
        assert ok.headers.get("access-control-allow-origin") == "https://console.shengsi.example"
        foreign = client.options("/api/v1/parcels", headers={"Origin": "https://evil.example", **ask})
        assert "access-control-allow-origin" not in foreign.headers


def test_oversized_body_is_refused_with_413(client, role_tokens, settings, shengsi_factory) -> None:  # type: ignore[no-untyped-def]
    token = role_tokens[auth.Role.ADMIN]
    big = "id,origin,destination\n" + "x" * (settings.max_request_bytes + 1)
    response = client.post("/api/v1/parcels/import", content=big,
                           headers={**bearer(token), "Content-Type": "text/csv"})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    # A lying Content-Length is refused too, before any body is read.
    bad = client.post("/api/v1/parcels", content=b"{}", headers={**bearer(token), "Content-Length": "-1"})
    assert bad.status_code in (400, 413)
    with shengsi_factory() as session:
        assert session.execute(text("SELECT count(*) FROM parcels")).scalar() == 0


def test_oversized_chunked_body_is_refused_with_413(client, role_tokens, settings, shengsi_factory) -> None:  # type: ignore[no-untyped-def]
    """A chunked upload carries no Content-Length; the limit must count the bytes as they arrive."""
    token = role_tokens[auth.Role.ADMIN]
    chunk = b"x" * 65536
    n_chunks = settings.max_request_bytes // len(chunk) + 2

    def body() -> Iterator[bytes]:
        yield b"id,origin,destination\n"
        for _ in range(n_chunks):
            yield chunk

    response = client.post("/api/v1/parcels/import", content=body(),
                           headers={**bearer(token), "Content-Type": "text/csv"})
    assert response.status_code == 413, response.text[:200]


@pytest.mark.parametrize("query", ["offset=99999999999999999999999", "limit=1e400", "limit=NaN", "offset=-1",
                                   "state=flying%00"])
def test_absurd_query_values_are_4xx(client, role_tokens, query: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/parcels?{query}", headers=bearer(role_tokens[auth.Role.ADMIN]))
    assert 400 <= response.status_code < 500, response.text
    assert set(response.json()) == {"code", "message", "details"}


@pytest.mark.postgres
def test_huge_offset_on_postgresql_is_422(postgres_url, tmp_path, report) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import install_shengsi, migrated_engine
    from controller.db.engine import make_session_factory, transaction

    engine = migrated_engine(postgres_url)
    factory = make_session_factory(engine)
    install_shengsi(factory)
    with transaction(factory) as session:
        _, token = auth.create_user(session, name="pg-admin", role=auth.Role.ADMIN, secret_key=TEST_SECRET, actor="t")
    engine.dispose()
    with TestClient(create_app(make_settings(postgres_url, tmp_path))) as client:
        for offset in (2**63, 10**30):
            response = client.get(f"/api/v1/parcels?offset={offset}", headers=bearer(token))
            assert response.status_code == 422, response.text
            # Rejected by the query bound before any SQL runs.
            assert response.json()["code"] == "validation_failed"
