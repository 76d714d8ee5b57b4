"""Shared helpers for the reliability tests (controller restarts, instance death, kill -9)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from controller.db.models import SortieTransition

# Re-export the flight fixtures (shengsi database, settings, tokens) for this package.
from tests.operations.conftest import flight_settings, scenario  # noqa: F401


def transitions(factory: sessionmaker[Session], sortie_id: str) -> list[tuple[str, str]]:
    """The sortie's persisted transitions as (to_state, actor), oldest first."""
    with factory() as session:
        rows = session.execute(select(SortieTransition.to_state, SortieTransition.actor)
                               .where(SortieTransition.sortie_id == sortie_id).order_by(SortieTransition.id))
        return [(r.to_state, r.actor) for r in rows]


def count_texts(texts: tuple[str, ...], needle: str) -> int:
    """How many vehicle STATUSTEXTs start with ``needle``."""
    return sum(1 for t in texts if t.startswith(needle))
