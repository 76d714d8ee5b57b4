"""The agent's service through a real pty against the board simulator: deposits, pickups, the
interlock, brute force, expiry and every door/board fault."""

from __future__ import annotations

from datetime import timedelta

import pytest

from locker_driver.agent.errors import (
    BusMoving,
    DoorFault,
    LockedOut,
    NoFreeCompartment,
    NotReady,
    WrongOrExpiredCode,
)
from locker_driver.agent.service import LockerService
from locker_driver.agent.states import Compartment, Held
from locker_driver.sim import BoardSimulator
from tests.locker_agent.conftest import RecordingNotifier, until


def kinds(service: LockerService) -> list[str]:
    return [e.kind for e in service.store.events() if e.kind != "position"]


async def deposit_and_close(service: LockerService, sim: BoardSimulator, parcel_id: str, size: str | None = None):
    opened = await service.deposit(courier="wang", parcel_id=parcel_id, size=size)
    assert sim.door_is_open(opened.board, opened.lock)
    sim.close_door(opened.board, opened.lock)
    await until(lambda: service.store.parcel(parcel_id).state is Held.HELD, step=service.poll, what="deposit done")
    return opened


async def test_deposit_then_pickup_with_the_code_the_recipient_got(service, sim, notifier: RecordingNotifier) -> None:
    opened = await service.deposit(courier="wang", parcel_id="SS0001")
    assert (opened.board, opened.lock, opened.size) == (1, 1, "S")  # smallest free that fits
    assert service.store.compartment(1, 1).state is Compartment.RESERVED
    await service.poll()
    assert service.store.parcel("SS0001").state is Held.DEPOSITING  # not done while the door is open
    sim.close_door(1, 1)
    await until(lambda: service.store.parcel("SS0001").state is Held.HELD, step=service.poll, what="held")
    code = notifier.code_for("SS0001")
    assert service.store.parcel("SS0001").code_hmac != code  # only the HMAC is kept

    door = await service.pickup(code)
    assert (door.board, door.lock) == (1, 1) and sim.door_is_open(1, 1)
    sim.close_door(1, 1)
    await until(lambda: service.store.parcel("SS0001").state is Held.PICKED_UP, step=service.poll, what="picked up")
    assert service.store.compartment(1, 1).state is Compartment.FREE
    assert kinds(service) == ["deposit", "pickup"]
    with pytest.raises(WrongOrExpiredCode):  # one-time
        await service.pickup(code)


async def test_sizes_pick_the_smallest_fitting_compartment(service, sim) -> None:
    assert (await service.deposit(courier="wang", parcel_id="M1", size="M")).lock == 13
    assert (await service.deposit(courier="wang", parcel_id="L1", size="L")).lock == 21


async def test_no_door_opens_while_the_bus_moves(service, sim, gps) -> None:
    gps.set(speed_kmh=25.0)
    with pytest.raises(BusMoving):
        await service.deposit(courier="wang", parcel_id="SS0001")
    assert not any(sim.door_states(1).values())
    assert service.status()["moving"] is True
    gps.set(speed_kmh=0.5)  # GPS jitter of a parked bus
    await deposit_and_close(service, sim, "SS0001")


async def test_the_code_does_not_open_while_moving_and_the_attempt_is_not_counted(service, sim, gps, notifier) -> None:
    await deposit_and_close(service, sim, "SS0001")
    gps.set(speed_kmh=12.0)
    for _ in range(6):
        with pytest.raises(BusMoving):
            await service.pickup(notifier.code_for("SS0001"))
    gps.set(speed_kmh=0.0)
    assert (await service.pickup(notifier.code_for("SS0001"))).lock == 1


async def test_brute_force_locks_the_keypad_with_back_off(service, sim, clock, notifier) -> None:
    await deposit_and_close(service, sim, "SS0001")
    real = notifier.code_for("SS0001")
    wrong = [f"{n:06d}" for n in range(1000) if f"{n:06d}" != real]
    for guess in wrong[:4]:
        with pytest.raises(WrongOrExpiredCode):
            await service.pickup(guess)
    with pytest.raises(WrongOrExpiredCode):
        await service.pickup(wrong[4])  # the 5th failure starts a 30 min lockout
    with pytest.raises(LockedOut) as locked:
        await service.pickup(real)  # even the right code waits
    assert locked.value.facts["retry_after_s"] == 1800
    clock.advance(1800)
    with pytest.raises(WrongOrExpiredCode):
        await service.pickup(wrong[5])
    with pytest.raises(LockedOut) as longer:
        await service.pickup(wrong[6])
    assert longer.value.facts["retry_after_s"] == 3600  # doubled
    clock.advance(3600)
    assert (await service.pickup(real)).lock == 1
    assert kinds(service).count("keypad_lockout") == 2
    # A brute-force run within a simulated day: attempts that reached the code check.
    tried = 0
    for guess in wrong[7:200]:
        try:
            await service.pickup(guess)
        except WrongOrExpiredCode:
            tried += 1
        except LockedOut as error:
            clock.advance(error.facts["retry_after_s"])
        if clock.now() - service.store.events()[0].at > timedelta(days=1):
            break
    assert tried <= 10


