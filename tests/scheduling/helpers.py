"""Small synthetic networks for scheduler tests (straight-line estimator = deterministic test double)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from controller.scheduling import (
    DroneSpec, DroneState, Pad, Parcel, SchedulerConfig, SchedulingProblem, SurfaceCall, SurfaceLine, Wind,
    WindForecast,
)
from controller.scheduling.straight_line import StraightLineEstimator

T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
HAULER = DroneSpec(model_id="hauler", max_payload_kg=5.0, battery_wh=1800.0, usable_fraction=0.9,
                   cruise_speed_m_s=15.0, max_wind_m_s=12.0, max_gust_m_s=15.0, max_box_volume_l=40.0)
# Hub at the origin, spokes east/north-east/north; "far" is beyond range.
PADS = {
    "hub": Pad(pad_id="hub", x_m=0.0, y_m=0.0, capacity=2, service_point_id="sp-hub"),
    "a": Pad(pad_id="a", x_m=8000.0, y_m=0.0, capacity=1, service_point_id="sp-a"),
    "b": Pad(pad_id="b", x_m=6000.0, y_m=6000.0, capacity=1, service_point_id="sp-b"),
    "c": Pad(pad_id="c", x_m=0.0, y_m=9000.0, capacity=1, service_point_id="sp-c"),
    "far": Pad(pad_id="far", x_m=200_000.0, y_m=0.0, capacity=1, service_point_id="sp-far"),
}
SP_PADS = {"sp-hub": "hub", "sp-a": "a", "sp-b": "b", "sp-c": "c", "sp-far": "far", "sp-village": None,
           "sp-hamlet": None}
FERRY = SurfaceLine(line_id="ferry-1", mode="ferry",
                    calls=(SurfaceCall(service_point_id="sp-hub", offset_s=0.0),
                           SurfaceCall(service_point_id="sp-a", offset_s=1800.0),
                           SurfaceCall(service_point_id="sp-b", offset_s=3600.0),
                           SurfaceCall(service_point_id="sp-far", offset_s=7200.0),
                           SurfaceCall(service_point_id="sp-village", offset_s=9000.0)),
                    departures=(T0 + timedelta(hours=1), T0 + timedelta(hours=5)), capacity_boxes=10)


# A bus on island "a": sp-a (pad a) -> sp-hamlet (no pad) in 15 min, every 2 h from 00:30; 5 min turnaround.
BUS = SurfaceLine(line_id="bus-a", mode="bus",
                  calls=(SurfaceCall(service_point_id="sp-a", offset_s=0.0),
                         SurfaceCall(service_point_id="sp-hamlet", offset_s=900.0)),
                  departures=tuple(T0 + timedelta(minutes=30 + 120 * k) for k in range(6)), capacity_boxes=2)


def parcel(pid: str, dest: str = "sp-a", kg: float = 1.0, litres: float = 5.0, origin: str = "sp-hub",
           ready_h: float = 0.0, due_h: float | None = None, perishable: bool = False) -> Parcel:
    return Parcel(parcel_id=pid, origin=origin, destination=dest, weight_kg=kg, volume_l=litres,
                  ready_at=T0 + timedelta(hours=ready_h),
                  due_at=None if due_h is None else T0 + timedelta(hours=due_h), perishable=perishable)


def problem(parcels: list[Parcel], *, drones: int = 2, wind_ms: float = 3.0, horizon_h: float = 10.0,
            config: SchedulerConfig | None = None, drone_pad: str = "hub") -> SchedulingProblem:
    return SchedulingProblem(
        start_at=T0, horizon_end_at=T0 + timedelta(hours=horizon_h), pads=PADS, service_point_pads=SP_PADS,
        drone_specs={"hauler": HAULER},
        drones=tuple(DroneState(drone_id=f"d{i}", model_id="hauler", pad_id=drone_pad, battery_wh=1800.0,
                                available_at=T0) for i in range(drones)),
        parcels=tuple(parcels), wind=WindForecast.constant(Wind(speed_m_s=wind_ms, from_deg=270.0), start_at=T0),
        surface_lines=(FERRY, BUS), config=config or SchedulerConfig(),
    )


def estimator() -> StraightLineEstimator:
    return StraightLineEstimator(pads=PADS)


def fewest_bins(n: int, fits: Callable[[Sequence[int]], bool]) -> int:
    """Brute force over set partitions of items 0..n-1 (tiny n): the fewest groups each of which `fits`."""
    best = n

    def place(i: int, bins: list[list[int]]) -> None:
        nonlocal best
        if len(bins) >= best:
            return
        if i == n:
            best = len(bins)
            return
        for b in bins:
            b.append(i)
            if fits(b):
                place(i + 1, bins)
            b.pop()
        bins.append([i])
        place(i + 1, bins)
        bins.pop()

    place(0, [])
    return best
