"""A tiny explicit transition table shared by every stateful domain object."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from controller.domain.errors import InvalidTransition

S = TypeVar("S", bound=enum.Enum)


@dataclass(frozen=True)
class TransitionTable(Generic[S]):
    """Which states may follow which; anything not listed is illegal."""

    kind: str
    allowed: Mapping[S, frozenset[S]]

    @classmethod
    def build(cls, kind: str, table: Mapping[S, Iterable[S]]) -> "TransitionTable[S]":
        return cls(kind=kind, allowed={state: frozenset(nexts) for state, nexts in table.items()})

    def can(self, from_state: S, to_state: S) -> bool:
        """True when ``from_state -> to_state`` is in the table."""
        return to_state in self.allowed.get(from_state, frozenset())

    def check(self, object_id: str, from_state: S, to_state: S) -> None:
        """Raise :class:`InvalidTransition` unless the transition is allowed."""
        if not self.can(from_state, to_state):
            raise InvalidTransition(self.kind, object_id, from_state.value, to_state.value)

    def terminal_states(self) -> frozenset[S]:
        """States with no way out."""
        return frozenset(state for state, nexts in self.allowed.items() if not nexts)
