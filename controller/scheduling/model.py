"""Value types of the scheduling problem and of its answer.

Everything here is a frozen, keyword-only dataclass. Times are timezone-aware UTC datetimes;
distances are metres in a local projected CRS (the adapter projects WGS84 pads once); masses kg,
volumes litres, energies Wh.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from controller.scheduling.errors import ProblemDefinitionError

# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Wind:
    """Wind at flight level: mean speed (m/s), direction it blows FROM (deg true), gust (m/s)."""

    speed_m_s: float
    from_deg: float
    gust_m_s: float | None = None

    def gust_or(self, gust_factor: float) -> float:
        """Return the gust speed (m/s), estimated as speed x `gust_factor` when not forecast."""
        return self.gust_m_s if self.gust_m_s is not None else self.speed_m_s * gust_factor


@dataclass(frozen=True, kw_only=True, slots=True)
class WindPeriod:
    """Wind valid from `start_at` until the next period starts."""

    start_at: datetime
    wind: Wind


@dataclass(frozen=True, kw_only=True)
class WindForecast:
    """Piecewise-constant wind forecast; the first period also covers any earlier time."""

    periods: tuple[WindPeriod, ...]

    def __post_init__(self) -> None:
        if not self.periods:
            raise ProblemDefinitionError("a wind forecast needs at least one period")
        starts = [p.start_at for p in self.periods]
        if starts != sorted(starts):
            raise ProblemDefinitionError("wind periods must be sorted by start_at")

    @classmethod
    def constant(cls, wind: Wind, *, start_at: datetime) -> WindForecast:
        """Return a forecast with the same wind all the time."""
        return cls(periods=(WindPeriod(start_at=start_at, wind=wind),))

    def over(self, start_at: datetime, end_at: datetime) -> list[Wind]:
        """Return the distinct winds in force at any time in [start_at, end_at]."""
        starts = [p.start_at for p in self.periods]
        first = max(0, bisect.bisect_right(starts, start_at) - 1)
        last = max(0, bisect.bisect_right(starts, end_at) - 1)
        return [self.periods[i].wind for i in range(first, last + 1)]

    def at(self, t: datetime) -> Wind:
        """Return the wind in force at `t`."""
        return self.over(t, t)[0]

    def change_times_after(self, t: datetime) -> list[datetime]:
        """Return the period starts strictly after `t` (where a grounded drone may become flyable)."""
        return [p.start_at for p in self.periods if p.start_at > t]


@dataclass(frozen=True, kw_only=True, slots=True)
class DroneSpec:
    """Limits of one drone model (mirrors `flight_plans.energy` models)."""

    model_id: str
    max_payload_kg: float
    battery_wh: float
    usable_fraction: float
    cruise_speed_m_s: float
    max_wind_m_s: float
    max_gust_m_s: float
    max_box_volume_l: float

    @property
    def usable_wh(self) -> float:
        """Usable energy of a full battery (Wh)."""
        return self.battery_wh * self.usable_fraction


@dataclass(frozen=True, kw_only=True, slots=True)
class DroneState:
    """One drone as the controller sees it at planning time."""

    drone_id: str
    model_id: str
    pad_id: str
    battery_wh: float  # state of charge now, Wh (nominal, before the usable fraction)
    available_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class Pad:
    """A landing pad: position in the local projected CRS (m), and how many drones may use it at once."""

    pad_id: str
    x_m: float
    y_m: float
    capacity: int = 1
    service_point_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Parcel:
    """A parcel (or seafood box) ready at an origin service point.

    `due_at` marks a deadline; `perishable` parcels' deadlines rank first in the objective.
    """

    parcel_id: str
    origin: str  # service point id
    destination: str  # service point id
    weight_kg: float
    volume_l: float
    ready_at: datetime
    due_at: datetime | None = None
    perishable: bool = False
    priority: str = "normal"


@dataclass(frozen=True, kw_only=True, slots=True)
class SurfaceCall:
    """A stop of a ferry or bus line: service point and offset from the run's departure (s)."""

    service_point_id: str
    offset_s: float


@dataclass(frozen=True, kw_only=True)
class SurfaceLine:
    """A ferry or bus line with concrete run departures (UTC) from its first call."""

    line_id: str
    mode: Literal["ferry", "bus"]
    calls: tuple[SurfaceCall, ...]
    departures: tuple[datetime, ...]
    capacity_boxes: int


