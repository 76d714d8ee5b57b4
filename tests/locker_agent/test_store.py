"""The agent's SQLite store on its own: databases from an older agent, and lookups by state in SQL."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from locker_driver.agent.states import Held
from locker_driver.agent.store import IntentRow, ParcelRow, Store, code_lookup_sql

# The parcels table as the first agents created it (no code_issued_at).
OLD_PARCELS = """CREATE TABLE parcels (
    parcel_id TEXT PRIMARY KEY, state TEXT NOT NULL, size TEXT NOT NULL DEFAULT 'S', code_hmac TEXT,
    expires_at TEXT, recipient_phone TEXT NOT NULL DEFAULT '', board INTEGER, lock INTEGER,
    deposited_at TEXT, courier TEXT)"""


def test_an_older_agents_database_gains_the_code_issued_at_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(OLD_PARCELS)
        db.execute("INSERT INTO parcels(parcel_id, state, code_hmac, board, lock) VALUES ('OLD1', 'held', 'ab', 1, 2)")
    store = Store(path)
    try:
        old = store.parcel("OLD1")
        assert old is not None and old.code_hmac == "ab" and old.code_issued_at is None
        at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
        store.put_parcel(ParcelRow(parcel_id="NEW1", state=Held.HELD, size="S", code_hmac="cd", expires_at=None,
                                   recipient_phone="", board=1, lock=3, deposited_at=None, courier=None,
                                   code_issued_at=at))
        assert store.parcel("NEW1").code_issued_at == at  # type: ignore[union-attr]
    finally:
        store.close()
    Store(path).close()  # opening it again is a no-op


def _long_history_and_three_live_parcels(store: Store) -> None:
    """3000 collected parcels (years of history, codes cleared) and one held, one expired, one expected."""
    with store.transaction():
        for n in range(3000):
            store.put_parcel(ParcelRow(parcel_id=f"DONE{n:05d}", state=Held.PICKED_UP, size="S", code_hmac=None,
                                       expires_at=None, recipient_phone="", board=1, lock=1, deposited_at=None,
                                       courier=None))
        for parcel_id, state in (("H1", Held.HELD), ("X1", Held.EXPIRED), ("E1", Held.EXPECTED)):
            store.put_parcel(ParcelRow(parcel_id=parcel_id, state=state, size="S", code_hmac=f"hmac-{parcel_id}",
                                       expires_at=None, recipient_phone="", board=1, lock=2, deposited_at=None,
                                       courier=None))


def test_parcels_by_state_are_read_through_an_index_not_the_whole_history(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.sqlite")
    try:
        _long_history_and_three_live_parcels(store)
        assert [p.parcel_id for p in store.parcels(Held.HELD, Held.EXPIRED)] == ["H1", "X1"]
        assert store.codes(Held.HELD, Held.EXPIRED) == {"H1": "hmac-H1", "X1": "hmac-X1"}
        assert len(store.parcels()) == 3003
        plan = " ".join(str(tuple(r)) for r in store._exec(
            "EXPLAIN QUERY PLAN SELECT parcel_id, code_hmac FROM parcels WHERE state IN (?, ?) "
            "AND code_hmac IS NOT NULL", ("held", "expired")))
        assert "parcels_by_state" in plan, plan
    finally:
        store.close()


def test_a_code_is_found_by_its_hmac_through_an_index_only_in_the_states_asked(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.sqlite")
    try:
        _long_history_and_three_live_parcels(store)
        found = {h: store.find_code(h, Held.HELD, Held.EXPIRED)
                 for h in ("hmac-H1", "hmac-X1", "hmac-E1", "hmac-no")}
        assert {h: m.parcel.parcel_id if m else None for h, m in found.items()} == {
            "hmac-H1": "H1", "hmac-X1": "X1", "hmac-E1": None, "hmac-no": None}  # E1 is not deposited yet
        plan = " ".join(str(tuple(r)) for r in store._exec(
            "EXPLAIN QUERY PLAN " + code_lookup_sql(2), ("x", "held", "expired")))
        assert "parcels_by_code" in plan, plan
    finally:
        store.close()


def test_a_code_lookup_sees_only_what_is_committed_and_never_waits_for_a_write(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.sqlite")
    try:
        store.install_layout([(1, 1, "M"), (1, 2, "S")])
        with store.transaction():
            store.put_parcel(ParcelRow(parcel_id="P1", state=Held.HELD, size="S", code_hmac="hmac-P1",
                                       expires_at=None, recipient_phone="", board=1, lock=1,
                                       deposited_at=None, courier=None))
        match = store.find_code("hmac-P1", Held.HELD)
        assert match is not None and (match.door_size, match.door_pending) == ("M", False)
        writing, release = threading.Event(), threading.Event()

        def open_write() -> None:  # a batch's commit in the opener's thread, held open
            with store.transaction():
                store.add_intent(IntentRow(uid="u", board=1, lock=1, action="pickup", parcel_id="P1",
                                           actor="code", at=datetime.now(UTC)))
                store.put_parcel(replace(match.parcel, state=Held.COLLECTING, code_hmac=None))
                writing.set()
                release.wait(5)

        writer = threading.Thread(target=open_write)
        writer.start()
        try:
            assert writing.wait(5)
            during = store.find_code("hmac-P1", Held.HELD)  # returns at once: the write is not committed
            assert during == match
        finally:
            release.set()
            writer.join()
        assert store.find_code("hmac-P1", Held.HELD) is None  # committed: the code died with the opening
        store.put_parcel(replace(match.parcel, code_hmac="hmac-P1"))
        pending = store.find_code("hmac-P1", Held.HELD)
        assert pending is not None and pending.door_pending  # the intent is still on record
    finally:
        store.close()
