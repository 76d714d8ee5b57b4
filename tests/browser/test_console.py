"""The dispatcher console in Debian's Chromium against a real controller (see conftest.py)."""

from __future__ import annotations

import os
import re
import shutil
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from controller.services.auth import Role
from tests.browser.conftest import ROOT, SCREENSHOTS, LiveController, screenshot, wait_until

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


def planned(live: LiveController) -> list[dict]:  # type: ignore[type-arg]
    with live.api() as client:
        return client.get("/sorties", params={"status": "planned"}).json()


def sortie_state(live: LiveController, sortie_id: str) -> dict:  # type: ignore[type-arg]
    with live.api() as client:
        return client.get(f"/sorties/{sortie_id}").json()


def open_ops(page, live: LiveController) -> None:  # type: ignore[no-untyped-def]
    page.goto(live.url + "/console/#ops")
    expect(page.locator("#queue [data-sortie-id]").first).to_be_visible()


def test_sign_in_shows_role_map_and_queue(browser, live_controller) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    page = context.new_page()
    page.goto(live_controller.url + "/")
    expect(page).to_have_url(re.compile(r"/console/"))
    expect(page.locator("#signin-form")).to_be_visible()
    screenshot(page, "01-sign-in")
    page.fill("#token", "dsp_wrong")
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#signin-error")).to_contain_text("登录失败")
    page.fill("#token", live_controller.tokens[Role.DISPATCHER])
    page.click("#signin-form button[type=submit]")
    expect(page.get_by_test_id("who")).to_have_text("dispatcher-1 · 调度员")
    expect(page.locator("#nav a[data-view=admin]")).to_be_hidden()
    queue = planned(live_controller)
    cards = page.locator("#queue [data-sortie-id]")
    expect(cards).to_have_count(len(queue))
    first = queue[0]
    card = page.locator(f'#queue [data-sortie-id="{first["id"]}"]')
    expect(card).to_contain_text(first["drone_name"])
    expect(card).to_contain_text(first["plan_hash"][:12])
    expect(card).to_contain_text(f"{first['energy_wh']:.0f} Wh")
    # Every planned sortie is drawn on the map as a dashed route, and the static layers are there.
    expect(page.locator("#map .route-planned")).to_have_count(len([s for s in queue if s["route"]]))
    expect(page.locator(f'#map .route[data-sortie-id="{first["id"]}"]')).to_have_class(re.compile("route-planned"))
    expect(page.locator("#map .island")).to_have_count(9)
    expect(page.locator("#map [data-zone=exclusion]").first).to_be_attached()
    expect(page.locator("#map .line-bus").first).to_be_attached()
    expect(page.locator("#map .line-ferry").first).to_be_attached()
    expect(page.locator("#map .pad")).to_have_count(7)
    # The voided approval shows why it is back in the queue.
    voided = page.locator(f'#queue [data-sortie-id="{live_controller.history["voided"]}"]')
    expect(voided.get_by_test_id("void-reason")).to_contain_text("geofence changed to version 2")
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "connected")
    screenshot(page, "02-dispatch")
    # Sign-out forgets the token.
    page.click("#sign-out")
    expect(page.locator("#signin-form")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('dispatch.token')") is None
    context.close()


def test_map_zoom_pan_and_click_a_route_for_detail(page, live_controller) -> None:  # type: ignore[no-untyped-def]
    open_ops(page, live_controller)
    target = planned(live_controller)[1]
    svg = page.get_by_test_id("map")
    before = svg.get_attribute("viewBox")
    box = svg.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -300)
    expect(svg).not_to_have_attribute("viewBox", before)
    zoomed = svg.get_attribute("viewBox")
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 80, box["y"] + box["height"] / 2 + 40, steps=5)
    page.mouse.up()
    expect(svg).not_to_have_attribute("viewBox", zoomed)
    page.click("#reset-view")
    expect(svg).to_have_attribute("viewBox", before)
    page.locator(f'#map .route[data-sortie-id="{target["id"]}"]').dispatch_event("click")
    detail = page.get_by_test_id("sortie-detail")
    expect(detail).to_be_visible()
    expect(detail).to_contain_text(target["id"])
    expect(detail).to_contain_text(target["plan_hash"])
    expect(detail.get_by_test_id("transitions").locator("li")).to_have_count(1)
    expect(page.locator(f'#map .route[data-sortie-id="{target["id"]}"]')).to_have_class(re.compile("selected"))
    # Hiding a layer hides it on the map.
    page.uncheck('[data-layer-toggle="nofly"]')
    expect(page.locator('#map [data-layer="nofly"]')).to_be_hidden()
    page.check('[data-layer-toggle="nofly"]')
    screenshot(page, "03-sortie-detail")


