"""Multirotor energy model and the drone model registry.

Model (Stolaroff et al., "Energy use and life cycle greenhouse gas emissions of drones for commercial
package delivery", Nature Communications 9:409, 2018, supplementary eqs. for a multirotor in steady
level flight; momentum theory for the rotors):

* airspeed vector = ground velocity − wind velocity; ``V`` its magnitude (m/s)
* drag ``D = ½ ρ V² Σ C_d·A`` over body, battery and (when carried) the package box (N)
* thrust balances weight and drag: ``T = √((m g)² + D²)``; tilt ``α = atan(D / (m g))``
* induced velocity ``v_i = T / (2 ρ A √((V cos α)² + (V sin α + v_i)²))``, ``A`` total disk area
* electrical power ``P = T (V sin α + v_i) / η + P_avionics`` (W); hover (``V = 0``) reduces to
  ``T^1.5 / √(2 ρ A) / η``
* vertical climb at ``v_c``: ``P = T (v_c + v_i) / η`` with ``v_i = −v_c/2 + √((v_c/2)² + v_h²)``;
  descent is charged at hover power (momentum theory is not valid in the vortex-ring state, and
  hover power is an upper bound for a slow descent).

ArduCopter's waypoint controller holds ground speed (WPNAV_SPEED), so headwind shows up as higher
airspeed, drag and tilt. It cannot lean further than ANGLE_MAX, so against a strong headwind it flies
slower over the ground: the model caps the ground speed where the tilt reaches ``max_tilt_deg``. Published models disagree widely
(Zhang et al., Transp. Res. D 2021): treat results as estimates and keep the reserve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flight_plans.errors import InvalidParameterError, UnknownDroneModelError

GRAVITY_M_S2 = 9.80665
#: ISA sea-level air density; the islands are at sea level and flights stay below 120 m.
AIR_DENSITY_KG_M3 = 1.225


@dataclass(frozen=True, kw_only=True)
class DroneModel:
    """A drone type's mass, battery, limits and aerodynamic parameters (SI units in the names).

    ``usable_fraction`` is the share of nominal battery energy that can be drawn before the critical
    battery failsafe (LiPo/Li-ion are not run to 0 %). ``cruise_speed_m_s`` is the ground speed the
    mission flies (WPNAV_SPEED). ``max_tilt_deg`` is ANGLE_MAX: above it the drone cannot hold its
    ground speed against the wind. Drag is ``C_d × area`` per part.
    """

    id: str
    name: str
    empty_mass_kg: float
    battery_mass_kg: float
    max_payload_kg: float
    battery_wh: float
    usable_fraction: float
    cruise_speed_m_s: float
    climb_speed_m_s: float
    descent_speed_m_s: float
    max_wind_m_s: float
    max_gust_m_s: float
    max_box_volume_l: float
    rotor_count: int
    rotor_diameter_m: float
    efficiency: float
    body_drag_coefficient: float
    body_area_m2: float
    battery_drag_coefficient: float
    battery_area_m2: float
    package_drag_coefficient: float
    package_area_m2: float
    avionics_power_w: float
    max_tilt_deg: float
    source: str

    @property
    def usable_energy_wh(self) -> float:
        """Energy (Wh) that may be drawn from a full battery: ``battery_wh × usable_fraction``."""
        return self.battery_wh * self.usable_fraction

    @property
    def disk_area_m2(self) -> float:
        """Total rotor disk area in m²."""
        return self.rotor_count * math.pi * self.rotor_diameter_m**2 / 4


_ASSUMPTIONS = (
    "Illustrative parameters, not a manufacturer's data sheet. Drag coefficients and areas of body,"
    " battery and package box (1.49 / 1.0 / 2.2) and η = 0.7 follow the example parameters used with"
    " the Stolaroff et al. 2018 model; frontal areas are scaled to these airframes and box sizes (the"
    " example's 0.224 m² body would make a 7 kg quad lean past 45° at 20 m/s airspeed); masses and battery sized from typical heavy-lift"
    " Li-ion packs (~200 Wh/kg); wind limits from practice for delivery drones (Meituan flies in"
    " Beaufort 6, 10.8–13.8 m/s). Calibrate against flight logs before relying on absolute numbers."
)

DRONE_MODELS: dict[str, DroneModel] = {
    m.id: m
    for m in (
        DroneModel(
            id="island-hauler-5",
            name="Island Hauler 5 (heavy quad, 5 kg payload)",
            empty_mass_kg=11.0,
            battery_mass_kg=9.0,
            max_payload_kg=5.0,
            battery_wh=1800.0,
            usable_fraction=0.9,
            cruise_speed_m_s=15.0,
            climb_speed_m_s=2.5,
            descent_speed_m_s=1.5,
            max_wind_m_s=12.0,
            max_gust_m_s=15.0,
            max_box_volume_l=40.0,
            rotor_count=4,
            rotor_diameter_m=0.81,
            efficiency=0.7,
            body_drag_coefficient=1.49,
            body_area_m2=0.12,
            battery_drag_coefficient=1.0,
            battery_area_m2=0.03,
            package_drag_coefficient=2.2,
            package_area_m2=0.09,
            avionics_power_w=25.0,
            max_tilt_deg=30.0,
            source=_ASSUMPTIONS,
        ),
        DroneModel(
            id="island-courier-2",
            name="Island Courier 2 (light quad, 2.5 kg payload)",
            empty_mass_kg=4.2,
            battery_mass_kg=2.7,
            max_payload_kg=2.5,
            battery_wh=540.0,
            usable_fraction=0.9,
            cruise_speed_m_s=12.0,
            climb_speed_m_s=2.5,
            descent_speed_m_s=1.5,
            max_wind_m_s=10.8,
            max_gust_m_s=13.8,
            max_box_volume_l=12.0,
            rotor_count=4,
            rotor_diameter_m=0.56,
            efficiency=0.7,
            body_drag_coefficient=1.49,
            body_area_m2=0.06,
            battery_drag_coefficient=1.0,
            battery_area_m2=0.015,
            package_drag_coefficient=2.2,
            package_area_m2=0.04,
            avionics_power_w=15.0,
            max_tilt_deg=30.0,
            source=_ASSUMPTIONS,
        ),
    )
}


def get_drone_model(model_id: str) -> DroneModel:
    """Return the registered drone model ``model_id``.

    Raises
    ------
    UnknownDroneModelError: no model has that id (the error lists the known ids).
    """
    try:
        return DRONE_MODELS[model_id]
    except KeyError:
        raise UnknownDroneModelError(model_id, list(DRONE_MODELS)) from None


@dataclass(frozen=True, kw_only=True)
class Wind:
    """Wind: mean speed (m/s), meteorological direction it blows *from* (degrees, 0 = north, 90 = east)
    and optional gust speed (m/s)."""

    speed_m_s: float
    from_deg: float
    gust_m_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("speed_m_s", "from_deg"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise InvalidParameterError(name, value, expected="a finite number")
        if self.speed_m_s < 0:
            raise InvalidParameterError("speed_m_s", self.speed_m_s, expected=">= 0 m/s")
        if self.gust_m_s is not None and not (math.isfinite(self.gust_m_s) and self.gust_m_s >= 0):
            raise InvalidParameterError("gust_m_s", self.gust_m_s, expected=">= 0 m/s or None")

    @property
    def peak_m_s(self) -> float:
        """The gust speed if given, else the mean speed (m/s)."""
        return self.speed_m_s if self.gust_m_s is None else max(self.gust_m_s, self.speed_m_s)

    def velocity_en_m_s(self) -> tuple[float, float]:
        """Return the air's velocity (east, north) in m/s: it blows *towards* ``from_deg + 180``."""
        to_rad = math.radians(self.from_deg + 180.0)
        return self.speed_m_s * math.sin(to_rad), self.speed_m_s * math.cos(to_rad)