@dataclass(frozen=True, kw_only=True, slots=True)
class SchedulerConfig:
    """Operating rules. Defaults are conservative placeholders; the scenario overrides what it knows."""

    reserve_fraction: float = 0.25  # of usable battery energy, never planned to be used
    cruise_alt_m: float = 90.0  # preferred altitude layer (m above take-off)
    min_cruise_alt_m: float = 60.0
    ceiling_m: float = 120.0  # legal ceiling (m true height), art. 19
    horizontal_separation_m: float = 150.0
    vertical_separation_m: float = 30.0
    turnaround_s: float = 300.0  # battery swap + loading between two sorties of one drone
    stop_service_s: float = 120.0  # land, unload, take off at an intermediate stop
    pad_slot_s: float = 60.0  # a take-off or landing occupies a touchdown spot this long
    max_stops: int = 3
    departure_shift_step_s: float = 60.0
    max_departure_shift_s: float = 3600.0
    payload_bucket_kg: float = 0.25  # estimator cache granularity (payload rounded up)
    gust_factor: float = 1.3  # gust = mean x factor when the forecast has no gust
    surface_box_volume_l: float = 60.0  # standard turnover box; parcels share boxes
    surface_box_max_kg: float = 25.0
    # Ferries also take loose freight too big for a box; it takes max(ceil(l / box l), ceil(kg / box kg))
    # box slots of the run's capacity, up to these (assumed) limits for one parcel handled by hand.
    ferry_loose_max_kg: float = 50.0
    ferry_loose_max_l: float = 300.0
    # Buses carry parcels in the bus locker: the largest (L) compartment is assumed 50 x 40 x 30 cm
    # inside (60 l), rated 25 kg, i.e. one turnover box; bigger parcels do not go by bus.
    bus_compartment_max_kg: float = 25.0
    bus_compartment_max_l: float = 60.0
    # Lines run both ways: after a run reaches its last call it turns round (crew change, unloading)
    # and calls at the same service points in reverse, with the outbound stop-to-stop times. Assumed
    # turnarounds: 20 min for a ferry, 5 min for a bus. None makes that mode's lines one-way.
    ferry_turnaround_s: float | None = 1200.0
    bus_turnaround_s: float | None = 300.0
    improvement_passes: int = 3  # local-search passes of the consolidation step

    def altitude_layers_m(self) -> tuple[float, ...]:
        """Return the cruise layers (m), preferred first, all within [min_cruise_alt_m, ceiling_m]."""
        layers: list[float] = []
        alt = self.min_cruise_alt_m
        while alt <= self.ceiling_m + 1e-9:
            layers.append(round(alt, 3))
            alt += self.vertical_separation_m
        if not layers:
            raise ProblemDefinitionError("no altitude layer fits between min_cruise_alt_m and ceiling_m")
        return tuple(sorted(layers, key=lambda a: (abs(a - self.cruise_alt_m), a)))


@dataclass(frozen=True, kw_only=True)
class SchedulingProblem:
    """Everything the scheduler needs; built by `from_scenario` or by tests."""

    start_at: datetime
    horizon_end_at: datetime
    pads: dict[str, Pad]
    service_point_pads: dict[str, str | None]  # service point -> pad id (None: no pad)
    drone_specs: dict[str, DroneSpec]
    drones: tuple[DroneState, ...]
    parcels: tuple[Parcel, ...]
    wind: WindForecast
    surface_lines: tuple[SurfaceLine, ...] = ()
    config: SchedulerConfig = field(default_factory=SchedulerConfig)

    def __post_init__(self) -> None:
        if self.start_at.tzinfo is None or self.horizon_end_at.tzinfo is None:
            raise ProblemDefinitionError("start_at and horizon_end_at must be timezone-aware")
        if self.horizon_end_at <= self.start_at:
            raise ProblemDefinitionError("horizon_end_at must be after start_at")
        for d in self.drones:
            if d.pad_id not in self.pads:
                raise ProblemDefinitionError(f"drone {d.drone_id} is on unknown pad {d.pad_id}")
            if d.model_id not in self.drone_specs:
                raise ProblemDefinitionError(f"drone {d.drone_id} has unknown model {d.model_id}")
        seen: set[str] = set()
        for p in self.parcels:
            if p.parcel_id in seen:
                raise ProblemDefinitionError(f"duplicate parcel id {p.parcel_id}")
            seen.add(p.parcel_id)


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class SortieLeg:
    """One pad-to-pad leg of a sortie with the payload carried on it."""

    from_pad: str
    to_pad: str
    depart_at: datetime
    arrive_at: datetime
    payload_kg: float
    energy_wh: float
    length_m: float
    drop_parcel_ids: tuple[str, ...]  # unloaded at `to_pad`