def test_approve_one_goes_active_and_a_vehicle_event_moves_its_drone(page, live_controller) -> None:  # type: ignore[no-untyped-def]
    open_ops(page, live_controller)
    target = next(s for s in planned(live_controller) if s["id"] != live_controller.history["voided"])
    card = page.locator(f'#queue [data-sortie-id="{target["id"]}"]')
    card.locator("[data-action=approve]").click()
    expect(card).to_have_count(0)
    active = page.locator(f'#active [data-sortie-id="{target["id"]}"]')
    expect(active.get_by_test_id("sortie-state")).to_have_text("已批准")
    expect(page.locator(f'#map .route[data-sortie-id="{target["id"]}"]')).to_have_class(re.compile("route-active"))
    after = sortie_state(live_controller, target["id"])
    assert after["state"] in {"approved", "uploading", "ready", "airborne"}
    assert after["approved_by"] == "dispatcher-1"

    # A position pushed by the vehicle side (the executor publishes the same event) moves the marker.
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "connected")
    wait_until(lambda: live_controller.subscribers >= 1, 10, "the console to subscribe to live events")
    (lat0, lon0), (lat1, lon1) = target["route"][0], target["route"][-1]
    event = {"drone_id": target["drone_id"], "sortie_id": target["id"], "alt_m": 90.0, "groundspeed_m_s": 14.2,
             "battery_pct": 87.0, "mode": "AUTO"}
    live_controller.publish("vehicle", {**event, "lat_deg": lat0, "lon_deg": lon0})
    marker = page.locator(f'#map .drone[data-drone-id="{target["drone_id"]}"]')
    expect(marker).to_have_attribute("data-lat", str(lat0))
    first_transform = marker.get_attribute("transform")
    live_controller.publish("vehicle", {**event, "lat_deg": lat1, "lon_deg": lon1, "battery_pct": 81.0})
    expect(marker).to_have_attribute("data-lat", str(lat1))
    assert marker.get_attribute("transform") != first_transform
    expect(active.get_by_test_id("battery")).to_have_text("81%")
    expect(active.get_by_test_id("telemetry")).to_contain_text(f"{lat1:.5f}")
    screenshot(page, "04-approved-live-position")


def test_abort_asks_for_confirmation(page, live_controller) -> None:  # type: ignore[no-untyped-def]
    target = next(s for s in planned(live_controller) if s["id"] != live_controller.history["voided"])
    with live_controller.api() as client:
        assert client.post(f"/sorties/{target['id']}/approve", json={"plan_hash": target["plan_hash"]}).status_code == 200
    open_ops(page, live_controller)
    card = page.locator(f'#active [data-sortie-id="{target["id"]}"]')
    card.locator("[data-action=abort]").click()
    dialog = page.get_by_test_id("confirm-dialog")
    expect(dialog).to_be_visible()
    page.get_by_test_id("confirm-cancel").click()
    expect(dialog).to_be_hidden()
    assert sortie_state(live_controller, target["id"])["state"] == "approved"
    card.locator("[data-action=abort]").click()
    page.fill("#confirm-reason", "weather closing in")
    page.get_by_test_id("confirm-ok").click()
    expect(card).to_have_count(0)  # cancelled on the ground: no longer active
    after = sortie_state(live_controller, target["id"])
    assert after["state"] == "cancelled"
    assert after["transitions"][-1]["reason"] == "weather closing in"


def test_reject_needs_a_reason(page, live_controller) -> None:  # type: ignore[no-untyped-def]
    open_ops(page, live_controller)
    target = next(s for s in planned(live_controller) if s["id"] != live_controller.history["voided"])
    card = page.locator(f'#queue [data-sortie-id="{target["id"]}"]')
    card.locator("[data-action=reject]").click()
    card.locator("[data-action=confirm-reject]").click()  # empty reason: the form refuses
    expect(card).to_be_visible()
    assert sortie_state(live_controller, target["id"])["state"] == "planned"
    card.locator(".reject-reason").fill("payload too heavy for forecast gusts")
    card.locator("[data-action=confirm-reject]").click()
    expect(card).to_have_count(0)
    after = sortie_state(live_controller, target["id"])
    assert after["state"] == "rejected"
    assert after["state_reason"] == "payload too heavy for forecast gusts"


