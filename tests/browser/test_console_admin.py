"""The console's admin page in Debian's Chromium: geofence editor, drone registration, admin-only access."""

from __future__ import annotations

import json

import pytest

from controller.services.auth import Role
from tests.browser.conftest import LiveController, screenshot

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

TEST_ZONE = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [122.60, 30.62]},
             "properties": {"kind": "exclusion", "name": "test zone", "radius_m": 800}}


def admin_page(browser, live: LiveController):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1600, "height": 1100}, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.add_init_script(f"sessionStorage.setItem('dispatch.token', {live.tokens[Role.ADMIN]!r})")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(10_000)
    page.goto(live.url + "/console/#admin")
    expect(page.get_by_test_id("users").locator("tr[data-user]").first).to_be_visible()
    return context, page, errors


def test_admin_edits_the_geofence(browser, live_controller: LiveController) -> None:  # type: ignore[no-untyped-def]
    with live_controller.api() as client:  # one approval bound to fence version 1, voided by the change
        sortie = client.get("/sorties", params={"status": "planned"}).json()[0]
        approved = client.post(f"/sorties/{sortie['id']}/approve", json={"plan_hash": sortie["plan_hash"]})
        assert approved.status_code == 200, approved.text
    context, page, errors = admin_page(browser, live_controller)
    expect(page.get_by_test_id("fence-version")).to_have_text("1")
    editor = page.get_by_test_id("fence-json")
    fence = json.loads(editor.input_value())
    assert fence["type"] == "FeatureCollection" and "\n  " in editor.input_value()  # pretty-printed
    fence["features"].append(TEST_ZONE)
    editor.fill(json.dumps(fence, indent=2))

    # The reason is required: without it nothing is sent.
    page.get_by_test_id("fence-save").click()
    expect(page.get_by_test_id("confirm-dialog")).not_to_be_visible()
    page.get_by_test_id("fence-reason").fill("test zone for the admin page")
    page.get_by_test_id("fence-save").click()
    dialog = page.get_by_test_id("confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("作废")
    # Cancelling leaves the fence alone.
    page.get_by_test_id("confirm-cancel").click()
    expect(dialog).not_to_be_visible()
    expect(page.get_by_test_id("fence-version")).to_have_text("1")
    page.get_by_test_id("fence-save").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("fence-saved-version")).to_have_text("2")
    expect(page.get_by_test_id("fence-voided")).to_contain_text(sortie["id"])
    expect(page.get_by_test_id("fence-version")).to_have_text("2")
    expect(page.get_by_test_id("fences")).to_contain_text("test zone")
    expect(page.get_by_test_id("fence-error")).to_have_text("")
    # The map layers were redrawn from the new version.
    expect(page.locator('#map [data-layer="nofly"] circle title', has_text="test zone")).to_have_count(1)
    assert json.loads(editor.input_value())["features"][-1]["properties"]["name"] == "test zone"
    with live_controller.api() as client:
        assert client.get("/network").json()["geofence"]["version"] == 2
    screenshot(page, "12-admin-fence")

    # An impossible latitude: the server refuses it and the console names the feature inline.
    fence = json.loads(editor.input_value())
    ring = fence["features"][0]["geometry"]["coordinates"][0]
    ring[0] = ring[-1] = [ring[0][1], ring[0][0]]  # lon/lat swapped: latitude ~122°, ring still closed
    editor.fill(json.dumps(fence, indent=2))
    page.get_by_test_id("fence-reason").fill("broken on purpose")
    page.get_by_test_id("fence-save").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("fence-error")).to_contain_text("validation_failed")
    expect(page.get_by_test_id("fence-error")).to_contain_text("feature 0")
    expect(page.get_by_test_id("fence-result")).to_be_hidden()
    expect(page.get_by_test_id("fence-version")).to_have_text("2")

    # Malformed JSON never reaches the server.
    editor.fill('{"type": "FeatureCollection", ')
    page.get_by_test_id("fence-save").click()
    expect(page.get_by_test_id("fence-error")).to_contain_text("JSON")
    expect(dialog).not_to_be_visible()
    with live_controller.api() as client:
        assert client.get("/network").json()["geofence"]["version"] == 2
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def test_admin_registers_a_drone(browser, live_controller: LiveController) -> None:  # type: ignore[no-untyped-def]
    context, page, errors = admin_page(browser, live_controller)
    pads = [p["id"] for p in live_controller.api().get("/pads").json()]
    expect(page.locator("#drone-pad option")).to_have_count(len(pads))
    drones = page.get_by_test_id("drones").locator("tr[data-drone]")
    before = drones.count()
    page.fill("#drone-id", "d99")
    page.fill("#drone-name", "测试 99")
    page.select_option("#drone-model", "island-courier-2")
    page.select_option("#drone-pad", pads[-1])
    page.fill("#drone-sysid", "11")  # d01's sysid: refused
    page.fill("#drone-url", "tcp:127.0.0.1:5799")
    page.click("#drone-form button[type=submit]")
    expect(page.get_by_test_id("drone-message")).to_contain_text("already_exists")
    expect(drones).to_have_count(before)
    page.fill("#drone-sysid", "99")
    page.click("#drone-form button[type=submit]")
    expect(page.get_by_test_id("drone-message")).to_contain_text("d99")
    expect(drones).to_have_count(before + 1)
    row = page.locator('tr[data-drone="d99"]')
    expect(row).to_contain_text("island-courier-2")
    expect(row).to_contain_text("99")
    registered = {d["id"]: d for d in live_controller.api(Role.ADMIN).get("/drones").json()}["d99"]
    assert registered["home_pad_id"] == pads[-1] and registered["connection_url"] == "tcp:127.0.0.1:5799"
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def test_dispatcher_has_no_admin_page(page, live_controller: LiveController) -> None:  # type: ignore[no-untyped-def]
    page.goto(live_controller.url + "/console/#admin")
    expect(page.get_by_test_id("who")).to_contain_text("调度员")
    expect(page.locator('#nav a[data-view="admin"]')).to_be_hidden()
    expect(page.locator("#view-ops")).to_be_visible()
    expect(page.locator("#view-admin")).to_be_hidden()
    expect(page.get_by_test_id("fence-json")).to_be_hidden()
