"""A seeded stream of incoming parcels in both directions.

Down: e-commerce and pharmacy from the county distribution centre (``caiyuan-dc``) to the township
stations and villages. Up: seafood and farm produce from the islands to the county centre, perishable,
with a due time a few hours after intake.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from controller.domain.parcel_input import ParcelInput
from controller.scenario import Scenario

HUB = "caiyuan-dc"
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ("海波", "敏", "磊", "丽", "洋", "军", "芳", "强", "静", "涛", "渔生", "晓燕")


@dataclass(frozen=True, kw_only=True)
class TrickleRates:
    """Mean arrivals per simulated hour in each direction, and the backlog at the start."""

    down_per_h: float = 10.0
    up_per_h: float = 5.0
    backlog_down: int = 6
    backlog_up: int = 3


class ParcelTrickle:
    """Generate parcels as a Poisson process in simulated time.

    Parameters
    ----------
    scenario: the network (service points give origins and destinations).
    seed: random seed; the same seed and times give the same parcels.
    prefix: parcel id prefix, unique per run so several runs can share one database.
    rates: arrival rates.
    """

    def __init__(self, *, scenario: Scenario, seed: int, prefix: str, rates: TrickleRates = TrickleRates()) -> None:
        self._rng = random.Random(seed)
        self._prefix = prefix
        self._rates = rates
        self._count = 0
        self._points = [p.id for p in scenario.service_points if p.id != HUB]
        self._next: dict[str, datetime] = {}

    def backlog(self, at: datetime) -> list[ParcelInput]:
        """The parcels already waiting when the day starts."""
        return ([self._parcel("down", at) for _ in range(self._rates.backlog_down)]
                + [self._parcel("up", at) for _ in range(self._rates.backlog_up)])

    def due(self, until: datetime) -> list[ParcelInput]:
        """Every parcel arriving after the previous call and up to ``until``, in time order (call :meth:`start` first)."""
        out: list[tuple[datetime, ParcelInput]] = []
        for direction in sorted(self._next):
            at = self._next[direction]
            per_h = self._rates.down_per_h if direction == "down" else self._rates.up_per_h
            while at <= until:
                out.append((at, self._parcel(direction, at)))
                at = at + self._gap(per_h)
            self._next[direction] = at
        return [p for _, p in sorted(out, key=lambda item: item[0])]

    def start(self, at: datetime) -> None:
        """Begin the arrival processes at ``at`` (the first arrivals come one random gap later)."""
        for direction, per_h in (("down", self._rates.down_per_h), ("up", self._rates.up_per_h)):
            if per_h > 0:
                self._next[direction] = at + self._gap(per_h)

    def _gap(self, per_h: float) -> timedelta:
        return timedelta(hours=self._rng.expovariate(per_h))

    def _parcel(self, direction: str, at: datetime) -> ParcelInput:
        self._count += 1
        rng = self._rng
        name = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
        phone = f"138-{rng.randrange(10000):04d}-{rng.randrange(10000):04d}"
        if direction == "down":
            kind = rng.choices(("ecommerce", "pharmacy"), weights=(5, 1))[0]
            origin, destination = HUB, rng.choice(self._points)
            due_at = at + timedelta(hours=2 if kind == "pharmacy" else 8)
            weight = round(rng.uniform(0.3, 3.0), 2)
            size = rng.choice(((20, 15, 10), (30, 20, 12), (35, 25, 15)))
            priority = 1 if kind == "pharmacy" else 2
        else:
            kind = rng.choices(("seafood", "agri"), weights=(3, 1))[0]
            origin, destination = rng.choice(self._points), HUB
            due_at = at + timedelta(hours=rng.choice((3, 4, 5)))
            weight = round(rng.uniform(1.0, 4.0), 2)
            size = rng.choice(((30, 20, 15), (35, 25, 15)))
            priority = 1
        return ParcelInput(id=f"{self._prefix}{self._count:05d}", origin=origin, destination=destination,
                           weight_kg=weight, length_cm=size[0], width_cm=size[1], height_cm=size[2],
                           priority=priority, ready_at=at, due_at=due_at, direction=direction, kind=kind,
                           recipient_name=name, recipient_phone=phone)
