"""Kiosk and courier pages in Debian's Chromium (Playwright), served by the agent on a simulated board."""

from __future__ import annotations

from tests.chromium import launch_browser

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from locker_driver import open_bus
from locker_driver.agent.clock import SystemClock
from locker_driver.agent.codes import code_hmac
from locker_driver.agent.gps import SimulatedGps
from locker_driver.agent.service import AgentConfig, LockerService, parse_layout
from locker_driver.agent.store import Store
from locker_driver.agent.web import Couriers, create_web_app
from locker_driver.sim import BoardSimulator
from tests.locker_agent.conftest import CODE_KEY, RecordingNotifier
from tests.locker_agent.live import free_port

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CODE = "246810"


@dataclass
class Agent:
    url: str
    sim: BoardSimulator
    gps: SimulatedGps
    store: Store


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    """The agent's web app and door watchdog in their own event loop (a thread), like ``locker-agent run``."""
    clock = SystemClock()
    gps = SimulatedGps(clock, speed_kmh=0.0)
    store = Store(tmp_path / "agent.sqlite")
    store.install_layout(parse_layout("1:S*12,M*8,L*4"))
    port = free_port()
    started, stop = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    with BoardSimulator(boards=[1], pulse_s=0.02) as sim, open_bus(sim.port_path, timeout_s=0.25, attempts=2) as bus:
        service = LockerService(config=AgentConfig(locker_id="locker-bus-huaniao-1", code_key=CODE_KEY), bus=bus,
                                store=store, clock=clock, gps=gps, notifier=RecordingNotifier())
        service.load_manifest([{"parcel_id": "PRE1", "code_hmac": code_hmac(CODE_KEY, CODE), "size": "S",
                                "recipient_phone": "13800000000"}])
        app = create_web_app(service, couriers=Couriers({"wang": "2468"}))
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))

        async def main() -> None:
            halt = asyncio.Event()

            async def watch() -> None:
                await asyncio.to_thread(stop.wait)
                halt.set()
                server.should_exit = True

            async def ready() -> None:
                while not server.started:
                    await asyncio.sleep(0.02)
                started.set()

            async with asyncio.TaskGroup() as tasks:
                for coroutine in (service.run(halt, period_s=0.1), server.serve(), watch(), ready()):
                    tasks.create_task(coroutine)

        def run() -> None:
            try:
                asyncio.run(main())
            except BaseException as error:  # noqa: BLE001 - reported to the test below
                failure.append(error)
                started.set()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        assert started.wait(20) and not failure, failure
        try:
            yield Agent(url=f"http://127.0.0.1:{port}", sim=sim, gps=gps, store=store)
        finally:
            stop.set()
            thread.join(timeout=10)
    store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    yield from launch_browser()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 800, "height": 1280}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], errors


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"locker-{name}.png"), full_page=True)


def test_courier_deposits_and_the_recipient_collects_with_the_code(agent: Agent, page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto(agent.url + "/courier")
    shot(page, "courier-sign-in")
    page.get_by_test_id("courier-name").fill("wang")
    page.get_by_test_id("courier-pin").fill("2468")
    page.get_by_test_id("login").click()
    expect(page.get_by_test_id("who")).to_contain_text("wang")
    page.get_by_test_id("parcel-id").fill("PRE1")
    page.get_by_test_id("deposit").click()
    expect(page.get_by_test_id("result")).to_contain_text("门 1 已打开")
    assert agent.sim.door_is_open(1, 1)
    shot(page, "courier-door-open")
    page.get_by_test_id("confirm-closed").click()
    expect(page.get_by_test_id("result")).to_contain_text("门 1 还开着")  # not closed yet: said so
    agent.sim.close_door(1, 1)
    page.get_by_test_id("confirm-closed").click()
    expect(page.get_by_test_id("result")).to_contain_text("门 1 已关好")
    shot(page, "courier-deposited")

    page.goto(agent.url + "/")
    for digit in CODE:  # the on-screen keypad
        page.get_by_role("button", name=digit, exact=True).click()
    expect(page.get_by_test_id("code-input")).to_have_value(CODE)
    page.get_by_test_id("submit").click()
    expect(page.get_by_test_id("result")).to_have_text("门 1 已打开，请取走包裹后关门")
    assert agent.sim.door_is_open(1, 1)
    shot(page, "kiosk-door-open")
    page.get_by_test_id("lang-toggle").click()
    expect(page.get_by_test_id("result")).to_contain_text("Door 1 is open")
    shot(page, "kiosk-door-open-en")


def test_wrong_codes_then_lockout_by_keyboard(agent: Agent, page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto(agent.url + "/")
    code_input = page.get_by_test_id("code-input")
    expect(code_input).to_be_focused()
    for attempt in range(5):
        page.keyboard.type(f"99999{attempt}")
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("result")).to_have_text("取件码错误或已过期")
        expect(code_input).to_have_value("")
        if attempt == 0:
            shot(page, "kiosk-wrong-code")
    page.keyboard.type(CODE)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("result")).to_have_text("输入错误次数过多，请 30 分钟后再试")
    assert not any(agent.sim.door_states(1).values())
    shot(page, "kiosk-locked-out")


def test_the_kiosk_says_when_the_bus_is_moving(agent: Agent, page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    agent.gps.set(speed_kmh=30.0)
    page.goto(agent.url + "/")
    expect(page.get_by_test_id("moving-banner")).to_be_visible()
    page.keyboard.type(CODE)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("result")).to_contain_text("车辆行驶中")
    shot(page, "kiosk-bus-moving")
    agent.gps.set(speed_kmh=0.0)
    expect(page.get_by_test_id("moving-banner")).to_be_hidden(timeout=5000)
