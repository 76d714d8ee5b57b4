"""One call for the scheduler and the controller: route + energy + feasibility (+ mission items).

``plan_flight`` plans the route, prices it with the energy model (payload, wind per leg, climb,
hover at both ends, descent; for round trips also the way back without the payload) and compares
the energy with ``(1 - reserve) × usable battery energy``.
"""

from __future__ import annotations

import enum
import itertools
import math
from dataclasses import dataclass

from flight_plans.energy import (
    CALM,
    MIN_GROUND_SPEED_M_S,
    DroneModel,
    Wind,
    climb_power_w,
    get_drone_model,
    hover_power_w,
    leg_energy,
)
from flight_plans.errors import InvalidParameterError, PayloadError
from flight_plans.geofence import Geofence
from flight_plans.mission import DeliveryMode, FinishAction, build_mission_items
from flight_plans.mission_item import MissionItem
from flight_plans.projection import WGS84_GEOD
from flight_plans.route import DEFAULT_ALTITUDE_M, DEFAULT_MARGIN_M, Route, plan_route

LatLon = tuple[float, float]

DEFAULT_RESERVE = 0.25
#: Hover at each end (s): settling after take-off, waiting for the pad / locker handshake.
DEFAULT_HOVER_S = 30.0


class LimitingFactor(enum.StrEnum):
    """What makes a flight infeasible (the first that applies, in this order). ``HEADWAY``: some leg
    cannot make minimum ground speed against the wind within the tilt limit."""

    NO_ROUTE = "no_route"
    PAYLOAD = "payload"
    WIND = "wind"
    GUST = "gust"
    HEADWAY = "headway"
    ENERGY = "energy"


@dataclass(frozen=True, kw_only=True)
class Phase:
    """One part of the flight: name, horizontal distance (m), time (s), energy (Wh), payload (kg)."""

    name: str
    distance_m: float
    duration_s: float
    energy_wh: float
    payload_kg: float


@dataclass(frozen=True, kw_only=True)
class FlightPlan:
    """A planned delivery flight and its feasibility.

    Attributes
    ----------
    route: the outbound route (``route.found`` False when none exists).
    length_m: geodesic length of the outbound route (m); ``total_distance_m`` includes the way back
        for round trips. ``None``/0 when there is no route.
    energy_wh, duration_s: for the whole flight (round trip included); ``None`` without a route.
    energy_budget_wh: ``(1 - reserve) × battery_wh × usable_fraction``.
    feasible: a route exists, the payload and the wind are within limits, the drone makes headway
        on every leg within its tilt limit, and the energy fits the budget.
    max_tilt_deg: the largest cruise tilt (deg) over all legs.
    limiting_factor, reason: why not feasible (``None`` when feasible).
    phases: the energy breakdown.
    """

    route: Route
    drone_model: DroneModel
    payload_kg: float
    wind: Wind
    margin_m: float
    altitude_m: float
    reserve: float
    hover_s: float
    delivery: DeliveryMode
    energy_budget_wh: float
    energy_wh: float | None
    duration_s: float | None
    length_m: float | None
    total_distance_m: float
    feasible: bool
    limiting_factor: LimitingFactor | None
    reason: str | None
    max_tilt_deg: float | None
    phases: tuple[Phase, ...]

    def mission_items(
        self, *, home_alt_amsl_m: float = 0.0, finish: FinishAction = FinishAction.LAND, **kwargs
    ) -> list[MissionItem]:
        """Return the MISSION items for this plan (see :func:`flight_plans.mission.build_mission_items`)."""
        return build_mission_items(
            self.route, delivery=self.delivery, home_alt_amsl_m=home_alt_amsl_m, finish=finish, **kwargs
        )


