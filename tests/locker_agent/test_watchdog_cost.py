"""The watchdog's cost to pickups: its share of the line, what a pass reads and writes, and what must be on
disk before anything leaves the locker."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta, timezone

import pytest

from locker_driver.agent import service as service_module
from locker_driver.agent.states import Compartment, Held
from locker_driver.agent.store import ParcelRow, Store
from locker_driver.agent.sync import SyncClient
from tests.locker_agent.conftest import START, until


def _held(parcel_id: str, expires_at, state: Held = Held.HELD) -> ParcelRow:  # type: ignore[no-untyped-def]
    return ParcelRow(parcel_id=parcel_id, state=state, size="S", code_hmac=f"h-{parcel_id}", expires_at=expires_at,
                     recipient_phone="", board=1, lock=int(parcel_id[-1]), deposited_at=START, courier="wang")


def test_expired_reads_only_held_parcels_past_their_time_whatever_zone_and_precision_they_were_written_in(
        store: Store) -> None:
    now = START + timedelta(days=3)
    shanghai = timezone(timedelta(hours=8))
    store.put_parcel(_held("P1", now - timedelta(microseconds=1)))
    store.put_parcel(_held("P2", now))  # at the instant: expired
    store.put_parcel(_held("P3", now + timedelta(microseconds=1)))
    store.put_parcel(_held("P4", (now - timedelta(minutes=5)).astimezone(shanghai)))  # "later" wall time, earlier instant
    store.put_parcel(_held("P5", (now + timedelta(minutes=5)).astimezone(shanghai)))
    store.put_parcel(_held("P6", None))
    store.put_parcel(_held("P7", now - timedelta(days=1), state=Held.PICKED_UP))
    assert [p.parcel_id for p in store.expired(Held.HELD, now)] == ["P1", "P2", "P4"]
    assert [p.parcel_id for p in store.expired(Held.HELD, now.astimezone(shanghai))] == ["P1", "P2", "P4"]
    assert store.parcel("P4").expires_at == now - timedelta(minutes=5)  # the instant survives the round trip


async def test_a_watchdog_query_waits_for_door_openings_in_flight_and_queries_are_spaced(service) -> None:
    service._last_watchdog_query = 0.0
    t = time.monotonic()
    await service._watchdog_turn()  # nothing in flight, first query: at once
    assert time.monotonic() - t < service_module._WATCHDOG_QUERY_GAP_S
    t = time.monotonic()
    await service._watchdog_turn()  # the next one: the gap
    assert time.monotonic() - t >= service_module._WATCHDOG_QUERY_GAP_S * 0.9

    # An opening in flight: the query waits for it, or at most the cap.
    service._in_flight[(1, 1)] = object()
    service._no_openings.clear()
    t = time.monotonic()
    await service._watchdog_turn()
    waited = time.monotonic() - t
    assert service_module._WATCHDOG_GIVES_WAY_S * 0.9 <= waited < service_module._WATCHDOG_GIVES_WAY_S + 0.1

    async def finish_soon() -> None:
        await asyncio.sleep(0.01)
        del service._in_flight[(1, 1)]
        service._no_openings.set()

    service._last_watchdog_query = 0.0
    t = time.monotonic()
    await asyncio.gather(service._watchdog_turn(), finish_soon())
    assert time.monotonic() - t < service_module._WATCHDOG_GIVES_WAY_S * 0.9  # went right after it


async def test_a_pass_over_quiet_boards_writes_nothing_and_a_door_closing_is_still_settled(service, sim,
                                                                                            monkeypatch) -> None:
    opened = await service.deposit(courier="wang", parcel_id="SS0001")
    sim.close_door(opened.board, opened.lock)
    await until(lambda: service.store.parcel("SS0001").state is Held.HELD, step=service.poll, what="held")
    transactions = []
    real = service.store.transaction

    def counting(**kwargs):  # type: ignore[no-untyped-def]
        transactions.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(service.store, "transaction", counting)
    await service.poll()
    await service.poll()
    assert transactions == []  # every door as recorded: no commit, no fsync

    door = await service.pickup(_code(service, "SS0001"))
    sim.close_door(door.board, door.lock)
    await until(lambda: service.store.parcel("SS0001").state is Held.PICKED_UP, step=service.poll,
                what="picked up")
    assert service.store.compartment(door.board, door.lock).state is Compartment.FREE
    # The closing is recorded without an fsync of its own (no intent was settled) ...
    assert {"durable": False} in transactions


def _code(service, parcel_id: str) -> str:  # type: ignore[no-untyped-def]
    return service._notifier.code_for(parcel_id)


async def test_the_sync_puts_the_store_on_disk_before_it_sends_an_event(service, sim, store, clock,
                                                                       monkeypatch) -> None:
    """A record made without fsync (a door closing) that a power cut loses is made again from the door; it
    must not have left the locker before, or the controller would get it twice."""
    opened = await service.deposit(courier="wang", parcel_id="SS0001")
    sim.close_door(opened.board, opened.lock)
    await until(lambda: service.store.parcel("SS0001").state is Held.HELD, step=service.poll, what="held")
    order: list[str] = []
    real_flush = store.flush
    monkeypatch.setattr(store, "flush", lambda **kw: (order.append(f"flush always={kw.get('always', False)}"),
                                                      real_flush(**kw))[1])
    client = SyncClient(base_url="http://controller.invalid", token="t", locker_id="locker-bus-huaniao-1",
                        service=service, store=store, clock=clock)

    async def request(method: str, tail: str, body=None):  # type: ignore[no-untyped-def]
        order.append(f"{method} {tail}")
        return {"accepted": [e["event_uid"] for e in body["events"]]}

    monkeypatch.setattr(client, "_request", request)
    try:
        accepted, _, _ = await client.push()
    finally:
        await client.aclose()
    assert accepted >= 1
    assert order[:2] == ["flush always=True", "POST events"]


def test_the_failure_counter_cache_follows_writes_and_rollbacks(store: Store) -> None:
    assert store.failures("keypad") == (0, None)
    store.set_failures("keypad", 3, START)
    assert store.failures("keypad") == (3, START)
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.set_failures("keypad", 4, START + timedelta(seconds=1))
            raise RuntimeError("rolled back")
    assert store.failures("keypad") == (3, START)  # the cache does not keep what the rollback undid


async def test_the_keypad_endpoint_refuses_a_malformed_body_plainly_and_counts_no_failure(service) -> None:
    """`POST /api/pickup` is a plain route (the hot path skips FastAPI's dependency machinery): a body that
    is not ``{"code": "<= 32 characters"}`` gets 422 with the reasons, like every other endpoint, and is
    not a wrong code; a wrong code gets the agent's 403."""
    import httpx

    from locker_driver.agent.web import Couriers, create_web_app

    app = create_web_app(service, couriers=Couriers({"wang": "2468"}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://agent") as client:
        for body in (b"", b"{}", b'{"code": 7}', b'{"code": "' + b"1" * 33 + b'"}', b"not json"):
            reply = await client.post("/api/pickup", content=body, headers={"content-type": "application/json"})
            assert reply.status_code == 422, body
            assert isinstance(reply.json()["detail"], list) and reply.json()["detail"], body
        assert service.lockout_remaining_s() == 0 and service.store.failures("keypad")[0] == 0
        reply = await client.post("/api/pickup", json={"code": "000000"})
        assert reply.status_code == 403 and reply.json()["code"] == "wrong_or_expired_code"
        assert service.store.failures("keypad")[0] == 1
