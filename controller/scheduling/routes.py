"""Evaluate multi-stop drone routes: per-leg payload, energy, and arrival offsets.

A sortie loads everything at its origin pad and drops parcels at its stops in order, so the payload
on leg k is the total minus what was dropped before it. Leg energies come from `LegMatrix`'s affine
model (conservative, see `estimator.py`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from controller.scheduling.estimator import LegCost, LegMatrix
from controller.scheduling.model import DroneSpec, Wind


@dataclass(frozen=True, kw_only=True, slots=True)
class RouteEval:
    """A route's evaluation: energy (Wh), duration (s) and arrival offset at each stop (s)."""

    stops: tuple[str, ...]
    feasible: bool
    reason: str
    energy_wh: float
    duration_s: float
    arrival_offsets_s: tuple[float, ...]
    leg_payloads_kg: tuple[float, ...]
    legs: tuple[LegCost, ...]


class RouteEvaluator:
    """Evaluate and order routes for one drone model under a set of winds (worst case over them)."""

    def __init__(
        self, matrix: LegMatrix, spec: DroneSpec, winds: list[Wind], *, stop_service_s: float
    ) -> None:
        self.matrix = matrix
        self.spec = spec
        self.winds = winds
        self.stop_service_s = stop_service_s
        self._cache: dict[tuple[str, str], LegCost] = {}

    def leg(self, a: str, b: str) -> LegCost:
        """Return the worst-case leg model a -> b (cached per evaluator)."""
        key = (a, b)
        hit = self._cache.get(key)
        if hit is None:
            hit = self.matrix.worst_leg(a, b, self.spec, self.winds)
            self._cache[key] = hit
        return hit

    def evaluate(self, origin: str, stops: tuple[str, ...], drop_kg: dict[str, float]) -> RouteEval:
        """Evaluate `origin` -> stops in order, dropping `drop_kg[stop]` at each stop."""
        payload = sum(drop_kg[s] for s in stops)
        energy = 0.0
        t = 0.0
        offsets: list[float] = []
        payloads: list[float] = []
        legs: list[LegCost] = []
        here = origin
        for i, stop in enumerate(stops):
            leg = self.leg(here, stop)
            if not leg.feasible:
                return RouteEval(
                    stops=stops, feasible=False, reason=leg.reason or f"leg {here}->{stop} infeasible",
                    energy_wh=float("inf"), duration_s=float("inf"), arrival_offsets_s=(),
                    leg_payloads_kg=(), legs=(),
                )
            if i > 0:
                t += self.stop_service_s
            t += leg.duration_s
            energy += leg.energy_wh(payload)
            offsets.append(t)
            payloads.append(payload)
            legs.append(leg)
            payload -= drop_kg[stop]
            here = stop
        return RouteEval(
            stops=stops, feasible=True, reason="", energy_wh=energy, duration_s=t,
            arrival_offsets_s=tuple(offsets), leg_payloads_kg=tuple(payloads), legs=tuple(legs),
        )

    def best_order(self, origin: str, drop_kg: dict[str, float]) -> RouteEval:
        """Return the least-energy stop order (exhaustive: at most `max_stops`! orders)."""
        best: RouteEval | None = None
        for order in itertools.permutations(sorted(drop_kg)):
            ev = self.evaluate(origin, order, drop_kg)
            if ev.feasible and (best is None or ev.energy_wh < best.energy_wh - 1e-9):
                best = ev
        if best is None:
            return self.evaluate(origin, tuple(sorted(drop_kg)), drop_kg)
        return best