def plan_flight(
    geofence: Geofence,
    start: LatLon,
    goal: LatLon,
    *,
    drone_model: DroneModel | str,
    payload_kg: float = 0.0,
    wind: Wind = CALM,
    margin_m: float = DEFAULT_MARGIN_M,
    altitude_m: float = DEFAULT_ALTITUDE_M,
    reserve: float = DEFAULT_RESERVE,
    hover_s: float = DEFAULT_HOVER_S,
    delivery: DeliveryMode = DeliveryMode.LAND,
) -> FlightPlan:
    """Plan a delivery flight from ``start`` to ``goal`` and decide whether it is feasible.

    Parameters
    ----------
    geofence: operating area and no-fly zones.
    start, goal: (lat_deg, lon_deg) WGS84.
    drone_model: a :class:`DroneModel` or its registered id.
    payload_kg: parcel mass (kg) carried out (not back).
    wind: mean wind (and gust) at cruise altitude.
    margin_m, altitude_m: as :func:`flight_plans.route.plan_route`.
    reserve: fraction (0 ≤ reserve < 1) of usable energy kept in reserve (default 25 %).
    hover_s: hover time (s) at each end (and at the destination again on round trips).
    delivery: land at the destination (one way) or payload place / gripper release and return.

    Raises
    ------
    UnknownDroneModelError, PayloadError (negative payload), InvalidParameterError (reserve, hover),
    and the errors of :func:`plan_route` for bad coordinates or altitude. An infeasible or
    impossible flight is a result, not an error.
    """
    model = get_drone_model(drone_model) if isinstance(drone_model, str) else drone_model
    if not (math.isfinite(payload_kg) and payload_kg >= 0):
        raise PayloadError(payload_kg, max_payload_kg=model.max_payload_kg, model_id=model.id)
    if not (0 <= reserve < 1):
        raise InvalidParameterError("reserve", reserve, expected="0 <= reserve < 1")
    if not (math.isfinite(hover_s) and hover_s >= 0):
        raise InvalidParameterError("hover_s", hover_s, expected="a duration >= 0 s")
    route = plan_route(geofence, start, goal, margin_m=margin_m, altitude_m=altitude_m)
    budget_wh = (1 - reserve) * model.usable_energy_wh
    common = {
        "route": route,
        "drone_model": model,
        "payload_kg": payload_kg,
        "wind": wind,
        "margin_m": margin_m,
        "altitude_m": altitude_m,
        "reserve": reserve,
        "hover_s": hover_s,
        "delivery": delivery,
        "energy_budget_wh": budget_wh,
    }
    if not route.found:
        return FlightPlan(
            energy_wh=None,
            duration_s=None,
            length_m=None,
            total_distance_m=0.0,
            feasible=False,
            limiting_factor=LimitingFactor.NO_ROUTE,
            reason=route.reason,
            max_tilt_deg=None,
            phases=(),
            **common,
        )
    phases, max_tilt, headway = _phases(
        model, route, payload_kg=payload_kg, wind=wind, hover_s=hover_s, delivery=delivery
    )
    energy_wh = sum(p.energy_wh for p in phases)
    duration_s = sum(p.duration_s for p in phases)
    total_m = sum(p.distance_m for p in phases)
    factor, reason = _limit(
        model,
        payload_kg=payload_kg,
        wind=wind,
        headway=headway,
        energy_wh=energy_wh,
        budget_wh=budget_wh,
        reserve=reserve,
    )
    return FlightPlan(
        energy_wh=energy_wh,
        duration_s=duration_s,
        length_m=route.length_m,
        total_distance_m=total_m,
        feasible=factor is None,
        limiting_factor=factor,
        reason=reason,
        max_tilt_deg=max_tilt,
        phases=tuple(phases),
        **common,
    )


