"""Driver, agent and controller together: the board simulator on a real pty, the agent on it, the
controller over real HTTP. Assignment and manifest, deposit and pickup, faults, then 24 simulated
hours with the controller down and a sync that applies everything exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from controller.db.models import (
    Alert,
    AuditEntry,
    Compartment,
    LockerCommand,
    LockerEvent,
    Parcel,
    PickupCode,
    TrackingEvent,
)
from controller.services.auth import Role
from locker_driver import open_bus
from locker_driver.agent.clock import ManualClock
from locker_driver.agent.codes import code_hmac
from locker_driver.agent.errors import LockedOut, WrongOrExpiredCode
from locker_driver.agent.gps import SimulatedGps
from locker_driver.agent.service import AgentConfig, LockerService, parse_layout
from locker_driver.agent.states import Held
from locker_driver.agent.store import Store
from locker_driver.agent.sync import SyncClient, SyncUnavailable
from locker_driver.sim import BoardSimulator
from tests.locker_agent.conftest import START, RecordingNotifier, until
from tests.locker_agent.live import LiveController

LOCKER = "locker-bus-huaniao-1"


def parcel(parcel_id: str, *, size_cm: tuple[int, int, int] = (20, 15, 10)) -> dict[str, object]:
    length, width, height = size_cm
    return {"id": parcel_id, "origin": "caiyuan-dc", "destination": "dengta-village", "weight_kg": 1.0,
            "length_cm": length, "width_cm": width, "height_cm": height, "recipient_phone": "13800000000"}


class Rig:
    def __init__(self, controller: LiveController, sim: BoardSimulator, service: LockerService, sync: SyncClient,
                 clock: ManualClock, notifier: RecordingNotifier, store: Store) -> None:
        self.controller, self.sim, self.service, self.sync = controller, sim, service, sync
        self.clock, self.notifier, self.store = clock, notifier, store

    async def deposit(self, parcel_id: str) -> int:
        opened = await self.service.deposit(courier="wang", parcel_id=parcel_id)
        self.sim.close_door(opened.board, opened.lock)
        await until(lambda: self.store.parcel(parcel_id).state is Held.HELD, step=self.service.poll, what="held")
        return opened.lock

    async def pickup(self, parcel_id: str, code: str) -> None:
        opened = await self.service.pickup(code)
        self.sim.close_door(opened.board, opened.lock)
        await until(lambda: self.store.parcel(parcel_id).state is Held.PICKED_UP, step=self.service.poll,
                    what="picked up")

    def db(self):  # type: ignore[no-untyped-def]
        return self.controller.factory()

    def parcel_state(self, parcel_id: str) -> str:
        with self.db() as session:
            return session.get(Parcel, parcel_id).state  # type: ignore[union-attr]

    def compartment_state(self, lock: int) -> str:
        with self.db() as session:
            return session.scalar(select(Compartment.state).where(Compartment.locker_id == LOCKER,
                                                                  Compartment.board == 1, Compartment.lock == lock))


@pytest.fixture
async def rig(tmp_path) -> AsyncIterator[Rig]:  # type: ignore[no-untyped-def]
    controller = LiveController(tmp_path, LOCKER)
    controller.start()
    clock = ManualClock(START)
    notifier = RecordingNotifier()
    store = Store(tmp_path / "agent.sqlite")
    store.install_layout(parse_layout("1:S*12,M*8,L*4"))
    with BoardSimulator(boards=[1], pulse_s=0.02) as sim, open_bus(sim.port_path, timeout_s=0.25, attempts=2) as bus:
        service = LockerService(config=AgentConfig(locker_id=LOCKER, code_key=controller.code_key), bus=bus,
                                store=store, clock=clock, notifier=notifier,
                                gps=SimulatedGps(clock, speed_kmh=0.0, lat_deg=30.857, lon_deg=122.672))
        await service.reconcile()
        sync = SyncClient(base_url=controller.url, token=controller.agent_token, locker_id=LOCKER, service=service,
                          store=store, clock=clock, batch_size=7)
        try:
            yield Rig(controller, sim, service, sync, clock, notifier, store)
        finally:
            await sync.aclose()
            controller.close()
            store.close()


async def test_assign_deposit_pickup_faults_and_remote_open(rig: Rig) -> None:
    with rig.controller.api(Role.COURIER) as courier:
        assert courier.post("/parcels", json=parcel("P1")).status_code == 201
        assigned = courier.post(f"/lockers/{LOCKER}/parcels", json={"parcel_id": "P1"})
        assert assigned.status_code == 201
        code = assigned.json()["code"]  # what the recipient's SMS says
        assert courier.post("/parcels", json=parcel("P2", size_cm=(40, 30, 10))).status_code == 201

    report = await rig.sync.sync_once()  # before departure: the manifest brings P1's code
    assert report.manifest_added == 1 and rig.store.parcel("P1").state is Held.EXPECTED

    lock = await rig.deposit("P1")
    await rig.sync.sync_once()
    assert rig.parcel_state("P1") == "at_locker" and rig.compartment_state(lock) == "occupied"

    with pytest.raises(WrongOrExpiredCode):
        await rig.service.pickup("000000" if code != "000000" else "111111")
    await rig.pickup("P1", code)
    await rig.sync.sync_once()
    assert rig.parcel_state("P1") == "picked_up" and rig.compartment_state(lock) == "free"
    with rig.db() as session:
        steps = session.scalars(select(TrackingEvent.to_state).where(TrackingEvent.parcel_id == "P1")
                                .order_by(TrackingEvent.id)).all()
        assert steps == ["received", "at_locker", "picked_up"]

    # A jammed M door: P2 goes to the next M compartment; the controller marks the first faulty and alerts.
    rig.sim.jam(1, 13)
    opened = await rig.service.deposit(courier="wang", parcel_id="P2", size="M")
    assert (opened.lock, opened.faulty_doors) == (14, (13,))
    rig.sim.close_door(1, 14)
    await until(lambda: rig.store.parcel("P2").state is Held.HELD, step=rig.service.poll, what="P2 held")
    # The door is left open after a manual opening: alert after 2 minutes.
    rig.sim.open_door(1, 20)
    await rig.service.poll()
    rig.clock.advance(121)
    await rig.service.poll()
    await rig.sync.sync_once()
    assert rig.compartment_state(13) == "faulty" and rig.compartment_state(14) == "occupied"

    # Staff fix the lock and an admin opens it remotely to check: audited, run on the agent's next sync.
    rig.sim.jam(1, 13, False)
    with rig.controller.api(Role.ADMIN) as admin:
        assert admin.post(f"/lockers/{LOCKER}/open", json={"board": 1, "lock": 13, "reason": "lock repaired"}
                          ).status_code == 202
    report = await rig.sync.sync_once()
    assert report.commands_run == 1 and rig.sim.door_is_open(1, 13)
    assert rig.compartment_state(13) == "free"
    with rig.db() as session:
        assert session.scalar(select(LockerCommand.done_at)) is not None
        alerts = set(session.scalars(select(Alert.kind).where(Alert.object_id == LOCKER)))
    assert {"locker_door_fault", "locker_door_left_open"} <= alerts

    # The board loses power: offline on both sides; back on, reconciled.
    rig.sim.close_door(1, 13)
    rig.sim.close_door(1, 20)
    rig.sim.power_off(1)
    await rig.service.poll()
    await rig.sync.sync_once()
    assert rig.compartment_state(1) == "offline"
    rig.sim.power_on(1)
    await until(lambda: rig.store.boards()[1], step=rig.service.poll, what="board back")
    await rig.sync.sync_once()
    assert rig.compartment_state(1) == "free" and rig.compartment_state(14) == "occupied"


async def test_a_day_offline_then_everything_syncs_exactly_once(rig: Rig) -> None:
    ids = [f"OFF{n}" for n in range(1, 7)]
    with rig.controller.api(Role.COURIER) as courier:
        for parcel_id in ids:
            assert courier.post("/parcels", json=parcel(parcel_id)).status_code == 201
    await rig.sync.sync_once()
    rig.controller.stop()  # the bus leaves mobile coverage for a day

    for n, parcel_id in enumerate(ids):
        await rig.deposit(parcel_id)
        rig.clock.advance(3 * 3600)
        if n % 2 == 1:  # every second parcel collected a few hours later with the SMS code
            await rig.pickup(ids[n - 1], rig.notifier.code_for(ids[n - 1]))
        with pytest.raises(SyncUnavailable):
            await rig.sync.sync_once()
    # Someone tries codes at the kiosk meanwhile.
    for guess in range(6):
        try:
            await rig.service.pickup(f"{guess:06d}")
        except (WrongOrExpiredCode, LockedOut):
            pass
    rig.clock.advance(24 * 3600 - 6 * 3 * 3600)
    await rig.service.poll()

    pending = rig.store.pending_events(10_000)
    assert len(pending) > 10 and rig.clock.now() - START >= timedelta(hours=24)
    rig.controller.start()
    report = await rig.sync.sync_once()
    assert report.sent == len(pending) and report.duplicates == 0 and report.rejected == 0
    assert rig.store.pending_events() == []

    # The reply was "lost": the agent sends everything again; nothing is applied twice.
    rig.store._exec("UPDATE outbox SET sent_at = NULL")
    again = await rig.sync.sync_once()
    assert again.sent == 0 and again.duplicates == len(rig.store.events())

    with rig.db() as session:
        assert session.scalar(select(func.count()).select_from(LockerEvent)) == len(rig.store.events())
        for n, parcel_id in enumerate(ids):
            steps = session.scalars(select(TrackingEvent.to_state).where(TrackingEvent.parcel_id == parcel_id)
                                    .order_by(TrackingEvent.id)).all()
            collected = n % 2 == 0
            assert steps == ["received", "at_locker", *(["picked_up"] if collected else [])], parcel_id
        assert session.scalar(select(func.count()).select_from(Alert).where(
            Alert.kind == "locker_keypad_lockout")) == 1
        positions = session.scalar(select(func.count()).select_from(LockerEvent).where(LockerEvent.kind == "position"))
        assert positions >= 6


async def test_the_sync_loop_backs_off_while_the_controller_is_down(rig: Rig) -> None:
    import asyncio

    rig.controller.stop()
    rig.sync.backoff_base_s, rig.sync.backoff_max_s = 0.01, 0.04
    stop = asyncio.Event()
    task = asyncio.create_task(rig.sync.run(stop))
    await until(lambda: rig.sync.failures >= 4, timeout_s=10, what="four failed rounds")
    assert rig.sync.next_wait_s() == 0.04  # 0.01, 0.02, 0.04, then capped
    rig.controller.start()
    await until(lambda: rig.sync.failures == 0, timeout_s=10, what="a successful round")
    stop.set()
    await task


async def test_a_code_reissued_at_the_controller_replaces_the_old_one_in_the_locker(rig: Rig) -> None:
    with rig.controller.api(Role.COURIER) as courier:
        assert courier.post("/parcels", json=parcel("RI1")).status_code == 201
        code_a = courier.post(f"/lockers/{LOCKER}/parcels", json={"parcel_id": "RI1"}).json()["code"]
    await rig.sync.sync_once()
    lock = await rig.deposit("RI1")  # deposited with the manifest's code A
    await rig.sync.sync_once()
    assert rig.parcel_state("RI1") == "at_locker"

    with rig.controller.api(Role.COURIER) as courier:  # the recipient lost the SMS
        reply = courier.post(f"/lockers/{LOCKER}/parcels/RI1/code", json={"reason": "recipient lost the SMS"})
    assert reply.status_code == 200, reply.text
    code_b = reply.json()["code"]
    assert code_b != code_a
    report = await rig.sync.sync_once()
    assert report.codes_replaced == 1 and report.rejected == 0

    with pytest.raises(WrongOrExpiredCode):
        await rig.service.pickup(code_a)
    assert not rig.sim.door_is_open(1, lock)
    await rig.pickup("RI1", code_b)
    await rig.sync.sync_once()
    assert rig.parcel_state("RI1") == "picked_up"
    with rig.db() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == "RI1")
                                  .order_by(AuditEntry.id)).all()
        locker_actions = [a for a in actions if a.startswith("locker.")]
        assert locker_actions[-2:] == ["locker.reissue_code", "locker.code_replaced"]
        # Every event reached the controller exactly once, the adoption included.
        assert session.scalar(select(func.count()).select_from(LockerEvent)) == len(rig.store.events())
    assert rig.store.pending_events() == []


async def test_a_stale_manifest_does_not_override_the_agents_own_code_then_a_reissue_does(rig: Rig) -> None:
    with rig.controller.api(Role.COURIER) as courier:
        assert courier.post("/parcels", json=parcel("ST1")).status_code == 201
        code_x = courier.post(f"/lockers/{LOCKER}/parcels", json={"parcel_id": "ST1"}).json()["code"]
    # The bus left before its manifest arrived: the agent issues its own code at the deposit.
    await rig.deposit("ST1")
    own = rig.notifier.code_for("ST1")
    # The manifest (code X, issued before the deposit) arrives before the deposit event went up.
    assert (await rig.sync.pull_manifest()).replaced == 0
    with pytest.raises(WrongOrExpiredCode):
        await rig.service.pickup(code_x)
    # Then the deposit event: the controller takes the agent's newer code, and the two agree.
    await rig.sync.sync_once()
    with rig.db() as session:
        assert session.get(PickupCode, "ST1").code_hmac == code_hmac(rig.controller.code_key, own)  # type: ignore[union-attr]
    assert rig.store.parcel("ST1").code_hmac == code_hmac(rig.controller.code_key, own)  # type: ignore[union-attr]

    # A re-issue still wins, although the agent's clock runs days ahead of the controller's.
    rig.clock.advance(3600)
    with rig.controller.api(Role.DISPATCHER) as dispatcher:
        code_b = dispatcher.post(f"/lockers/{LOCKER}/parcels/ST1/code", json={"reason": "SMS not delivered"}
                                 ).json()["code"]
    assert (await rig.sync.sync_once()).codes_replaced == 1
    with pytest.raises(WrongOrExpiredCode):
        await rig.service.pickup(own)
    await rig.pickup("ST1", code_b)
    await rig.sync.sync_once()
    assert rig.parcel_state("ST1") == "picked_up"
