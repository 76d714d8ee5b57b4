"""Build a `SchedulingProblem` from a loaded `controller.scenario.Scenario`.

Keeps the core independent of the scenario schema: pads are projected once to a local transverse
Mercator frame (`flight_plans.projection.LocalProjection`, metres), timetables ("HH:MM" local) are
expanded into concrete UTC departures over the horizon, and bus stops get offsets spread evenly over
the trip time (the scenario gives no per-stop times).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from controller.scenario import Scenario
from controller.scheduling.model import (
    DroneSpec,
    DroneState,
    Pad,
    Parcel,
    SchedulerConfig,
    SchedulingProblem,
    SurfaceCall,
    SurfaceLine,
    WindForecast,
)
from flight_plans.projection import LocalProjection

# Used only when `flight_plans.energy` (the model catalogue) is not importable; placeholders with
# the catalogue's field names, sized like the model ids say (5 kg and 2 kg payload).
FALLBACK_DRONE_SPECS: dict[str, DroneSpec] = {
    "island-hauler-5": DroneSpec(model_id="island-hauler-5", max_payload_kg=5.0, battery_wh=1200.0,
                                 usable_fraction=0.85, cruise_speed_m_s=16.0, max_wind_m_s=12.0,
                                 max_gust_m_s=15.0, max_box_volume_l=40.0),
    "island-courier-2": DroneSpec(model_id="island-courier-2", max_payload_kg=2.0, battery_wh=600.0,
                                  usable_fraction=0.85, cruise_speed_m_s=18.0, max_wind_m_s=10.0,
                                  max_gust_m_s=13.0, max_box_volume_l=15.0),
}


def drone_specs_from_catalogue() -> dict[str, DroneSpec]:
    """Return drone specs from `flight_plans.energy.DRONE_MODELS`, or the placeholders if absent."""
    try:
        from flight_plans.energy import DRONE_MODELS  # landing concurrently; optional until then
    except ImportError:
        return dict(FALLBACK_DRONE_SPECS)
    models = DRONE_MODELS.values() if isinstance(DRONE_MODELS, dict) else DRONE_MODELS
    return {
        m.id: DroneSpec(model_id=m.id, max_payload_kg=m.max_payload_kg, battery_wh=m.battery_wh,
                        usable_fraction=m.usable_fraction, cruise_speed_m_s=m.cruise_speed_m_s,
                        max_wind_m_s=m.max_wind_m_s, max_gust_m_s=m.max_gust_m_s,
                        max_box_volume_l=m.max_box_volume_l)
        for m in models
    }


_RETURN_LEAD_S = 3600.0  # covers any plausible turnaround at the far end of a line


def projection_for(scenario: Scenario) -> LocalProjection:
    """Return the local metric frame centred on the scenario's pads."""
    lats = [p.lat_deg for p in scenario.pads]
    lons = [p.lon_deg for p in scenario.pads]
    return LocalProjection(lat0_deg=sum(lats) / len(lats), lon0_deg=sum(lons) / len(lons))


def pads_from_scenario(scenario: Scenario, projection: LocalProjection) -> dict[str, Pad]:
    """Return scheduler pads (local metres) keyed by id."""
    out = {}
    for p in scenario.pads:
        x, y = projection.to_xy(p.lat_deg, p.lon_deg)
        out[p.id] = Pad(pad_id=p.id, x_m=x, y_m=y, capacity=p.capacity, service_point_id=p.service_point)
    return out


def _runs(hhmm: Iterable[str], tz: ZoneInfo, start_at: datetime, end_at: datetime, lead_s: float
          ) -> tuple[datetime, ...]:
    """Expand local "HH:MM" departures to UTC datetimes of runs that can matter in [start, end]."""
    out = []
    day = (start_at.astimezone(tz) - timedelta(seconds=lead_s)).date()
    last_day = end_at.astimezone(tz).date()
    while day <= last_day:
        for s in hhmm:
            hh, mm = (int(v) for v in s.split(":"))
            t = datetime.combine(day, time(hh, mm), tzinfo=tz).astimezone(UTC)
            if start_at - timedelta(seconds=lead_s) <= t <= end_at:
                out.append(t)
        day += timedelta(days=1)
    return tuple(sorted(out))


