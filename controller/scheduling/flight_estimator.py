"""`LegEstimator`s over the `flight_plans` package (geofence-aware routes).

`FencedRouteEstimator` takes pad-to-pad routes from `flight_plans.route.plan_routes_between`
(visibility graph over the geofence, all pairs precomputed once) and prices them with the
momentum-theory energy model of `straight_line.polyline_estimate` along the actual polyline.
When `flight_plans.plan_flight` (route + calibrated energy) is available, `PlanFlightEstimator`
uses it instead; `best_available_estimator` picks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controller.scheduling.estimator import LegEstimate, LegEstimator
from controller.scheduling.model import DroneSpec, Pad, Wind
from controller.scheduling.straight_line import Airframe, default_airframe, polyline_estimate

_MEMO_MAX = 50_000  # leg answers kept per estimator (pads^2 x models x payload buckets x winds)


@dataclass(kw_only=True)
class FencedRouteEstimator:
    """Fence-aware routes from `flight_plans`, energy from the built-in multirotor model."""

    geofence: Any  # flight_plans.geofence.Geofence
    pads: dict[str, Pad]
    pad_lat_lon: dict[str, tuple[float, float]]
    to_xy: Any  # callable (lat_deg, lon_deg) -> (x_m, y_m) in the scheduler's frame
    margin_m: float
    altitude_m: float
    airframes: dict[str, Airframe] = field(default_factory=dict)
    _routes: dict[tuple[str, str], Any] = field(default_factory=dict, init=False)

    def _route(self, a: str, b: str) -> Any:
        if not self._routes:
            from flight_plans.route import plan_routes_between

            self._routes = plan_routes_between(self.geofence, self.pad_lat_lon, margin_m=self.margin_m,
                                               altitude_m=self.altitude_m)
        return self._routes[(a, b)]

    def estimate(self, origin_pad: str, dest_pad: str, *, spec: DroneSpec, payload_kg: float, wind: Wind
                 ) -> LegEstimate:
        """Return the fenced route's length (m), duration (s) and energy (Wh), or why it is infeasible."""
        route = self._route(origin_pad, dest_pad)
        if not route.found:
            return LegEstimate(length_m=0.0, duration_s=0.0, energy_wh=0.0, feasible=False,
                               reason=f"no fence-compliant route {origin_pad}->{dest_pad}: {route.reason}")
        path = tuple(self.to_xy(lat, lon) for lat, lon in route.waypoints)
        frame = self.airframes.get(spec.model_id) or default_airframe(spec)
        return polyline_estimate(path, spec=spec, frame=frame, payload_kg=payload_kg, wind=wind,
                                 cruise_alt_m=self.altitude_m)


@dataclass(kw_only=True)
class PlanFlightEstimator:
    """Adapter over `flight_plans.plan_flight` (route and energy from the flight-planning package)."""

    geofence: Any
    pad_lat_lon: dict[str, tuple[float, float]]
    to_xy: Any
    margin_m: float
    altitude_m: float
    reserve_fraction: float
    # plan_flight is a pure function of these inputs and the estimator's fence; callers that keep the
    # estimator (the scheduling service, per fence version) reuse answers across runs. Cleared when
    # full so that a long run of changing forecasts cannot grow it without end.
    _memo: dict[tuple, LegEstimate] = field(default_factory=dict, init=False, repr=False)

    def estimate(self, origin_pad: str, dest_pad: str, *, spec: DroneSpec, payload_kg: float, wind: Wind
                 ) -> LegEstimate:
        """Return `plan_flight`'s length (m), duration (s), energy (Wh) and feasibility for one leg."""
        key = (origin_pad, dest_pad, spec, payload_kg, wind.speed_m_s, wind.from_deg, wind.gust_m_s)
        hit = self._memo.get(key)
        if hit is None:
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()
            hit = self._memo[key] = self._estimate(origin_pad, dest_pad, spec=spec, payload_kg=payload_kg,
                                                   wind=wind)
        return hit

    def _estimate(self, origin_pad: str, dest_pad: str, *, spec: DroneSpec, payload_kg: float, wind: Wind
                  ) -> LegEstimate:
        import flight_plans

        fp_wind = flight_plans.Wind(speed_m_s=wind.speed_m_s, from_deg=wind.from_deg, gust_m_s=wind.gust_m_s)
        plan = flight_plans.plan_flight(
            self.geofence, self.pad_lat_lon[origin_pad], self.pad_lat_lon[dest_pad],
            drone_model=spec.model_id, payload_kg=payload_kg, wind=fp_wind, margin_m=self.margin_m,
            altitude_m=self.altitude_m, reserve=self.reserve_fraction,
        )
        waypoints = getattr(getattr(plan, "route", None), "waypoints", None) or []
        path = tuple(self.to_xy(lat, lon) for lat, lon in waypoints) or None
        # Per-leg feasibility from plan_flight includes its own reserve check on this leg alone; the
        # scheduler re-checks the whole sortie, so only route (fence) problems make a leg infeasible.
        route_ok = bool(getattr(getattr(plan, "route", None), "found", plan.feasible))
        return LegEstimate(length_m=float(plan.length_m or 0.0), duration_s=float(plan.duration_s or 0.0),
                           energy_wh=float(plan.energy_wh or 0.0), feasible=route_ok,
                           reason="" if route_ok else str(plan.reason), path_xy_m=path)


def best_available_estimator(scenario: Any, pads: dict[str, Pad], *, altitude_m: float | None = None
                             ) -> tuple[LegEstimator, str]:
    """Return the best estimator the installed `flight_plans` supports, and a label saying which."""
    import flight_plans
    from flight_plans.geofence import Geofence

    from controller.scheduling.from_scenario import projection_for

    proj = projection_for(scenario)
    geofence = Geofence.from_geojson(scenario.geofence)
    alt = altitude_m if altitude_m is not None else scenario.defaults.cruise_alt_m
    lat_lon = {p.id: (p.lat_deg, p.lon_deg) for p in scenario.pads}
    common = dict(geofence=geofence, pad_lat_lon=lat_lon, to_xy=proj.to_xy, margin_m=scenario.defaults.margin_m,
                  altitude_m=alt)
    if hasattr(flight_plans, "plan_flight") and hasattr(flight_plans, "Wind"):
        return PlanFlightEstimator(reserve_fraction=scenario.defaults.reserve_fraction, **common), "flight_plans.plan_flight"
    return FencedRouteEstimator(pads=pads, **common), "flight_plans.route + built-in energy model"
