"""Issue 7, end to end: the dispatcher console flies real (simulated) sorties.

A live controller (uvicorn in a thread, ``run_vehicles=True``) with simulated ArduCopters for d01 and d02 at
Caiyuan and two unapproved sorties Caiyuan → Wulong. In Debian's Chromium the dispatcher signs in, sees both
in the queue and on the map, approves the first and watches it upload, take off and move on the map from the
vehicle's own telemetry; approves the second, aborts it in the air (confirmation + reason) and watches it come
back. The database then says the first delivered at Wulong and the second brought its parcel home.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from controller.api.app import create_app
from controller.db.engine import make_session_factory, transaction
from controller.db.models import Drone, Pad, Parcel, Sortie, SortieTransition, TrackPoint
from controller.services import auth
from controller.services.auth import Role
from sitl.simvehicle import SimVehicle
from tests.browser.conftest import ROOT, SCREENSHOTS, _free_port, screenshot, wait_until
from tests.conftest import TEST_SECRET, install_shengsi, make_settings, migrated_engine
from tests.operations.conftest import SPEEDUP, plan_sortie, start_sim_for

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

FIRST, SECOND = "S-live-d01", "S-live-d02"
FLYING = {"airborne", "delivering", "returning", "landing"}
# zh labels of the states (controller/console/static/i18n.js)
ZH = {"approved": "已批准", "uploading": "上传航线", "ready": "就绪", "airborne": "飞行中", "delivering": "投递中",
      "returning": "返航中", "landing": "降落中", "aborted": "已中止", "completed": "已完成"}

# Records, in the page, every position the d0x markers take and every state the active cards show, so the
# test sees the sequence of live updates rather than whatever is on screen when it happens to look.
RECORDER = r"""() => {
  const rec = window.__flight = { moves: [], states: {} };
  const svg = document.querySelector('#map');
  new MutationObserver((muts) => {
    for (const m of muts) {
      const g = m.target;
      if (m.type !== 'attributes' || !g.classList || !g.classList.contains('drone')) continue;
      const at = g.getAttribute('transform').replace(/ scale\(.*$/, '');  // zooming only rescales the marker
      const last = rec.moves.filter((r) => r.drone === g.dataset.droneId).pop();
      if (last && last.transform === at) continue;
      rec.moves.push({ drone: g.dataset.droneId, lat: +g.dataset.lat, lon: +g.dataset.lon, transform: at });
    }
  }).observe(svg, { subtree: true, attributes: true, attributeFilter: ['transform'] });
  const active = document.querySelector('#active');
  const note = () => active.querySelectorAll('[data-sortie-id]').forEach((card) => {
    const seen = rec.states[card.dataset.sortieId] ||= [];
    if (seen[seen.length - 1] !== card.dataset.state) seen.push(card.dataset.state);
  });
  new MutationObserver(note).observe(active, { childList: true, subtree: true, attributes: true });
}"""


@dataclass
class FlightController:
    url: str
    factory: object
    token: str
    vehicles: dict[str, SimVehicle]
    pads: dict[str, tuple[float, float]]


@pytest.fixture(scope="module")
def flight_controller(tmp_path_factory) -> Iterator[FlightController]:  # type: ignore[no-untyped-def]
    import uvicorn

    tmp = tmp_path_factory.mktemp("console-flight")
    url = f"sqlite:///{tmp / 'dispatch.sqlite'}"
    engine = migrated_engine(url)
    factory = make_session_factory(engine)
    install_shengsi(factory)
    with transaction(factory) as session:
        _, token = auth.create_user(session, name="dispatcher-wang", role=Role.DISPATCHER, secret_key=TEST_SECRET,
                                    actor="test")
    with factory() as session:
        pads = {p.id: (p.lat_deg, p.lon_deg) for p in session.scalars(select(Pad))}
        assert {session.get(Drone, d).current_pad_id for d in ("d01", "d02")} == {"caiyuan"}
    vehicles: dict[str, SimVehicle] = {}
    server = thread = None
    try:
        for drone_id in ("d01", "d02"):
            vehicles[drone_id] = start_sim_for(factory, drone_id)
        plan_sortie(factory, sortie_id=FIRST, drone_id="d01", origin="caiyuan", stops=["wulong"],
                    parcel_ids=["PL-1"], approve=False)
        plan_sortie(factory, sortie_id=SECOND, drone_id="d02", origin="caiyuan", stops=["wulong"],
                    parcel_ids=["PL-2"], approve=False)
        app = create_app(make_settings(url, tmp, run_vehicles=True, executor_tick_s=0.2,
                                       gcs_heartbeat_period_s=1.0 / SPEEDUP, instance_id="controller-console"))
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                               timeout_graceful_shutdown=1))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_until(lambda: server.started, 20, "the controller to start")
        yield FlightController(url=f"http://127.0.0.1:{port}", factory=factory, token=token, vehicles=vehicles,
                               pads=pads)
    finally:
        if server is not None:
            server.should_exit = True
            thread.join(timeout=10)  # type: ignore[union-attr]
        for vehicle in vehicles.values():
            vehicle.stop()
        engine.dispose()


def _state(live: FlightController, sortie_id: str) -> str:
    with live.factory() as session:  # type: ignore[operator]
        return session.get(Sortie, sortie_id).state


def _transitions(live: FlightController, sortie_id: str) -> list[SortieTransition]:
    with live.factory() as session:  # type: ignore[operator]
        rows = list(session.scalars(select(SortieTransition).where(SortieTransition.sortie_id == sortie_id)
                                    .order_by(SortieTransition.id)))
        session.expunge_all()
        return rows


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dy = (a[0] - b[0]) * 111_320.0
    dx = (a[1] - b[1]) * 111_320.0 * math.cos(math.radians(a[0]))
    return math.hypot(dx, dy)


def test_sign_in_approve_watch_fly_and_abort(browser, flight_controller) -> None:  # type: ignore[no-untyped-def]
    live = flight_controller
    context = browser.new_context(viewport={"width": 1600, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(15_000)
    try:
        _fly(page, live)
    finally:
        context.close()
    assert not errors, f"JavaScript errors: {errors}"
    _check_database(live)
    if os.environ.get("DISPATCH_UPDATE_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        for name in ("10-live-flight.png", "11-aborted.png"):
            shutil.copy2(SCREENSHOTS / name, target / name)


def _fly(page, live: FlightController) -> None:  # type: ignore[no-untyped-def]
    # --- sign in ------------------------------------------------------------------------------------
    page.goto(live.url + "/console/")
    page.fill("#token", live.token)
    page.click("#signin-form button[type=submit]")
    expect(page.get_by_test_id("who")).to_have_text("dispatcher-wang · 调度员")
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "connected")

    # --- both planned sorties in the queue and on the map; nothing flies unapproved ------------------
    for sortie_id, drone in ((FIRST, "d01"), (SECOND, "d02")):
        card = page.locator(f'#queue [data-sortie-id="{sortie_id}"]')
        expect(card).to_be_visible()
        expect(card).to_contain_text("PL-1" if drone == "d01" else "PL-2")
        expect(card.locator(".route-text")).to_contain_text("→")
        expect(page.locator(f'#map .route[data-sortie-id="{sortie_id}"]')).to_have_class(re.compile("route-planned"))
    expect(page.locator("#queue [data-sortie-id]")).to_have_count(2)
    expect(page.locator("#active [data-sortie-id]")).to_have_count(0)
    assert _state(live, FIRST) == _state(live, SECOND) == "planned"
    page.evaluate(RECORDER)
    # Zoom (mouse wheel) onto the Caiyuan → Wulong route so the flight is visible in the screenshots.
    box = page.locator(f'#map .route[data-sortie-id="{FIRST}"]').bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(7):
        page.mouse.wheel(0, -200)
    page.wait_for_function("+document.querySelector('#map').dataset.zoom > 4")

    # --- approve the first: it uploads, takes off and its marker follows the vehicle -----------------
    first = page.locator(f'#active [data-sortie-id="{FIRST}"]')
    page.locator(f'#queue [data-sortie-id="{FIRST}"] [data-action=approve]').click()
    expect(page.locator(f'#queue [data-sortie-id="{FIRST}"]')).to_have_count(0)
    expect(first).to_be_visible()
    expect(page.locator(f'#map .route[data-sortie-id="{FIRST}"]')).to_have_class(re.compile("route-active"))
    expect(first.get_by_test_id("sortie-state")).to_have_text(re.compile(f"{ZH['airborne']}|{ZH['delivering']}"),
                                                             timeout=40_000)
    marker = page.locator('#map .drone[data-drone-id="d01"]')
    expect(marker).to_be_attached()
    caiyuan, wulong = live.pads["caiyuan"], live.pads["wulong"]
    # Two vehicle updates that put the marker at different places, the later one nearer Wulong (and away
    # from the pad), each where the simulated vehicle was.
    page.wait_for_function(
        """([pad, far]) => { const m = window.__flight.moves.filter((r) => r.drone === 'd01');
            return m.length >= 2 && Math.hypot(m[m.length - 1].lat - pad[0], m[m.length - 1].lon - pad[1]) > far; }""",
        arg=[list(caiyuan), 200 / 111_320], timeout=30_000)
    moves = [m for m in page.evaluate("window.__flight.moves") if m["drone"] == "d01"]
    assert len({m["transform"] for m in moves}) >= 2, moves
    assert _metres((moves[-1]["lat"], moves[-1]["lon"]), wulong) < _metres((moves[0]["lat"], moves[0]["lon"]), wulong)
    sim = live.vehicles["d01"].snapshot()
    shown = (float(marker.get_attribute("data-lat")), float(marker.get_attribute("data-lon")))
    assert _metres(shown, (sim.lat_deg, sim.lon_deg)) < 500, (shown, sim)  # live: within ~1.5 s of flight
    expect(first.get_by_test_id("battery")).to_have_text(re.compile(r"^\d+%$"))
    expect(first.get_by_test_id("telemetry")).to_contain_text(" m/s")
    expect(first.get_by_test_id("progress")).to_have_text(re.compile(r"^\s*[1-9]\d*/\d+\s*$"))
    screenshot(page, "10-live-flight")

    # --- approve the second, wait until it is in the air, abort it with a reason --------------------
    second = page.locator(f'#active [data-sortie-id="{SECOND}"]')
    page.locator(f'#queue [data-sortie-id="{SECOND}"] [data-action=approve]').click()
    expect(second).to_be_visible()
    expect(second.get_by_test_id("sortie-state")).to_have_text(re.compile(f"{ZH['airborne']}|{ZH['delivering']}"),
                                                              timeout=40_000)
    wait_until(lambda: (live.vehicles["d02"].snapshot().alt_rel_m or 0) > 20, 30, "d02 to climb above 20 m")
    second.locator(".sortie-id").click()  # open its detail panel to follow it after it leaves the list
    detail = page.get_by_test_id("sortie-detail")
    expect(detail).to_contain_text(SECOND)
    second.locator("[data-action=abort]").click()
    dialog = page.get_by_test_id("confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(SECOND)
    page.fill("#confirm-reason", "雷雨逼近，返航")
    page.get_by_test_id("confirm-ok").click()
    expect(dialog).to_be_hidden()
    expect(second.get_by_test_id("sortie-state")).to_have_text(ZH["aborted"])
    expect(detail.get_by_test_id("transitions")).to_contain_text("雷雨逼近，返航")
    screenshot(page, "11-aborted")
    # Landed back at Caiyuan: the runner completes it, it leaves the active list, the detail says so.
    expect(detail.locator(".badge").first).to_have_text(ZH["completed"], timeout=45_000)
    expect(second).to_have_count(0)
    expect(detail.get_by_test_id("transitions")).to_contain_text(ZH["aborted"])

    # --- the first completes at Wulong -----------------------------------------------------------
    expect(first).to_have_count(0, timeout=45_000)
    assert _state(live, FIRST) == "completed", _state(live, FIRST)
    states = page.evaluate("window.__flight.states")
    # The cards showed the flight as it happened (refreshes are coalesced, so a short state may be skipped).
    assert states[FIRST][0] in {"approved", "uploading", "ready"}, states
    assert set(states[FIRST]) & FLYING, states
    assert "aborted" in states[SECOND], states
    # Outbound, d01 only ever gets farther from Caiyuan: a refresh never puts the marker back on an older,
    # stored track point while newer live positions have already been shown.
    flown = [_metres((m["lat"], m["lon"]), caiyuan) for m in page.evaluate("window.__flight.moves")
             if m["drone"] == "d01"]
    assert all(b > a - 5 for a, b in itertools.pairwise(flown)), [round(d) for d in flown]


def _check_database(live: FlightController) -> None:
    first = _transitions(live, FIRST)
    second = _transitions(live, SECOND)
    first_states = [t.to_state for t in first]
    second_states = [t.to_state for t in second]
    assert first_states[:5] == ["planned", "approved", "uploading", "ready", "airborne"], first_states
    assert first_states[-1] == "completed" and "aborted" not in first_states, first_states
    assert first[1].actor == second[1].actor == "dispatcher-wang"
    assert second_states[:5] == ["planned", "approved", "uploading", "ready", "airborne"], second_states
    assert second_states[-1] == "completed", second_states
    aborted = next(t for t in second if t.to_state == "aborted")
    # The runner persists the transition (actor: the controller instance); the dispatcher and the reason are in it.
    # The abort is the dispatcher's act: stored with them as actor and their reason.
    assert aborted.actor == "dispatcher-wang" and aborted.reason == "雷雨逼近，返航", (aborted.actor, aborted.reason)
    with live.factory() as session:  # type: ignore[operator]
        delivered, home = session.get(Parcel, "PL-1"), session.get(Parcel, "PL-2")
        assert (delivered.state, delivered.location_id) == ("at_service_point", "wulong-station")
        assert (home.state, home.location_id) == ("received", "caiyuan-dc")
        assert session.get(Drone, "d01").current_pad_id == "wulong"
        assert session.get(Drone, "d02").current_pad_id == "caiyuan"
        for sortie_id in (FIRST, SECOND):
            assert len(list(session.scalars(select(TrackPoint.id).where(TrackPoint.sortie_id == sortie_id)))) >= 3
    for drone_id, pad in (("d01", "wulong"), ("d02", "caiyuan")):
        snap = live.vehicles[drone_id].snapshot()
        assert snap.landed and not snap.armed
        assert _metres((snap.lat_deg, snap.lon_deg), live.pads[pad]) < 30, (drone_id, snap.lat_deg, snap.lon_deg)