def surface_lines_from_scenario(scenario: Scenario, start_at: datetime, end_at: datetime) -> tuple[SurfaceLine, ...]:
    """Return ferry and bus lines with UTC departures covering the horizon."""
    tz = ZoneInfo(scenario.timezone)
    lines: list[SurfaceLine] = []
    for f in scenario.ferry_lines:
        calls = tuple(SurfaceCall(service_point_id=c.service_point, offset_s=c.minutes_from_start * 60.0)
                      for c in f.calls)
        # Runs that left before the horizon can still matter on their way back (return runs).
        lead = 2 * max(c.offset_s for c in calls) + _RETURN_LEAD_S
        lines.append(SurfaceLine(line_id=f.id, mode="ferry", calls=calls,
                                 departures=_runs(f.departures, tz, start_at, end_at, lead),
                                 capacity_boxes=f.capacity_boxes))
    for b in scenario.bus_lines:
        n = len(b.stops)
        calls = tuple(SurfaceCall(service_point_id=s.service_point, offset_s=b.trip_minutes * 60.0 * i / (n - 1))
                      for i, s in enumerate(b.stops) if s.service_point is not None)
        lines.append(SurfaceLine(line_id=b.id, mode="bus", calls=calls,
                                 departures=_runs(b.departures, tz, start_at, end_at,
                                                 2 * b.trip_minutes * 60.0 + _RETURN_LEAD_S),
                                 capacity_boxes=b.capacity_boxes))
    return tuple(lines)


def last_mile_pads(scenario: Scenario) -> dict[str, str | None]:
    """Return service point -> the pad that serves it: its own, or for a village without one, the pad of
    the first service point with a pad on the same bus line (for display: the scheduler itself plans
    such parcels as bus + drone journeys, `controller.scheduling.model.Journey`, from the real pad map)."""
    pads: dict[str, str | None] = {point.id: point.pad for point in scenario.service_points}
    for line in scenario.bus_lines:
        on_line = [stop.service_point for stop in line.stops if stop.service_point]
        hubs = [pads[point] for point in on_line if pads.get(point)]
        for point in on_line:
            if pads.get(point) is None and hubs:
                pads[point] = hubs[0]
    return pads


def config_from_scenario(scenario: Scenario, **overrides: object) -> SchedulerConfig:
    """Return the scheduler config with the scenario's reserve and altitude rules."""
    d = scenario.defaults
    base = dict(reserve_fraction=d.reserve_fraction, cruise_alt_m=d.cruise_alt_m,
                min_cruise_alt_m=d.min_cruise_alt_m, ceiling_m=d.ceiling_m)
    base.update(overrides)
    return SchedulerConfig(**base)  # type: ignore[arg-type]


def problem_from_scenario(
    scenario: Scenario,
    parcels: Iterable[Parcel],
    *,
    start_at: datetime,
    horizon_s: float,
    wind: WindForecast,
    drone_specs: dict[str, DroneSpec],
    config: SchedulerConfig | None = None,
    drones: Iterable[DroneState] | None = None,
) -> SchedulingProblem:
    """Return the scheduling problem for `parcels` on `scenario`'s network.

    Drones default to their home pads, fully charged, available at `start_at`.
    """
    projection = projection_for(scenario)
    end_at = start_at + timedelta(seconds=horizon_s)
    if drones is None:
        drones = [DroneState(drone_id=d.id, model_id=d.model, pad_id=d.home_pad,
                             battery_wh=drone_specs[d.model].battery_wh, available_at=start_at)
                  for d in scenario.drones]
    return SchedulingProblem(
        start_at=start_at,
        horizon_end_at=end_at,
        pads=pads_from_scenario(scenario, projection),
        service_point_pads={s.id: s.pad for s in scenario.service_points},
        drone_specs=drone_specs,
        drones=tuple(drones),
        parcels=tuple(parcels),
        wind=wind,
        surface_lines=surface_lines_from_scenario(scenario, start_at, end_at),
        config=config or config_from_scenario(scenario),
    )