async def test_wrong_and_expired_codes_get_the_same_answer_and_expired_parcels_are_flagged(
        service, sim, clock, notifier) -> None:
    await deposit_and_close(service, sim, "SS0001")
    clock.advance(72 * 3600 + 1)
    with pytest.raises(WrongOrExpiredCode) as expired:
        await service.pickup(notifier.code_for("SS0001"))
    with pytest.raises(WrongOrExpiredCode) as wrong:
        await service.pickup("000000" if notifier.code_for("SS0001") != "000000" else "000001")
    assert type(expired.value) is type(wrong.value) and expired.value.message == wrong.value.message
    assert [p.parcel_id for p in service.expired_parcels()] == ["SS0001"]
    assert not sim.door_is_open(1, 1)
    # A courier takes it back.
    opened = await service.take_back(courier="li", parcel_id="SS0001")
    sim.close_door(opened.board, opened.lock)
    await until(lambda: service.store.parcel("SS0001").state is Held.RETURNED, step=service.poll, what="returned")
    assert kinds(service) == ["deposit", "code_expired", "take_back"]


async def test_a_jammed_door_is_marked_faulty_and_the_parcel_goes_to_the_next_one(service, sim) -> None:
    sim.jam(1, 1)
    opened = await service.deposit(courier="wang", parcel_id="SS0001")
    assert opened.lock == 2 and opened.faulty_doors == (1,)
    assert service.store.compartment(1, 1).state is Compartment.FAULTY
    fault = next(e for e in service.store.events() if e.kind == "door_fault")
    assert fault.payload == {"board": 1, "lock": 1, "during": "deposit", "parcel_id": None}


async def test_a_door_that_will_not_open_for_pickup_is_reported_plainly(service, sim, notifier) -> None:
    await deposit_and_close(service, sim, "SS0001")
    sim.jam(1, 1)
    with pytest.raises(DoorFault) as fault:
        await service.pickup(notifier.code_for("SS0001"))
    assert "door 1 did not open" in fault.value.message and "code stays valid" in fault.value.message
    assert service.store.compartment(1, 1).state is Compartment.FAULTY
    assert service.store.parcel("SS0001").state is Held.HELD


async def test_no_free_compartment_is_said_plainly(service, sim) -> None:
    for lock in (21, 22, 23, 24):
        sim.jam(1, lock)
    sim.power_off(2)
    with pytest.raises(NoFreeCompartment):
        await service.deposit(courier="wang", parcel_id="BIG", size="L")


async def test_a_door_left_open_raises_an_alert_once(service, sim, clock) -> None:
    await service.deposit(courier="wang", parcel_id="SS0001")
    clock.advance(119)
    await service.poll()
    assert "door_left_open" not in kinds(service)
    clock.advance(2)
    await service.poll()
    await service.poll()
    assert kinds(service).count("door_left_open") == 1


async def test_a_silent_board_is_offline_while_the_other_keeps_working(service, sim) -> None:
    sim.power_off(1)
    await service.poll()
    assert service.store.boards() == {1: False, 2: True}
    assert {c["state"] for c in service.compartments_view() if c["board"] == 1} == {"offline"}
    opened = await service.deposit(courier="wang", parcel_id="SS0001")
    assert opened.board == 2
    sim.close_door(2, 1)
    sim.power_on(1)
    await until(lambda: service.store.boards()[1], step=service.poll, what="board 1 back")
    assert sorted(kinds(service)) == ["board_offline", "board_online", "deposit"]