@dataclass(frozen=True, kw_only=True, slots=True)
class SeparationDecision:
    """How a sortie was kept apart from others: its layer, any departure shift, and why."""

    altitude_m: float
    shift_s: float
    reason: str
    avoided_sortie_ids: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedSortie:
    """A sortie proposed for dispatcher approval (persisted as `planned`)."""

    sortie_id: str
    drone_id: str
    model_id: str
    origin_pad: str
    stops: tuple[str, ...]
    parcel_ids: tuple[str, ...]
    payload_kg: float  # at take-off
    volume_l: float
    energy_wh: float  # estimated for the whole sortie, actual per-leg payloads
    energy_budget_wh: float  # usable energy minus the reserve at take-off
    battery_wh: float  # state of charge at take-off (after a swap if one was planned)
    depart_at: datetime
    arrive_at: datetime
    altitude_m: float
    wind: Wind
    legs: tuple[SortieLeg, ...]
    separation: SeparationDecision
    purpose: Literal["delivery", "reposition"] = "delivery"
    battery_swap_before: bool = False
    late_parcel_ids: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class SurfaceLeg:
    """Parcels put on one ferry or bus run between two service points."""

    mode: Literal["ferry", "bus"]
    line_id: str
    origin: str
    destination: str
    parcel_ids: tuple[str, ...]
    depart_at: datetime  # at `origin`
    arrive_at: datetime  # at `destination`
    boxes: int
    reasons: dict[str, str]  # parcel id -> why it is not flown
    late_parcel_ids: tuple[str, ...] = ()
    direction: Literal["outbound", "return"] = "outbound"  # return: the run coming back after turnaround


@dataclass(frozen=True, kw_only=True, slots=True)
class Journey:
    """A bus + drone journey of a parcel whose origin and/or destination has no pad.

    The drone leg flies between the pads of `drone_origin` and `drone_destination` (service points
    with a pad on the same bus line as the parcel's pad-less end: the hub). First mile: the bus brings
    the parcel from its village to `drone_origin`; it is ready for the drone when that bus arrives.
    Last mile: the drone drops it at `drone_destination` and the bus (its locker) carries it on; a
    deadline is moved earlier to the latest bus departure from the hub that still arrives in time.
    The bus legs are `SchedulePlan.connecting_legs`.
    """

    parcel_id: str
    drone_origin: str  # service point with a pad
    drone_destination: str  # service point with a pad
    first_mile_line_id: str | None = None  # bus line origin -> drone_origin
    last_mile_line_id: str | None = None  # bus line drone_destination -> destination


@dataclass(frozen=True, kw_only=True, slots=True)
class Unassigned:
    """A parcel no mode can serve within the horizon, and why."""

    parcel_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class SchedulePlan:
    """The scheduler's answer: every input parcel is in exactly one of sorties, surface legs, unassigned.

    `surface_legs` are surface-only journeys. A parcel flown on a bus + drone journey is in a sortie
    and, in addition, in one or two `connecting_legs` (mode "bus"); `journeys` says which.
    """

    sorties: tuple[PlannedSortie, ...]
    surface_legs: tuple[SurfaceLeg, ...]
    unassigned: tuple[Unassigned, ...]
    metrics: dict[str, float | int | str]
    connecting_legs: tuple[SurfaceLeg, ...] = ()
    journeys: dict[str, Journey] = field(default_factory=dict)  # flown bus + drone parcels by id

    def parcel_ids_by_outcome(self) -> dict[str, list[str]]:
        """Return parcel ids per outcome ("sortie", "surface", "unassigned"), with repeats kept."""
        return {
            "sortie": [p for s in self.sorties for p in s.parcel_ids],
            "surface": [p for leg in self.surface_legs for p in leg.parcel_ids],
            "unassigned": [u.parcel_id for u in self.unassigned],
        }


def seconds(td: timedelta) -> float:
    """Return a timedelta in seconds (float)."""
    return td.total_seconds()