CALM = Wind(speed_m_s=0.0, from_deg=0.0)


def total_mass_kg(model: DroneModel, payload_kg: float) -> float:
    """Return take-off mass (kg): airframe + battery + payload."""
    return model.empty_mass_kg + model.battery_mass_kg + payload_kg


def _drag_area_m2(model: DroneModel, payload_kg: float) -> float:
    area = (
        model.body_drag_coefficient * model.body_area_m2
        + model.battery_drag_coefficient * model.battery_area_m2
    )
    if payload_kg > 0:
        area += model.package_drag_coefficient * model.package_area_m2
    return area


@dataclass(frozen=True, kw_only=True)
class FlightState:
    """Steady level flight at one airspeed: thrust (N), tilt (deg), induced velocity (m/s), power (W)."""

    airspeed_m_s: float
    thrust_n: float
    tilt_deg: float
    induced_velocity_m_s: float
    power_w: float


def level_flight(model: DroneModel, *, payload_kg: float, airspeed_m_s: float) -> FlightState:
    """Return the steady level-flight state at ``airspeed_m_s`` (m/s) carrying ``payload_kg`` (kg)."""
    rho = AIR_DENSITY_KG_M3
    weight_n = total_mass_kg(model, payload_kg) * GRAVITY_M_S2
    drag_n = 0.5 * rho * airspeed_m_s**2 * _drag_area_m2(model, payload_kg)
    thrust_n = math.hypot(weight_n, drag_n)
    tilt = math.atan2(drag_n, weight_n)
    area = model.disk_area_m2
    v_axial = airspeed_m_s * math.sin(tilt)
    v_edge = airspeed_m_s * math.cos(tilt)

    def residual(v_i: float) -> float:
        return v_i - thrust_n / (2 * rho * area * math.hypot(v_edge, v_axial + v_i))

    # residual is increasing in v_i, negative at 0 and positive at the hover value (an upper bound).
    lo, hi = 0.0, math.sqrt(thrust_n / (2 * rho * area)) + 1e-9
    for _ in range(80):
        mid = (lo + hi) / 2
        if residual(mid) < 0:
            lo = mid
        else:
            hi = mid
    v_i = (lo + hi) / 2
    power_w = thrust_n * (v_axial + v_i) / model.efficiency + model.avionics_power_w
    return FlightState(
        airspeed_m_s=airspeed_m_s,
        thrust_n=thrust_n,
        tilt_deg=math.degrees(tilt),
        induced_velocity_m_s=v_i,
        power_w=power_w,
    )


