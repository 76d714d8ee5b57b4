"""Door openings in batches (group commit) through a real pty against the board simulator.

Concurrent pickups at different doors share one intent commit (one fsync) and each door opens once;
the same code sent twice opens its door once; a board that stops answering mid-batch keeps the intent
of the door it was sent and drops those never sent; the watchdog never settles an intent whose opening is
in flight, even when its board query was read before the unlock and answered after it.
"""

from __future__ import annotations

import asyncio

import pytest

from locker_driver.agent.errors import DoorFault, WrongOrExpiredCode
from locker_driver.agent.service import LockerService
from locker_driver.agent.states import Held
from locker_driver.frames import BoardQuery, DoorQuery, UnlockRequest
from locker_driver.sim import BoardSimulator
from tests.locker_agent.conftest import RecordingNotifier, until


async def held_parcels(service: LockerService, sim: BoardSimulator, notifier: RecordingNotifier,
                       n: int) -> dict[str, str]:
    """Deposit ``n`` parcels (doors closed after each); return ``{parcel_id: code}``."""
    for i in range(n):
        opened = await service.deposit(courier="wang", parcel_id=f"B{i}")
        sim.close_door(opened.board, opened.lock)
    await until(lambda: all(service.store.parcel(f"B{i}").state is Held.HELD for i in range(n)),
                step=service.poll, what="deposits done")
    return {f"B{i}": notifier.code_for(f"B{i}") for i in range(n)}


def unlocks(sim: BoardSimulator, board: int, lock: int, since: int) -> int:
    """Count the unlock frames for door ``board``/``lock`` among the simulator's requests from ``since`` on."""
    return sum(1 for r in sim.requests[since:] if isinstance(r, UnlockRequest) and (r.board, r.lock) == (board, lock))


async def test_concurrent_pickups_share_one_intent_commit_and_each_door_opens_once(
        service, sim, notifier, monkeypatch: pytest.MonkeyPatch) -> None:
    codes = await held_parcels(service, sim, notifier, 8)
    doors = {p: (service.store.parcel(p).board, service.store.parcel(p).lock) for p in codes}
    store = service.store
    synced: list[list[str]] = []  # the intents on record at each intent fsync
    real_flush = store.flush

    def flush(*, always: bool = False) -> bool:
        if always:
            synced.append(sorted(i.parcel_id or "" for i in store.intents()))
        return real_flush(always=always)

    monkeypatch.setattr(store, "flush", flush)
    # The first pickup's confirming query answers late: the other seven queue up meanwhile.
    sim.delay_replies(DoorQuery, 0.15)
    seen = len(sim.requests)
    first = asyncio.create_task(service.pickup(codes["B0"]))
    await until(lambda: unlocks(sim, *doors["B0"], seen) == 1, what="B0 unlock sent")
    rest = await asyncio.gather(*(service.pickup(codes[p]) for p in codes if p != "B0"))
    opened = [await first, *rest]

    assert sorted(o.parcel_id for o in opened) == sorted(codes)
    assert synced == [["B0"], [f"B{i}" for i in range(1, 8)]]  # one fsync for the seven
    for parcel_id, (board, lock) in doors.items():
        assert sim.door_is_open(board, lock) and unlocks(sim, board, lock, seen) == 1
        parcel = store.parcel(parcel_id)
        assert parcel.state is Held.COLLECTING and parcel.code_hmac is None
    assert not store.intents()
    assert "opening_unconfirmed" not in [e.kind for e in store.events()]
    with pytest.raises(WrongOrExpiredCode):  # one-time, batch or not
        await service.pickup(codes["B3"])


async def test_the_same_code_twice_at_once_opens_its_door_once(service, sim, notifier) -> None:
    codes = await held_parcels(service, sim, notifier, 1)
    parcel = service.store.parcel("B0")
    seen = len(sim.requests)
    outcomes = await asyncio.gather(service.pickup(codes["B0"]), service.pickup(codes["B0"]),
                                    return_exceptions=True)
    assert sum(1 for o in outcomes if isinstance(o, WrongOrExpiredCode)) == 1
    assert [o.parcel_id for o in outcomes if not isinstance(o, Exception)] == ["B0"]
    assert unlocks(sim, parcel.board, parcel.lock, seen) == 1
    assert service.lockout_remaining_s() == 0  # one failure counted, far from the lockout


