"""Re-issuing a pickup code from the console's parcel card, in Chromium against a real controller."""

from __future__ import annotations

import re

import pytest

from controller.db.models import AuditEntry, PickupCode
from controller.services import lockers
from controller.services.auth import hash_secret
from tests.conftest import TEST_SECRET

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

LOCKER = "locker-bus-huaniao-1"


def test_reissue_code_from_the_parcel_card_needs_a_reason_and_shows_the_code_once(page, live_controller) -> None:  # type: ignore[no-untyped-def]
    with live_controller.api() as client:
        assert client.post("/parcels", json={"id": "RC0001", "origin": "caiyuan-dc", "destination": "dengta-village",
                                             "weight_kg": 1.0, "length_cm": 20, "width_cm": 15, "height_cm": 10,
                                             "recipient_phone": "13800000000"}).status_code == 201
        old = client.post(f"/lockers/{LOCKER}/parcels", json={"parcel_id": "RC0001"}).json()["code"]
    page.goto(live_controller.url + "/console/#parcels")
    page.get_by_test_id("parcel-id").fill("RC0001")
    page.press('[data-testid="parcel-id"]', "Enter")
    button = page.get_by_test_id("reissue-code")
    expect(button).to_be_visible()

    button.click()  # no reason: nothing is issued
    page.get_by_test_id("confirm-ok").click()
    expect(page.locator("#parcel-error")).to_contain_text("请填写原因")
    expect(page.get_by_test_id("new-code")).to_have_count(0)

    button.click()
    page.fill("#confirm-reason", "短信未送达")
    page.get_by_test_id("confirm-ok").click()
    shown = page.get_by_test_id("new-code")
    expect(shown).to_contain_text(re.compile(r"\d{7}"))
    code = re.search(r"\d{7}", shown.inner_text()).group(0)  # type: ignore[union-attr]
    assert code != old
    key = lockers.locker_code_key(TEST_SECRET, LOCKER)
    with live_controller.factory() as session:
        assert session.get(PickupCode, "RC0001").code_hmac == hash_secret(key, code)
        entry = session.query(AuditEntry).filter_by(action="locker.reissue_code", object_id="RC0001").one()
        assert entry.actor == "dispatcher-1" and entry.details["reason"] == "短信未送达"

    page.get_by_test_id("parcel-id").fill("RC0001")  # looked up again: the code is not shown again
    page.press('[data-testid="parcel-id"]', "Enter")
    expect(page.get_by_test_id("reissue-code")).to_be_visible()
    expect(page.get_by_test_id("new-code")).to_have_count(0)