async def test_after_power_loss_the_agent_reconciles_every_door_before_serving(
        bus, store, clock, gps, notifier, sim) -> None:
    from locker_driver.agent.service import AgentConfig
    from tests.locker_agent.conftest import CODE_KEY

    first = LockerService(config=AgentConfig(locker_id="L", code_key=CODE_KEY), bus=bus, store=store, clock=clock,
                          gps=gps, notifier=notifier)
    await first.reconcile()
    await deposit_and_close(first, sim, "DONE")
    opened = await first.deposit(courier="wang", parcel_id="MID")  # power fails with this door open
    code = notifier.code_for("DONE")
    await first.pickup(code)  # and this one open for a pickup
    sim.power_off()
    sim.close_door(opened.board, opened.lock)  # people close both doors while everything is dark
    sim.close_door(1, 1)
    sim.power_on()

    rebooted = LockerService(config=AgentConfig(locker_id="L", code_key=CODE_KEY), bus=bus, store=store, clock=clock,
                             gps=gps, notifier=notifier)
    with pytest.raises(NotReady):
        await rebooted.pickup("123456")
    await rebooted.reconcile()
    assert store.parcel("MID").state is Held.HELD
    assert store.parcel("DONE").state is Held.PICKED_UP
    assert store.compartment(1, 1).state is Compartment.FREE
    assert store.compartment(opened.board, opened.lock).state is Compartment.OCCUPIED
    assert notifier.code_for("MID")


async def test_manifest_codes_open_after_deposit_only(service, sim, notifier) -> None:
    from locker_driver.agent.codes import code_hmac
    from tests.locker_agent.conftest import CODE_KEY

    service.load_manifest([{"parcel_id": "PRE1", "code_hmac": code_hmac(CODE_KEY, "424242"), "size": "M",
                            "recipient_phone": "13800000000"}])
    with pytest.raises(WrongOrExpiredCode):
        await service.pickup("424242")  # not in the locker yet
    opened = await deposit_and_close(service, sim, "PRE1")
    assert opened.size == "M"
    assert notifier.notices[-1].code is None  # the controller sent the code; the agent only says "arrived"
    assert (await service.pickup("424242")).lock == opened.lock


def _manifest_entry(parcel_id: str, code: str, issued_at: str | None) -> dict[str, object]:
    from locker_driver.agent.codes import code_hmac
    from tests.locker_agent.conftest import CODE_KEY

    return {"parcel_id": parcel_id, "code_hmac": code_hmac(CODE_KEY, code), "issued_at": issued_at, "size": "S",
            "recipient_phone": "13800000000"}


async def test_a_reissued_code_in_the_manifest_replaces_a_held_parcels_code_at_once(service, sim) -> None:
    service.load_manifest([_manifest_entry("RE1", "1111111", "2026-11-30T08:00:00+00:00")])
    opened = await deposit_and_close(service, sim, "RE1")
    # The controller re-issues (the recipient lost the SMS): a newer code in the next manifest.
    applied = service.load_manifest([_manifest_entry("RE1", "2222222", "2026-12-01T09:00:00+00:00")])
    assert (applied.added, applied.replaced) == (0, 1)
    replaced = [e for e in service.store.events() if e.kind == "code_replaced"]
    assert [(e.payload["parcel_id"], e.payload["code_issued_at"]) for e in replaced] == [
        ("RE1", "2026-12-01T09:00:00+00:00")]
    with pytest.raises(WrongOrExpiredCode):
        await service.pickup("1111111")
    assert not sim.door_is_open(opened.board, opened.lock)
    assert (await service.pickup("2222222")).lock == opened.lock and sim.door_is_open(opened.board, opened.lock)
    # The same manifest again changes nothing and records nothing.
    assert service.load_manifest([_manifest_entry("RE1", "2222222", "2026-12-01T09:00:00+00:00")]).replaced == 0
    assert len([e for e in service.store.events() if e.kind == "code_replaced"]) == 1


async def test_a_stale_manifest_never_replaces_a_newer_code(service, sim, notifier, clock) -> None:
    # Not in the manifest at deposit: the agent issues the code itself (now = the deposit).
    await deposit_and_close(service, sim, "OWN1")
    own = notifier.code_for("OWN1")
    deposit = next(e for e in service.store.events() if e.kind == "deposit")
    assert deposit.payload["code_issued_at"] == clock.now().isoformat()
    # The controller's manifest still has the code it issued on assignment, before that deposit,
    # and one from a controller that does not send times: neither wins.
    before = (clock.now() - timedelta(hours=1)).isoformat()
    assert service.load_manifest([_manifest_entry("OWN1", "3333333", before)]).replaced == 0
    assert service.load_manifest([_manifest_entry("OWN1", "4444444", None)]).replaced == 0
    with pytest.raises(WrongOrExpiredCode):
        await service.pickup("3333333")
    assert (await service.pickup(own)).parcel_id == "OWN1"

    # An expected parcel keeps the newer of two manifest codes too.
    service.load_manifest([_manifest_entry("EXP1", "5555555", "2026-12-01T10:00:00+00:00")])
    service.load_manifest([_manifest_entry("EXP1", "6666666", "2026-12-01T09:00:00+00:00")])
    await deposit_and_close(service, sim, "EXP1")
    with pytest.raises(WrongOrExpiredCode):
        await service.pickup("6666666")
    assert (await service.pickup("5555555")).parcel_id == "EXP1"
    assert "code_replaced" not in kinds(service)


