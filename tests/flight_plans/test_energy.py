import math

import pytest

from flight_plans import (
    DRONE_MODELS,
    Geofence,
    LimitingFactor,
    UnknownDroneModelError,
    Wind,
    get_drone_model,
    plan_flight,
)
from flight_plans.energy import (
    AIR_DENSITY_KG_M3,
    GRAVITY_M_S2,
    hover_power_w,
    leg_energy,
    level_flight,
)
from flight_plans.mission import DeliveryMode

from .helpers import area, fence, lat_lon


def test_registry_has_the_contracted_models():
    hauler = get_drone_model("island-hauler-5")
    courier = get_drone_model("island-courier-2")
    assert hauler.max_payload_kg == 5.0 and hauler.cruise_speed_m_s == 15.0
    assert hauler.max_wind_m_s == 12.0 and hauler.max_gust_m_s == 15.0
    assert courier.max_payload_kg == 2.5 and courier.cruise_speed_m_s == 12.0 and courier.max_wind_m_s == 10.8
    for m in DRONE_MODELS.values():
        assert m.battery_wh > 0 and 0 < m.usable_fraction <= 1 and m.max_box_volume_l > 0 and m.source
    with pytest.raises(UnknownDroneModelError, match="island-hauler-5"):
        get_drone_model("nope")


def test_hover_power_is_momentum_theory():
    m = get_drone_model("island-courier-2")
    thrust = (m.empty_mass_kg + m.battery_mass_kg + 1.0) * GRAVITY_M_S2
    disk = m.rotor_count * math.pi * m.rotor_diameter_m**2 / 4
    expected = thrust**1.5 / math.sqrt(2 * AIR_DENSITY_KG_M3 * disk) / m.efficiency + m.avionics_power_w
    assert hover_power_w(m, payload_kg=1.0) == pytest.approx(expected, rel=1e-9)


def test_level_flight_balances_weight_and_drag():
    m = get_drone_model("island-hauler-5")
    s = level_flight(m, payload_kg=2.0, airspeed_m_s=15.0)
    weight = (m.empty_mass_kg + m.battery_mass_kg + 2.0) * GRAVITY_M_S2
    assert s.thrust_n * math.cos(math.radians(s.tilt_deg)) == pytest.approx(weight, rel=1e-9)
    # The induced velocity satisfies its momentum equation.
    a = math.radians(s.tilt_deg)
    rhs = s.thrust_n / (
        2
        * AIR_DENSITY_KG_M3
        * m.disk_area_m2
        * math.hypot(15 * math.cos(a), 15 * math.sin(a) + s.induced_velocity_m_s)
    )
    assert s.induced_velocity_m_s == pytest.approx(rhs, rel=1e-6)


def test_headwind_costs_more_than_tailwind_and_payload_costs_more():
    m = get_drone_model("island-courier-2")
    north = Wind(speed_m_s=6, from_deg=0)  # blows towards the south
    head = leg_energy(m, payload_kg=1, length_m=5000, course_deg=0, wind=north)
    tail = leg_energy(m, payload_kg=1, length_m=5000, course_deg=180, wind=north)
    assert head.energy_wh > tail.energy_wh
    assert head.airspeed_m_s == pytest.approx(m.cruise_speed_m_s + 6)
    assert tail.airspeed_m_s == pytest.approx(m.cruise_speed_m_s - 6)
    light = leg_energy(m, payload_kg=0, length_m=5000, course_deg=0, wind=north)
    assert light.energy_wh < head.energy_wh


def test_strong_headwind_slows_the_drone_at_its_tilt_limit():
    m = get_drone_model("island-courier-2")
    leg = leg_energy(m, payload_kg=2.5, length_m=1000, course_deg=90, wind=Wind(speed_m_s=13, from_deg=90))
    assert leg.ground_speed_m_s < m.cruise_speed_m_s
    assert leg.tilt_deg == pytest.approx(m.max_tilt_deg, abs=1e-6)
    assert leg.duration_s == pytest.approx(1000 / leg.ground_speed_m_s)


def _fence():
    return Geofence.from_geojson(fence(area(20_000)))


def test_feasibility_is_energy_against_the_reserved_budget():
    g = _fence()
    start, goal = lat_lon(-4000, 0), lat_lon(4000, 0)
    plan = plan_flight(
        g, start, goal, drone_model="island-courier-2", payload_kg=1.0, margin_m=20, altitude_m=60
    )
    assert plan.feasible and plan.reason is None
    m = plan.drone_model
    assert plan.energy_budget_wh == pytest.approx(0.75 * m.battery_wh * m.usable_fraction)
    assert plan.energy_wh == pytest.approx(sum(p.energy_wh for p in plan.phases))
    assert plan.duration_s > plan.length_m / m.cruise_speed_m_s  # plus climb, hover, descent
    # A reserve that leaves less than this flight's energy makes it infeasible on energy.
    tight = 1 - plan.energy_wh / m.usable_energy_wh + 0.01
    strict = plan_flight(
        g, start, goal, drone_model=m, payload_kg=1.0, margin_m=20, altitude_m=60, reserve=tight
    )
    assert not strict.feasible and strict.limiting_factor is LimitingFactor.ENERGY


def test_round_trip_costs_more_than_one_way_and_limits_are_reported():
    g = _fence()
    start, goal = lat_lon(-4000, 0), lat_lon(4000, 0)
    one_way = plan_flight(g, start, goal, drone_model="island-hauler-5", payload_kg=3.0)
    back = plan_flight(
        g, start, goal, drone_model="island-hauler-5", payload_kg=3.0, delivery=DeliveryMode.PAYLOAD_PLACE
    )
    assert back.energy_wh > one_way.energy_wh and back.total_distance_m == pytest.approx(2 * one_way.length_m)
    windy = plan_flight(g, start, goal, drone_model="island-courier-2", wind=Wind(speed_m_s=11, from_deg=0))
    assert windy.limiting_factor is LimitingFactor.WIND and not windy.feasible
    gusty = plan_flight(
        g, start, goal, drone_model="island-courier-2", wind=Wind(speed_m_s=8, from_deg=0, gust_m_s=14)
    )
    assert gusty.limiting_factor is LimitingFactor.GUST
    heavy = plan_flight(g, start, goal, drone_model="island-courier-2", payload_kg=3.0)
    assert heavy.limiting_factor is LimitingFactor.PAYLOAD
    far = plan_flight(
        g, lat_lon(-19_000, -19_000), lat_lon(19_000, 19_000), drone_model="island-courier-2", payload_kg=2.5
    )
    assert far.limiting_factor is LimitingFactor.ENERGY and "Wh" in far.reason
