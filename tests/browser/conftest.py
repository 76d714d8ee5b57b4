"""A real controller (uvicorn, in a thread) on a migrated SQLite database with the Shengsi scenario,
sample parcels and a schedule run, and Debian's Chromium driven through Playwright."""

from __future__ import annotations

from tests.chromium import launch_browser

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from controller.api.app import create_app
from controller.db.engine import make_session_factory, transaction
from controller.services import auth, sorties
from controller.services.auth import Role
from tests.browser.history import add_history
from tests.conftest import TEST_SECRET, install_shengsi, make_settings, migrated_engine

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CSV = ROOT / "controller" / "scenarios" / "shengsi" / "parcels-sample.csv"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def wait_until(condition, timeout_s: float = 10.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    """Wait until ``condition()`` is true (checked every 20 ms), failing after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass
class LiveController:
    url: str
    app: object
    tokens: dict[Role, str]
    factory: object
    history: dict[str, object]

    def api(self, role: Role = Role.DISPATCHER) -> httpx.Client:
        return httpx.Client(base_url=self.url + "/api/v1", headers={"Authorization": f"Bearer {self.tokens[role]}"},
                            timeout=30)

    def publish(self, kind: str, data: dict[str, object]) -> None:
        self.app.state.events.publish(kind, data)  # type: ignore[attr-defined]

    @property
    def subscribers(self) -> int:
        return self.app.state.events.subscribers  # type: ignore[attr-defined]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def live_controller(tmp_path_factory) -> Iterator[LiveController]:  # type: ignore[no-untyped-def]
    import uvicorn

    tmp = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{tmp / 'dispatch.sqlite'}"
    engine = migrated_engine(url)
    factory = make_session_factory(engine)
    install_shengsi(factory)
    tokens: dict[Role, str] = {}
    with transaction(factory) as session:
        for role in Role:
            _, tokens[role] = auth.create_user(session, name=f"{role.value}-1", role=role, secret_key=TEST_SECRET,
                                               actor="test")
    app = create_app(make_settings(url, tmp))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 20, "the controller to start")
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {tokens[Role.DISPATCHER]}"}
    with httpx.Client(base_url=base + "/api/v1", headers=headers, timeout=60) as client:
        imported = client.post("/parcels/import", content=SAMPLE_CSV.read_bytes(), headers={"Content-Type": "text/csv"})
        assert imported.status_code == 200 and not imported.json()["rejected"], imported.text
        planned = client.post("/schedule", json={"at": "2026-12-01T07:00:00+08:00"})
        assert planned.status_code == 200, planned.text
        queue = client.get("/sorties", params={"status": "planned"}).json()
        assert len(queue) >= 8, "the sample should plan enough sorties for every console test"
        # One approval voided by a re-check, so the queue shows why it is back.
        voided = queue[-1]
        assert client.post(f"/sorties/{voided['id']}/approve", json={"plan_hash": voided["plan_hash"]}).status_code == 200
    with transaction(factory) as session:
        sortie = sorties.get_sortie(session, voided["id"])
        sorties.void_approval(session, sortie=sortie, reason="geofence changed to version 2", actor="test")
        history = add_history(session)
    history["voided"] = voided["id"]
    try:
        yield LiveController(url=base, app=app, tokens=tokens, factory=factory, history=history)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    yield from launch_browser()


@pytest.fixture
def page(browser, live_controller: LiveController) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A fresh page (Chinese UI, 1600×900) signed in as the dispatcher."""
    context = browser.new_context(viewport={"width": 1600, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    token = live_controller.tokens[Role.DISPATCHER]
    context.add_init_script(f"sessionStorage.setItem('dispatch.token', {token!r})")
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(10_000)
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def screenshot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    """Save a screenshot to test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