def test_batch_approve(page, live_controller) -> None:  # type: ignore[no-untyped-def]
    open_ops(page, live_controller)
    targets = [s for s in planned(live_controller) if s["id"] != live_controller.history["voided"]][:3]
    for s in targets:
        page.locator(f'#queue [data-sortie-id="{s["id"]}"] .pick').check()
    button = page.get_by_test_id("approve-selected")
    expect(button).to_contain_text("(3)")
    button.click()
    for s in targets:
        expect(page.locator(f'#active [data-sortie-id="{s["id"]}"]')).to_be_visible()
        expect(page.locator(f'#queue [data-sortie-id="{s["id"]}"]')).to_have_count(0)
    assert {sortie_state(live_controller, s["id"])["state"] for s in targets} <= {"approved", "uploading", "ready",
                                                                                 "airborne"}
    expect(button).to_be_disabled()


def test_parcel_lookup_shows_the_timeline_in_shanghai_time(page, live_controller) -> None:  # type: ignore[no-untyped-def]
    page.goto(live_controller.url + "/console/#parcels")
    page.get_by_test_id("parcel-id").fill("P0001")
    page.press('[data-testid="parcel-id"]', "Enter")
    timeline = page.get_by_test_id("timeline").locator("li")
    with live_controller.api() as client:
        events = client.get("/parcels/P0001/events").json()
    expect(timeline).to_have_count(len(events))
    assert len(events) >= 2
    expect(timeline.nth(0)).to_contain_text("已收件")
    expect(timeline.nth(1)).to_contain_text("已排班")
    local = datetime.fromisoformat(events[0]["at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    expect(timeline.nth(0).locator("time")).to_contain_text(local.strftime("%H:%M"))
    expect(page.get_by_test_id("parcel-result")).to_contain_text("嵊泗县配送中心")
    screenshot(page, "05-parcel-lookup")
    page.get_by_test_id("parcel-id").fill("NOPE-404")
    page.press('[data-testid="parcel-id"]', "Enter")
    expect(page.locator("#parcel-error")).to_contain_text("未找到该包裹")


def test_board_shows_points_lockers_and_alerts_first(page, live_controller) -> None:  # type: ignore[no-untyped-def]
    page.goto(live_controller.url + "/console/#board")
    alerts = page.get_by_test_id("board-alerts").locator("[data-alert-id]")
    expect(alerts).to_have_count(2)
    expect(alerts.nth(0)).to_contain_text("严重")  # critical first
    with live_controller.api() as client:
        board = client.get("/board").json()
    expect(page.get_by_test_id("board-points").locator("tbody tr")).to_have_count(len(board["service_points"]))
    expect(page.get_by_test_id("board-lockers").locator("tbody tr")).to_have_count(len(board["lockers"]))
    caiyuan = next(p for p in board["service_points"] if p["id"] == "caiyuan-dc")
    expect(page.locator('[data-point-id="caiyuan-dc"] .waiting')).to_have_text(str(caiyuan["waiting"]))
    daao = page.locator('[data-locker-id="locker-daao"]')
    expect(daao.locator(".dot-status")).to_have_attribute("data-online", "true")
    expect(daao.locator(".faulty")).to_have_text("1")
    expect(daao.locator(".occupied")).to_have_text("1")
    expect(page.locator('[data-locker-id="locker-dengta"] .dot-status')).to_have_attribute("data-online", "false")
    screenshot(page, "06-board")
    alerts.nth(0).locator("[data-action=ack]").click()
    expect(alerts).to_have_count(1)
    with live_controller.api() as client:
        acked = [a for a in client.get("/alerts").json() if a["acknowledged_by"]]
    assert [a["object_id"] for a in acked] == ["locker-dengta"]


def test_daily_plots(page, live_controller) -> None:  # type: ignore[no-untyped-def]
    page.goto(live_controller.url + "/console/#stats")
    expect(page.get_by_test_id("chart-parcels").locator("svg")).to_be_visible()
    page.get_by_test_id("stats-end").fill("2026-12-01")
    page.get_by_test_id("stats-end").dispatch_event("change")
    days = live_controller.history["days"]
    first = "2026-11-25"
    expect(page.get_by_test_id("chart-parcels").locator(f'.bar.s-down[data-date="{first[5:]}"]')) \
        .to_have_attribute("data-value", str(days[first]["down"]))
    ontime = days[first]["on_time"] / days[first]["delivered"] * 100
    dot = page.get_by_test_id("chart-ontime").locator(f'.dot[data-date="{first[5:]}"]')
    assert abs(float(dot.get_attribute("data-value")) - ontime) < 0.01
    expect(page.get_by_test_id("chart-sorties").locator(".bar.s-done")).to_have_count(len(days))
    expect(page.get_by_test_id("chart-energy").locator('.bar[data-date="12-01"]')).to_have_count(1)
    screenshot(page, "07-statistics")


def test_language_toggle_and_admin_page(browser, live_controller) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    context.add_init_script(f"sessionStorage.setItem('dispatch.token', {live_controller.tokens[Role.ADMIN]!r})")
    page = context.new_page()
    page.goto(live_controller.url + "/console/#ops")
    expect(page.locator('#nav a[data-view="ops"]')).to_have_text("调度")
    expect(page.get_by_test_id("who")).to_contain_text("管理员")
    page.get_by_test_id("lang-toggle").click()
    expect(page.locator('#nav a[data-view="ops"]')).to_have_text("Dispatch")
    expect(page.get_by_test_id("who")).to_have_text("admin-1 · Admin")
    expect(page.locator("#queue [data-action=approve]").first).to_have_text("Approve")
    screenshot(page, "08-dispatch-en")
    page.reload()
    expect(page.locator('#nav a[data-view="ops"]')).to_have_text("Dispatch")  # the choice is remembered
    page.click('#nav a[data-view="admin"]')
    expect(page.get_by_test_id("users").locator("tr[data-user]")).to_have_count(4)
    screenshot(page, "09-admin-en")  # before a token is shown on screen
    page.fill("#user-name", "dispatcher-2")
    page.click("#user-form button[type=submit]")
    expect(page.get_by_test_id("user-token")).to_contain_text("dsp_")
    expect(page.get_by_test_id("users").locator("tr[data-user]")).to_have_count(5)
    page.get_by_test_id("lang-toggle").click()
    expect(page.locator('#nav a[data-view="admin"]')).to_have_text("管理")
    context.close()


def test_a_sortie_handed_to_an_operator_is_settled_from_its_card(page, live_controller) -> None:  # type: ignore[no-untyped-def]
    """The controller could not tell whether a ready sortie flew (alert ``launch_outcome_unknown``): its
    card offers "it flew" / "it never took off"; settling needs a reason and cancels it here."""
    from controller.db.engine import transaction
    from controller.db.models import Alert
    from controller.domain.sortie_states import SortieState
    from controller.services import sorties

    target = next(s for s in planned(live_controller) if s["id"] != live_controller.history["voided"])
    with live_controller.api() as client:
        assert client.post(f"/sorties/{target['id']}/approve", json={"plan_hash": target["plan_hash"]}).status_code == 200
    with transaction(live_controller.factory) as session:
        sortie = sorties.get_sortie(session, target["id"], for_update=True)
        for to_state in (SortieState.UPLOADING, SortieState.READY):
            sorties.transition(session, sortie=sortie, to_state=to_state, actor="controller:test", reason="test")
        session.add(Alert(severity="critical", kind="launch_outcome_unknown", object_type="sortie",
                          object_id=target["id"], message=f"sortie {target['id']}: no battery level"))
    open_ops(page, live_controller)
    card = page.locator(f'#active [data-sortie-id="{target["id"]}"]')
    expect(card.get_by_test_id("sortie-state")).to_have_text("就绪")
    card.locator("[data-action=settle-not-flown]").click()
    page.get_by_test_id("confirm-ok").click()  # no reason given
    expect(page.locator("#queue-message")).to_contain_text("请写明核实情况")
    assert sortie_state(live_controller, target["id"])["state"] == "ready"
    card.locator("[data-action=settle-not-flown]").click()
    page.fill("#confirm-reason", "pad crew: box still on the drone, motors cold")
    page.get_by_test_id("confirm-ok").click()
    expect(card).to_have_count(0)
    after = sortie_state(live_controller, target["id"])
    assert after["state"] == "cancelled"
    assert [t["to_state"] for t in after["transitions"]][-2:] == ["aborted", "cancelled"]
    assert after["transitions"][-2]["actor"] == "dispatcher-1"
    assert "box still on the drone" in after["transitions"][-2]["reason"]


def test_publish_screenshots_for_the_readme() -> None:
    """Copy the screenshots taken above to docs/screenshots/ (committed, shown in the README).

    Opt-in (``DISPATCH_UPDATE_SCREENSHOTS=1``) so ordinary runs leave the committed images alone.
    """
    if os.environ.get("DISPATCH_UPDATE_SCREENSHOTS") != "1":
        pytest.skip("set DISPATCH_UPDATE_SCREENSHOTS=1 to refresh docs/screenshots/")
    shots = sorted(SCREENSHOTS.glob("*.png"))
    if not shots:
        pytest.skip("no screenshots were taken in this run")
    target = ROOT / "docs" / "screenshots"
    target.mkdir(parents=True, exist_ok=True)
    for shot in shots:
        shutil.copy2(shot, target / shot.name)