def _phases(
    model: DroneModel, route: Route, *, payload_kg: float, wind: Wind, hover_s: float, delivery: DeliveryMode
) -> tuple[list[Phase], float, bool]:
    alt_m = route.altitude_m
    climb_s = alt_m / model.climb_speed_m_s
    descent_s = alt_m / model.descent_speed_m_s
    max_tilt = 0.0
    headway = True

    def vertical(name: str, load_kg: float) -> list[Phase]:
        climb = Phase(
            name=f"{name}: climb",
            distance_m=0.0,
            duration_s=climb_s,
            payload_kg=load_kg,
            energy_wh=climb_power_w(model, payload_kg=load_kg) * climb_s / 3600,
        )
        hover = Phase(
            name=f"{name}: hover",
            distance_m=0.0,
            duration_s=hover_s,
            payload_kg=load_kg,
            energy_wh=hover_power_w(model, payload_kg=load_kg) * hover_s / 3600,
        )
        return [climb, hover]

    def descend(name: str, load_kg: float) -> list[Phase]:
        hover_w = hover_power_w(model, payload_kg=load_kg)
        return [
            Phase(
                name=f"{name}: hover",
                distance_m=0.0,
                duration_s=hover_s,
                payload_kg=load_kg,
                energy_wh=hover_w * hover_s / 3600,
            ),
            Phase(
                name=f"{name}: descent",
                distance_m=0.0,
                duration_s=descent_s,
                payload_kg=load_kg,
                energy_wh=hover_w * descent_s / 3600,
            ),
        ]

    def cruise(name: str, waypoints: list[LatLon], load_kg: float) -> Phase:
        nonlocal max_tilt, headway
        dist = dur = energy = 0.0
        for (lat1, lon1), (lat2, lon2) in itertools.pairwise(waypoints):
            course_deg, _, length_m = WGS84_GEOD.inv(lon1, lat1, lon2, lat2)
            leg = leg_energy(model, payload_kg=load_kg, length_m=length_m, course_deg=course_deg, wind=wind)
            dist += leg.length_m
            dur += leg.duration_s
            energy += leg.energy_wh
            max_tilt = max(max_tilt, leg.tilt_deg)
            headway &= leg.headway
        return Phase(
            name=f"{name}: cruise", distance_m=dist, duration_s=dur, energy_wh=energy, payload_kg=load_kg
        )

    phases = vertical("start", payload_kg)
    phases.append(cruise("outbound", route.waypoints, payload_kg))
    phases += descend("destination", payload_kg)
    if delivery is not DeliveryMode.LAND:
        # The parcel stays at the destination: climb and fly back empty.
        phases += vertical("destination", 0.0)
        phases.append(cruise("return", list(reversed(route.waypoints)), 0.0))
        phases += descend("start", 0.0)
    return phases, max_tilt, headway


def _limit(
    model: DroneModel,
    *,
    payload_kg: float,
    wind: Wind,
    headway: bool,
    energy_wh: float,
    budget_wh: float,
    reserve: float,
) -> tuple[LimitingFactor | None, str | None]:
    if payload_kg > model.max_payload_kg:
        return (
            LimitingFactor.PAYLOAD,
            f"payload {payload_kg:g} kg exceeds {model.id}'s maximum {model.max_payload_kg:g} kg",
        )
    if wind.speed_m_s > model.max_wind_m_s:
        return (
            LimitingFactor.WIND,
            f"wind {wind.speed_m_s:g} m/s exceeds {model.id}'s limit {model.max_wind_m_s:g} m/s",
        )
    if wind.peak_m_s > model.max_gust_m_s:
        return (
            LimitingFactor.GUST,
            f"gusts {wind.peak_m_s:g} m/s exceed {model.id}'s limit {model.max_gust_m_s:g} m/s",
        )
    if not headway:
        return LimitingFactor.HEADWAY, (
            f"{model.id} cannot make {MIN_GROUND_SPEED_M_S:g} m/s over the ground against this wind"
            f" within its {model.max_tilt_deg:g}° tilt limit"
        )
    if energy_wh > budget_wh:
        return LimitingFactor.ENERGY, (
            f"needs {energy_wh:.0f} Wh but only {budget_wh:.0f} Wh may be used"
            f" ({reserve:.0%} reserve of {model.usable_energy_wh:.0f} Wh usable)"
        )
    return None, None
