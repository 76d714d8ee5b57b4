"""kill -9 between a door's confirmed unlock and the agent's commit: the write-ahead intent settles it.

Real processes: the controller over HTTP, ``locker-agent run`` as a child process, the board
simulator on a pty in this process. The simulator answers the driver's confirming door query late
(``delay_replies``), so the door is physically open while the agent still waits to commit; the test
SIGKILLs the agent in that window, then starts a new agent on the same database and simulator.

Door open at restart: the pickup happened (code dead, collection completes, one ``pickup`` event).
Door closed at restart: unknown — the parcel stays held and flagged, its code opens once more and the
controller gets one ``opening_unconfirmed`` alert, then one ``pickup``.

Without the intent (state committed only after the unlock), the first case leaves the parcel held
with a live code and the second leaves no trace at all: both fail here.

A batch of pickups (one fsync for all their intents, then the doors one by one) killed after its first
door opened: that door completes, the next one (intent on disk, never unlocked) is in doubt.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from controller.db.models import Alert, LockerEvent, Parcel
from controller.services.auth import Role
from locker_driver.frames import DoorQuery
from locker_driver.sim import BoardSimulator
from tests.locker_agent.live import LiveController, free_port

LOCKER = "locker-bus-huaniao-1"


def wait_for(condition: Callable[[], Any], *, timeout_s: float = 20.0, what: str = "condition") -> Any:
    """Return ``condition()``'s first truthy value, polling; fail after ``timeout_s`` s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Agent:
    """``locker-agent run`` as a process on ``db`` and the simulator's pty, syncing every 0.3 s."""

    def __init__(self, controller: LiveController, sim: BoardSimulator, db: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from locker_driver.cli import main; main()", "run", "--port", sim.port_path,
             "--controller", controller.url, "--token", controller.agent_token, "--locker", LOCKER,
             "--code-key", controller.code_key, "--db", str(db), "--courier", "wang:2468",
             "--http-port", str(self.port), "--sync-interval-s", "0.3"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def ready() -> bool:
            assert self.process.poll() is None, self.process.communicate()[1]
            try:
                return bool(httpx.get(self.base + "/api/status", timeout=2).json()["ready"])
            except httpx.HTTPError:
                return False

        wait_for(ready, what="agent ready")

    def status(self) -> dict[str, Any]:
        return httpx.get(self.base + "/api/status", timeout=5).json()

    def pickup(self, code: str) -> httpx.Response:
        return httpx.post(self.base + "/api/pickup", json={"code": code}, timeout=10)

    def deposit(self, parcel_id: str) -> dict[str, Any]:
        token = httpx.post(self.base + "/api/courier/login", json={"name": "wang", "pin": "2468"}).json()["token"]
        reply = httpx.post(self.base + "/api/courier/deposit", json={"parcel_id": parcel_id},
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        assert self.process.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.communicate(timeout=20)


def query(db: Path, sql: str, *params: Any) -> list[sqlite3.Row]:
    """Read the agent's database (a separate read-only connection, as the WAL allows)."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def parcel_row(db: Path, parcel_id: str) -> sqlite3.Row:
    return query(db, "SELECT * FROM parcels WHERE parcel_id = ?", parcel_id)[0]


def kill_during_confirm(agent: Agent, sim: BoardSimulator, code: str, lock: int) -> None:
    """Send a pickup and SIGKILL the agent after the board opened the door, before the agent heard so."""
    sim.delay_replies(DoorQuery, 0.9, times=3)  # every attempt late: the window lasts until the kill
    seen = len(sim.requests)
    threading.Thread(target=lambda: pytest.raises(httpx.HTTPError, agent.pickup, code), daemon=True).start()
    wait_for(lambda: sim.door_is_open(1, lock) and any(
        isinstance(r, DoorQuery) and r.lock == lock for r in sim.requests[seen:]), what="unlock, confirm pending")
    agent.kill9()
    sim.clear_faults()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[LiveController, BoardSimulator]]:
    controller = LiveController(tmp_path, LOCKER)
    controller.start()
    try:
        with BoardSimulator(boards=[1], pulse_s=0.02) as sim:
            yield controller, sim
    finally:
        controller.close()


def test_kill9_between_unlock_and_commit_is_settled_from_the_door(rig, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    controller, sim = rig
    db = tmp_path / "agent.sqlite"
    codes: dict[str, str] = {}
    with controller.api(Role.COURIER) as courier:
        for parcel_id in ("K1", "K2"):
            assert courier.post("/parcels", json={
                "id": parcel_id, "origin": "caiyuan-dc", "destination": "dengta-village", "weight_kg": 1.0,
                "length_cm": 20, "width_cm": 15, "height_cm": 10, "recipient_phone": "13800000000"}).status_code == 201
            codes[parcel_id] = courier.post(f"/lockers/{LOCKER}/parcels", json={"parcel_id": parcel_id}).json()["code"]

    def controller_events(kind: str, parcel_id: str) -> int:
        with controller.factory() as session:
            return sum(1 for p in session.scalars(select(LockerEvent.payload).where(LockerEvent.kind == kind))
                       if p.get("parcel_id") == parcel_id)

    def alerts(kind: str) -> int:
        with controller.factory() as session:
            return session.scalar(select(func.count()).select_from(Alert).where(Alert.kind == kind)) or 0

    def controller_parcel(parcel_id: str) -> str:
        with controller.factory() as session:
            return session.get(Parcel, parcel_id).state  # type: ignore[union-attr]

    agent = Agent(controller, sim, db)
    try:
        wait_for(lambda: len(query(db, "SELECT 1 FROM parcels WHERE state = 'expected'")) == 2, what="manifest")
        doors = {}
        for parcel_id in ("K1", "K2"):
            doors[parcel_id] = agent.deposit(parcel_id)["lock"]
            sim.close_door(1, doors[parcel_id])
            wait_for(lambda: parcel_row(db, parcel_id)["state"] == "held", what=f"{parcel_id} held")
        wait_for(lambda: controller_parcel("K2") == "at_locker", what="deposits synced")

        # -- 1. killed with the door open; it is still open when the agent comes back ------------------
        kill_during_confirm(agent, sim, codes["K1"], doors["K1"])
        assert sim.door_is_open(1, doors["K1"])
        # The gap the intent closes: the door is open, the parcel still held with a live code...
        assert parcel_row(db, "K1")["state"] == "held" and parcel_row(db, "K1")["code_hmac"] is not None
        # ...but the opening is on record.
        assert [(r["action"], r["parcel_id"]) for r in query(db, "SELECT * FROM intents")] == [("pickup", "K1")]

        agent = Agent(controller, sim, db)
        k1 = parcel_row(db, "K1")
        assert k1["state"] == "collecting" and k1["code_hmac"] is None  # the opening happened; code dead
        assert query(db, "SELECT * FROM intents") == []
        assert agent.pickup(codes["K1"]).status_code == 403  # one-time
        sim.close_door(1, doors["K1"])
        wait_for(lambda: parcel_row(db, "K1")["state"] == "picked_up", what="K1 collected")
        wait_for(lambda: controller_parcel("K1") == "picked_up", what="K1 pickup synced")

        # -- 2. killed with the door open; the recipient closes it before the agent is back -----------
        kill_during_confirm(agent, sim, codes["K2"], doors["K2"])
        sim.close_door(1, doors["K2"])
        agent = Agent(controller, sim, db)
        k2 = parcel_row(db, "K2")
        assert k2["state"] == "held" and k2["code_hmac"] is not None and k2["unconfirmed_open_at"] is not None
        assert query(db, "SELECT * FROM intents") == []
        view = {c["lock"]: c for c in agent.status()["compartments"]}
        assert view[doors["K2"]]["needs_check"] and view[doors["K2"]]["state"] == "occupied"
        assert not view[doors["K1"]]["needs_check"]
        wait_for(lambda: alerts("locker_opening_unconfirmed"), what="alert at the controller")
        assert controller_parcel("K2") == "at_locker"  # nothing claims it was collected

        # The recipient's code opens the door once more, and only once; the pickup completes normally.
        opened = agent.pickup(codes["K2"])
        assert opened.status_code == 200 and opened.json()["lock"] == doors["K2"] and sim.door_is_open(1, doors["K2"])
        assert agent.pickup(codes["K2"]).status_code == 403
        sim.close_door(1, doors["K2"])
        wait_for(lambda: parcel_row(db, "K2")["state"] == "picked_up", what="K2 collected")
        wait_for(lambda: controller_parcel("K2") == "picked_up", what="K2 pickup synced")
        wait_for(lambda: not query(db, "SELECT 1 FROM outbox WHERE sent_at IS NULL"), what="outbox drained")
    finally:
        agent.stop()

    # Every event once, on both sides.
    kinds = [r["kind"] for r in query(db, "SELECT kind FROM outbox ORDER BY seq")]
    assert kinds.count("pickup") == 2 and kinds.count("opening_unconfirmed") == 1
    assert controller_events("pickup", "K1") == 1 and controller_events("pickup", "K2") == 1
    assert controller_events("opening_unconfirmed", "K2") == 1 and controller_events("opening_unconfirmed", "K1") == 0
    with controller.factory() as session:
        uids = list(session.scalars(select(LockerEvent.event_uid).where(LockerEvent.locker_id == LOCKER)))
    assert len(uids) == len(set(uids)) == len(kinds)
    assert alerts("locker_opening_unconfirmed") == 1 and alerts("locker_event_rejected") == 0


def test_kill9_during_a_batch_settles_each_door_of_it(rig, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Pickups queued while a door opens go out as one batch: all their intents on disk (one fsync), then
    the doors one by one. Killed with the batch's first door open and its second not yet unlocked: at
    restart the first completes, the second is in doubt (held, code live, flagged, one alert)."""
    controller, sim = rig
    db = tmp_path / "agent.sqlite"
    parcels = ("B1", "B2", "B3")
    codes: dict[str, str] = {}
    with controller.api(Role.COURIER) as courier:
        for parcel_id in parcels:
            assert courier.post("/parcels", json={
                "id": parcel_id, "origin": "caiyuan-dc", "destination": "dengta-village", "weight_kg": 1.0,
                "length_cm": 20, "width_cm": 15, "height_cm": 10, "recipient_phone": "13800000000"}).status_code == 201
            codes[parcel_id] = courier.post(f"/lockers/{LOCKER}/parcels", json={"parcel_id": parcel_id}).json()["code"]

    def alerts(kind: str) -> int:
        with controller.factory() as session:
            return session.scalar(select(func.count()).select_from(Alert).where(Alert.kind == kind)) or 0

    agent = Agent(controller, sim, db)
    try:
        wait_for(lambda: len(query(db, "SELECT 1 FROM parcels WHERE state = 'expected'")) == 3, what="manifest")
        doors = {}
        for parcel_id in parcels:
            doors[parcel_id] = agent.deposit(parcel_id)["lock"]
            sim.close_door(1, doors[parcel_id])
            wait_for(lambda: parcel_row(db, parcel_id)["state"] == "held", what=f"{parcel_id} held")

        def confirm_pending(lock: int) -> bool:
            return sim.door_is_open(1, lock) and any(
                isinstance(r, DoorQuery) and r.lock == lock for r in sim.requests[seen:])

        # B1's confirming query answers 0.9 s late; B2 and B3 queue meanwhile and form the next batch,
        # whose first confirming query is late too: the kill lands there.
        sim.delay_replies(DoorQuery, 0.9, times=2)
        seen = len(sim.requests)
        answers: dict[str, int | str] = {}

        def pick(parcel_id: str) -> None:
            try:
                answers[parcel_id] = agent.pickup(codes[parcel_id]).status_code
            except httpx.HTTPError as error:
                answers[parcel_id] = error.__class__.__name__

        threading.Thread(target=pick, args=("B1",), daemon=True).start()
        wait_for(lambda: confirm_pending(doors["B1"]), what="B1 unlocked, confirm pending")
        for parcel_id in ("B2", "B3"):
            threading.Thread(target=pick, args=(parcel_id,), daemon=True).start()
        wait_for(lambda: answers.get("B1") == 200, what="B1 answered")
        first = wait_for(lambda: next((p for p in ("B2", "B3") if confirm_pending(doors[p])), None),
                         what="the batch's first door unlocked, confirm pending")
        second = "B3" if first == "B2" else "B2"
        assert sorted(r["parcel_id"] for r in query(db, "SELECT * FROM intents")) == ["B2", "B3"]  # both ahead
        assert not sim.door_is_open(1, doors[second])  # its unlock frame was never sent
        agent.kill9()
        sim.clear_faults()
        wait_for(lambda: "B2" in answers and "B3" in answers, what="both requests ended")
        assert not any(isinstance(answers[p], int) for p in ("B2", "B3"))  # neither was answered

        agent = Agent(controller, sim, db)
        assert query(db, "SELECT * FROM intents") == []
        assert parcel_row(db, "B1")["state"] == "collecting"  # recorded by its own batch before the kill
        done = parcel_row(db, first)
        assert done["state"] == "collecting" and done["code_hmac"] is None  # its door read open
        doubt = parcel_row(db, second)
        assert doubt["state"] == "held" and doubt["code_hmac"] is not None and doubt["unconfirmed_open_at"] is not None
        wait_for(lambda: alerts("locker_opening_unconfirmed"), what="alert at the controller")

        opened = agent.pickup(codes[second])  # the code still opens its door, once
        assert opened.status_code == 200 and sim.door_is_open(1, doors[second])
        assert agent.pickup(codes[second]).status_code == 403
        assert agent.pickup(codes[first]).status_code == 403
        for parcel_id in parcels:
            sim.close_door(1, doors[parcel_id])
        wait_for(lambda: all(parcel_row(db, p)["state"] == "picked_up" for p in parcels), what="all collected")
        wait_for(lambda: not query(db, "SELECT 1 FROM outbox WHERE sent_at IS NULL"), what="outbox drained")
    finally:
        agent.stop()

    kinds = [r["kind"] for r in query(db, "SELECT kind FROM outbox ORDER BY seq")]
    assert kinds.count("pickup") == 3 and kinds.count("opening_unconfirmed") == 1
    assert alerts("locker_opening_unconfirmed") == 1 and alerts("locker_event_rejected") == 0
