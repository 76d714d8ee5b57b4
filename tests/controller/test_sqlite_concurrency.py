"""Concurrent read-then-write transactions on the embedded SQLite database queue, never fail."""

from __future__ import annotations

import threading

from sqlalchemy import select

from controller.db.engine import transaction
from controller.db.models import ScenarioMeta


def test_concurrent_read_modify_write_transactions_all_commit(session_factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(session_factory) as session:
        session.add(ScenarioMeta(key="counter", value={"n": 0}))
    errors: list[BaseException] = []
    rounds, workers = 40, 4

    def bump() -> None:
        try:
            for _ in range(rounds):
                with transaction(session_factory) as session:
                    row = session.scalar(select(ScenarioMeta).where(ScenarioMeta.key == "counter"))
                    row.value = {"n": row.value["n"] + 1}  # type: ignore[union-attr]
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with session_factory() as session:
        assert session.get(ScenarioMeta, "counter").value == {"n": rounds * workers}  # type: ignore[union-attr]


def test_wal_restarts_while_writers_run_beside_the_checkpointer(engine, session_factory) -> None:  # type: ignore[no-untyped-def]
    # The checkpointer copies most of the WAL without the write lock and the rest with it, so the
    # WAL file starts over instead of growing with every write (engine._Checkpointer).
    from pathlib import Path

    from controller.db.engine import CHECKPOINT_EVERY_COMMITS

    with transaction(session_factory) as session:
        session.add(ScenarioMeta(key="counter", value={"n": 0, "pad": "x" * 3000}))
    rounds, workers = 10 * CHECKPOINT_EVERY_COMMITS // 4, 4

    def bump() -> None:
        for _ in range(rounds):
            with transaction(session_factory) as session:
                row = session.scalar(select(ScenarioMeta).where(ScenarioMeta.key == "counter"))
                row.value = {**row.value, "n": row.value["n"] + 1}  # type: ignore[union-attr, dict-item]

    threads = [threading.Thread(target=bump) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    wal = Path(engine.url.database + "-wal")
    page = 4096 + 24  # a WAL frame
    # Without restarts the WAL would hold every commit's frames (at least one page each).
    assert wal.stat().st_size < rounds * workers * page / 2
    with session_factory() as session:
        assert session.get(ScenarioMeta, "counter").value["n"] == rounds * workers  # type: ignore[union-attr]