def hover_power_w(model: DroneModel, *, payload_kg: float) -> float:
    """Return hover power (W): ``T^1.5 / √(2 ρ A) / η`` plus avionics."""
    return level_flight(model, payload_kg=payload_kg, airspeed_m_s=0.0).power_w


def climb_power_w(model: DroneModel, *, payload_kg: float) -> float:
    """Return power (W) for a vertical climb at ``model.climb_speed_m_s`` (axial momentum theory)."""
    rho = AIR_DENSITY_KG_M3
    thrust_n = total_mass_kg(model, payload_kg) * GRAVITY_M_S2
    v_h = math.sqrt(thrust_n / (2 * rho * model.disk_area_m2))
    v_c = model.climb_speed_m_s
    v_i = -v_c / 2 + math.sqrt((v_c / 2) ** 2 + v_h**2)
    return thrust_n * (v_c + v_i) / model.efficiency + model.avionics_power_w


#: Below this ground speed (m/s) a leg counts as "cannot make headway".
MIN_GROUND_SPEED_M_S = 2.0


def max_airspeed_m_s(model: DroneModel, *, payload_kg: float) -> float:
    """Return the airspeed (m/s) at which drag needs the full tilt ``max_tilt_deg``: ``D = m g tan α``."""
    weight_n = total_mass_kg(model, payload_kg) * GRAVITY_M_S2
    drag_per_v2 = 0.5 * AIR_DENSITY_KG_M3 * _drag_area_m2(model, payload_kg)
    return math.sqrt(weight_n * math.tan(math.radians(model.max_tilt_deg)) / drag_per_v2)


def achievable_ground_speed_m_s(
    model: DroneModel, *, payload_kg: float, course_deg: float, wind: Wind
) -> float:
    """Return the ground speed (m/s) flown on ``course_deg``: the cruise speed, or less where the
    airspeed needed would exceed :func:`max_airspeed_m_s` (0 when the drone cannot hold the track).

    With ground speed ``g`` along unit vector ``u`` and wind velocity ``w`` the airspeed is
    ``|g u − w|``; solving ``|g u − w| = V_max`` gives ``g = u·w + √((u·w)² − |w|² + V_max²)``.
    """
    course = math.radians(course_deg)
    wind_e, wind_n = wind.velocity_en_m_s()
    along = math.sin(course) * wind_e + math.cos(course) * wind_n
    disc = along**2 - (wind_e**2 + wind_n**2) + max_airspeed_m_s(model, payload_kg=payload_kg) ** 2
    if disc < 0:
        return 0.0
    return max(0.0, min(model.cruise_speed_m_s, along + math.sqrt(disc)))


@dataclass(frozen=True, kw_only=True)
class LegEnergy:
    """Energy for one straight cruise leg: length (m), course (deg), ground speed (m/s), time (s),
    energy (Wh), airspeed (m/s) and tilt (deg). ``headway`` is False when the drone cannot make
    :data:`MIN_GROUND_SPEED_M_S` against the wind (time and energy are then infinite)."""

    length_m: float
    course_deg: float
    ground_speed_m_s: float
    duration_s: float
    energy_wh: float
    airspeed_m_s: float
    tilt_deg: float
    headway: bool


def leg_energy(
    model: DroneModel, *, payload_kg: float, length_m: float, course_deg: float, wind: Wind
) -> LegEnergy:
    """Return the energy to fly ``length_m`` metres on ``course_deg`` (true, clockwise from north).

    The drone holds ``model.cruise_speed_m_s`` over the ground when its tilt limit allows, else the
    :func:`achievable_ground_speed_m_s`; its airspeed is the ground velocity minus the wind velocity.
    """
    ground = achievable_ground_speed_m_s(model, payload_kg=payload_kg, course_deg=course_deg, wind=wind)
    if ground < MIN_GROUND_SPEED_M_S:
        return LegEnergy(
            length_m=length_m,
            course_deg=course_deg,
            ground_speed_m_s=ground,
            duration_s=math.inf,
            energy_wh=math.inf,
            airspeed_m_s=max_airspeed_m_s(model, payload_kg=payload_kg),
            tilt_deg=model.max_tilt_deg,
            headway=False,
        )
    course = math.radians(course_deg)
    wind_e, wind_n = wind.velocity_en_m_s()
    air_e = ground * math.sin(course) - wind_e
    air_n = ground * math.cos(course) - wind_n
    state = level_flight(model, payload_kg=payload_kg, airspeed_m_s=math.hypot(air_e, air_n))
    duration_s = length_m / ground
    return LegEnergy(
        length_m=length_m,
        course_deg=course_deg,
        ground_speed_m_s=ground,
        duration_s=duration_s,
        energy_wh=state.power_w * duration_s / 3600.0,
        airspeed_m_s=state.airspeed_m_s,
        tilt_deg=state.tilt_deg,
        headway=True,
    )
