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