async def test_the_watchdog_leaves_an_opening_queued_during_its_query_to_the_batch(service, sim, notifier) -> None:
    codes = await held_parcels(service, sim, notifier, 1)
    parcel = service.store.parcel("B0")
    # The watchdog reads board 1 (the door closed) and hears back late; the pickup is queued meanwhile
    # and its door opens right after that answer, before the watchdog settles the board. Settling it
    # from that reading would flag the opening as unconfirmed (or complete a collection of an open door).
    sim.delay_replies(BoardQuery, 0.15)
    seen = len(sim.requests)
    watchdog = asyncio.create_task(service.poll())
    await until(lambda: any(isinstance(r, BoardQuery) for r in sim.requests[seen:]), what="board read")
    opened = await service.pickup(codes["B0"])
    await watchdog

    assert (opened.board, opened.lock) == (parcel.board, parcel.lock) and sim.door_is_open(parcel.board, parcel.lock)
    now = service.store.parcel("B0")
    assert now.state is Held.COLLECTING and now.unconfirmed_open_at is None
    assert not service.store.intents()
    assert [e.kind for e in service.store.events() if e.kind in ("pickup", "opening_unconfirmed")] == []
    view = next(c for c in service.compartments_view() if c["lock"] == parcel.lock and c["board"] == parcel.board)
    assert view["state"] == "open" and not view["needs_check"]
    sim.close_door(parcel.board, parcel.lock)
    await until(lambda: service.store.parcel("B0").state is Held.PICKED_UP, step=service.poll, what="collected")


async def test_a_board_silent_in_a_batch_keeps_the_intent_it_was_sent_and_drops_the_ones_never_sent(
        service, sim, notifier) -> None:
    from locker_driver.sim.simulator import Fault

    sim.power_off(1)  # the first parcel goes to board 2, the next two to board 1
    await until(lambda: not service.store.boards()[1], step=service.poll, what="board 1 offline")
    codes = await held_parcels(service, sim, notifier, 1)
    sim.power_on(1)
    await until(lambda: service.store.boards()[1], step=service.poll, what="board 1 back")
    for parcel_id in ("S1", "S2"):
        opened = await service.deposit(courier="wang", parcel_id=parcel_id)
        sim.close_door(opened.board, opened.lock)
    await until(lambda: all(service.store.parcel(p).state is Held.HELD for p in ("S1", "S2")),
                step=service.poll, what="deposits done")
    codes |= {p: notifier.code_for(p) for p in ("S1", "S2")}
    assert service.store.parcel("B0").board == 2 and {service.store.parcel(p).board for p in ("S1", "S2")} == {1}

    # B0's confirm answers late, S1 and S2 queue as the next batch; board 1 then stops answering.
    sim.delay_replies(DoorQuery, 0.15)
    seen = len(sim.requests)
    first = asyncio.create_task(service.pickup(codes["B0"]))
    b0 = service.store.parcel("B0")
    await until(lambda: unlocks(sim, b0.board, b0.lock, seen) == 1, what="B0 unlock sent")
    sim.set_fault(Fault.NO_REPLY, board=1, times=None)
    outcomes = await asyncio.gather(*(service.pickup(codes[p]) for p in ("S1", "S2")), return_exceptions=True)
    assert (await first).parcel_id == "B0"
    assert all(isinstance(o, DoorFault) and "does not answer" in o.message for o in outcomes)

    sent = [p for p in ("S1", "S2") if unlocks(sim, 1, service.store.parcel(p).lock, seen)]
    assert len(sent) == 1  # the second door of the silent board was not tried
    assert [i.parcel_id for i in service.store.intents()] == sent  # did it open? settled when board 1 answers
    assert not service.store.boards()[1]
    sim.clear_faults()
    await until(lambda: service.store.boards()[1], step=service.poll, what="board 1 back")
    tried, untried = sent[0], ({"S1", "S2"} - set(sent)).pop()
    assert service.store.parcel(tried).state is Held.COLLECTING  # its door read open
    assert service.store.parcel(untried).state is Held.HELD and service.store.parcel(untried).unconfirmed_open_at is None
    assert (await service.pickup(codes[untried])).parcel_id == untried  # nothing in doubt: its code just works
