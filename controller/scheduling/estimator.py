"""Leg estimates: the only way the scheduler learns about routes, fences and energy.

The scheduler depends on the `LegEstimator` protocol, not on `flight_plans`; the real adapter lives
in `flight_estimator.py`. `LegMatrix` caches estimates by (pad pair, model, payload bucket, wind)
and derives an affine energy model per leg from three calls (empty, lightest bucket, full). Multirotor
energy is convex in payload (hover power grows like thrust^1.5), so the secant through the lightest
loaded bucket and full payload over-estimates energy in between (the empty flight is priced apart): packing decisions made with it are on the safe side, and
the affine form keeps the exact CP-SAT reference model linear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from controller.scheduling.model import DroneSpec, Wind


@dataclass(frozen=True, kw_only=True, slots=True)
class LegEstimate:
    """Estimate for one pad-to-pad flight at a given payload and wind.

    `path_xy_m` is the flown polyline in the scheduler's local CRS (m), pads included; None means a
    straight line between the pads.
    """

    length_m: float
    duration_s: float
    energy_wh: float
    feasible: bool
    reason: str = ""
    path_xy_m: tuple[tuple[float, float], ...] | None = None


class LegEstimator(Protocol):
    """Estimate pad-to-pad flights (geofence-aware route, duration, energy)."""

    def estimate(
        self, origin_pad: str, dest_pad: str, *, spec: DroneSpec, payload_kg: float, wind: Wind
    ) -> LegEstimate:
        """Return the estimate of flying `origin_pad` -> `dest_pad` with `payload_kg` in `wind`."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class LegCost:
    """Per-leg planning data: duration, affine energy E(p) = base + per_kg * p (Wh), geometry."""

    from_pad: str
    to_pad: str
    feasible: bool
    reason: str
    length_m: float
    duration_s: float
    energy_base_wh: float
    energy_per_kg_wh: float
    path_xy_m: tuple[tuple[float, float], ...] | None
    energy_empty_wh: float = 0.0  # with no box aboard (energy may jump when a box is carried)
    min_loaded_kg: float = 0.0  # smallest payload bucket; lighter loads are priced as this

    def energy_wh(self, payload_kg: float) -> float:
        """Return the (conservative) energy for this leg at `payload_kg` (Wh)."""
        if payload_kg <= 0.0:
            return self.energy_empty_wh
        return self.energy_base_wh + self.energy_per_kg_wh * max(payload_kg, self.min_loaded_kg)


def wind_key(wind: Wind) -> tuple[float, float, float]:
    """Return a cache key for a wind: speed to 0.5 m/s, direction to 10 deg, gust to 0.5 m/s."""
    return (
        round(wind.speed_m_s * 2) / 2,
        (round(wind.from_deg / 10) * 10) % 360,
        round((wind.gust_m_s if wind.gust_m_s is not None else -1.0) * 2) / 2,
    )


class LegMatrix:
    """Cache of leg estimates keyed by (pad pair, model, payload bucket, wind)."""

    def __init__(self, estimator: LegEstimator, *, payload_bucket_kg: float = 0.25) -> None:
        self._estimator = estimator
        self._bucket_kg = payload_bucket_kg
        self._raw: dict[tuple, LegEstimate] = {}
        self._legs: dict[tuple, LegCost] = {}
        self.estimator_calls = 0

    def _bucket(self, payload_kg: float) -> float:
        # Round up: energy grows with payload, so the cached estimate is never optimistic.
        return math.ceil(payload_kg / self._bucket_kg - 1e-9) * self._bucket_kg

    def raw(self, a: str, b: str, spec: DroneSpec, payload_kg: float, wind: Wind) -> LegEstimate:
        """Return the estimator's answer at the payload bucket at or above `payload_kg`."""
        bucket = self._bucket(max(0.0, payload_kg))
        key = (a, b, spec.model_id, bucket, wind_key(wind))
        hit = self._raw.get(key)
        if hit is None:
            self.estimator_calls += 1
            hit = self._estimator.estimate(a, b, spec=spec, payload_kg=bucket, wind=wind)
            self._raw[key] = hit
        return hit

    def leg(self, a: str, b: str, spec: DroneSpec, wind: Wind) -> LegCost:
        """Return the affine leg model for `spec` in `wind` (two estimator calls, cached)."""
        key = (a, b, spec.model_id, wind_key(wind))
        hit = self._legs.get(key)
        if hit is not None:
            return hit
        # Secant between the lightest loaded bucket and full payload; the empty flight is separate
        # because carrying any box adds its drag (flight_plans' model jumps between 0 and 0+).
        empty = self.raw(a, b, spec, 0.0, wind)
        light_kg = min(self._bucket_kg, spec.max_payload_kg)
        light = self.raw(a, b, spec, light_kg, wind)
        full_kg = self._bucket(spec.max_payload_kg)
        full = self.raw(a, b, spec, spec.max_payload_kg, wind)
        feasible = empty.feasible and full.feasible and light.feasible
        reason = empty.reason or light.reason or full.reason
        per_kg = 0.0
        if full_kg > light_kg:
            per_kg = max(0.0, (full.energy_wh - light.energy_wh) / (full_kg - light_kg))
        hit = LegCost(
            from_pad=a,
            to_pad=b,
            feasible=feasible,
            reason=reason,
            length_m=empty.length_m,
            duration_s=max(empty.duration_s, full.duration_s),
            energy_base_wh=light.energy_wh - per_kg * light_kg,
            energy_per_kg_wh=per_kg,
            path_xy_m=empty.path_xy_m,
            energy_empty_wh=empty.energy_wh,
            min_loaded_kg=light_kg,
        )
        self._legs[key] = hit
        return hit

    def worst_leg(self, a: str, b: str, spec: DroneSpec, winds: list[Wind]) -> LegCost:
        """Return the leg model that is worst over `winds` (max duration and energy; any infeasible)."""
        legs = [self.leg(a, b, spec, w) for w in winds]
        if len(legs) == 1:
            return legs[0]
        bad = [leg for leg in legs if not leg.feasible]
        if bad:
            return bad[0]
        return LegCost(
            from_pad=a,
            to_pad=b,
            feasible=True,
            reason="",
            length_m=max(leg.length_m for leg in legs),
            duration_s=max(leg.duration_s for leg in legs),
            energy_base_wh=max(leg.energy_base_wh for leg in legs),
            energy_per_kg_wh=max(leg.energy_per_kg_wh for leg in legs),
            path_xy_m=max(legs, key=lambda leg: leg.length_m).path_xy_m,
            energy_empty_wh=max(leg.energy_empty_wh for leg in legs),
            min_loaded_kg=legs[0].min_loaded_kg,
        )