async def test_a_pickup_whose_board_went_silent_is_settled_from_the_door_when_it_answers(
        service, sim, notifier) -> None:
    from locker_driver.sim.simulator import Fault

    for parcel_id in ("SIL1", "SIL2"):
        await deposit_and_close(service, sim, parcel_id)
    one, two = (service.store.parcel(p) for p in ("SIL1", "SIL2"))
    # The board pulses the lock but every reply is lost: did the door open? The intent stays pending.
    sim.set_fault(Fault.NO_REPLY, board=1, times=None)
    with pytest.raises(DoorFault, match="does not answer"):
        await service.pickup(notifier.code_for("SIL1"))
    assert sim.door_is_open(1, one.lock) and [i.parcel_id for i in service.store.intents()] == ["SIL1"]
    assert service.store.parcel("SIL1").state is Held.HELD
    sim.clear_faults()
    await until(lambda: service.store.boards()[1], step=service.poll, what="board 1 back")
    # It answered with the door open: the pickup happened; code dead; one pickup event once closed.
    assert service.store.parcel("SIL1").state is Held.COLLECTING and not service.store.intents()
    sim.close_door(1, one.lock)
    await until(lambda: service.store.parcel("SIL1").state is Held.PICKED_UP, step=service.poll, what="collected")

    sim.set_fault(Fault.NO_REPLY, board=1, times=None)
    with pytest.raises(DoorFault):
        await service.pickup(notifier.code_for("SIL2"))
    sim.close_door(1, two.lock)  # closed again before the board answers: nobody can tell
    sim.clear_faults()
    await until(lambda: service.store.boards()[1], step=service.poll, what="board 1 back")
    flagged = service.store.parcel("SIL2")
    assert flagged.state is Held.HELD and flagged.unconfirmed_open_at is not None and flagged.code_hmac
    assert next(c for c in service.compartments_view() if c["lock"] == two.lock)["needs_check"]
    assert (await service.pickup(notifier.code_for("SIL2"))).lock == two.lock  # the code works, once
    with pytest.raises(WrongOrExpiredCode):
        await service.pickup(notifier.code_for("SIL2"))
    sim.close_door(1, two.lock)
    await until(lambda: service.store.parcel("SIL2").state is Held.PICKED_UP, step=service.poll, what="collected")
    assert [k for k in kinds(service) if k in ("pickup", "opening_unconfirmed")] == [
        "pickup", "opening_unconfirmed", "pickup"]


async def test_a_deposit_door_in_doubt_goes_out_of_service_and_the_parcel_is_not_recorded(service, sim) -> None:
    from locker_driver.sim.simulator import Fault

    sim.power_off(2)  # no other door to send the courier to
    await service.poll()
    sim.set_fault(Fault.NO_REPLY, board=1, times=None)
    with pytest.raises(NoFreeCompartment):
        await service.deposit(courier="wang", parcel_id="DOUBT")
    assert [(i.board, i.lock, i.action) for i in service.store.intents()] == [(1, 1, "deposit")]
    sim.close_door(1, 1)
    sim.clear_faults()
    await until(lambda: service.store.boards()[1], step=service.poll, what="board 1 back")
    assert service.store.compartment(1, 1).state is Compartment.FAULTY and service.store.parcel("DOUBT") is None
    event = next(e for e in service.store.events() if e.kind == "opening_unconfirmed")
    assert event.payload["action"] == "deposit" and event.payload["out_of_service"] is True
    assert (await service.deposit(courier="wang", parcel_id="DOUBT")).lock == 2  # the courier can go on
    sim.close_door(1, 2)
    await until(lambda: service.store.parcel("DOUBT").state is Held.HELD, step=service.poll, what="deposited")
