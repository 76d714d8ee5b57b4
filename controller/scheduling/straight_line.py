"""A small deterministic `LegEstimator`: straight lines and a momentum-theory energy model.

Used as a test double for the scheduler core, by the benchmarks, and as a fallback when no
geofence-aware planner is wired in. It knows no fence except pairs it is told are blocked.

Power model (per second of flight, Stolaroff-style, simplified): induced power of hovering
``(m g)^1.5 / sqrt(2 rho A) / eta`` plus parasitic power ``0.5 rho CdA v^3 / eta`` at the fixed
cruise airspeed, and climb to cruise altitude. Ground speed follows from the wind triangle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from controller.scheduling.estimator import LegEstimate
from controller.scheduling.model import DroneSpec, Pad, Wind

RHO_KG_M3 = 1.225
G_M_S2 = 9.81


@dataclass(frozen=True, kw_only=True, slots=True)
class Airframe:
    """Physical parameters the energy model needs beyond `DroneSpec`."""

    empty_mass_kg: float
    rotor_disk_area_m2: float
    drag_area_m2: float  # Cd * A
    efficiency: float = 0.7


def default_airframe(spec: DroneSpec) -> Airframe:
    """Return plausible airframe parameters scaled by the model's payload (placeholder physics)."""
    return Airframe(
        empty_mass_kg=3.0 + 1.2 * spec.max_payload_kg,
        rotor_disk_area_m2=0.25 * (1.0 + spec.max_payload_kg / 2.5),
        drag_area_m2=0.12 + 0.02 * spec.max_payload_kg,
    )


def polyline_estimate(path_xy_m: tuple[tuple[float, float], ...], *, spec: DroneSpec, frame: Airframe,
                      payload_kg: float, wind: Wind, cruise_alt_m: float) -> LegEstimate:
    """Return length (m), duration (s) and energy (Wh) of flying `path_xy_m` (local metres)."""
    airspeed = spec.cruise_speed_m_s
    to_rad = math.radians((wind.from_deg + 180.0) % 360.0)
    # Bearings are clockwise from north: east = sin, north = cos.
    wx, wy = wind.speed_m_s * math.sin(to_rad), wind.speed_m_s * math.cos(to_rad)
    length_m = cruise_s = 0.0
    for (x0, y0), (x1, y1) in zip(path_xy_m, path_xy_m[1:]):
        seg = math.hypot(x1 - x0, y1 - y0)
        if seg < 1e-6:
            continue
        ux, uy = (x1 - x0) / seg, (y1 - y0) / seg
        along, cross = wx * ux + wy * uy, -wx * uy + wy * ux
        if abs(cross) >= airspeed or math.sqrt(airspeed**2 - cross**2) + along <= 0.5:
            return LegEstimate(length_m=seg, duration_s=0.0, energy_wh=0.0, feasible=False,
                               reason=f"wind {wind.speed_m_s:.1f} m/s too strong for cruise airspeed",
                               path_xy_m=path_xy_m)
        length_m += seg
        cruise_s += seg / (math.sqrt(airspeed**2 - cross**2) + along)
    thrust_n = (frame.empty_mass_kg + payload_kg) * G_M_S2
    induced_w = thrust_n**1.5 / math.sqrt(2 * RHO_KG_M3 * frame.rotor_disk_area_m2) / frame.efficiency
    parasitic_w = 0.5 * RHO_KG_M3 * frame.drag_area_m2 * airspeed**3 / frame.efficiency
    climb_s = 2 * cruise_alt_m / 3.0  # climb and descend at 3 m/s
    climb_j = thrust_n * cruise_alt_m / frame.efficiency
    energy_j = (induced_w + parasitic_w) * cruise_s + induced_w * climb_s + climb_j
    return LegEstimate(length_m=length_m, duration_s=cruise_s + climb_s, energy_wh=energy_j / 3600.0,
                       feasible=True, path_xy_m=path_xy_m)


@dataclass(kw_only=True)
class StraightLineEstimator:
    """Estimate legs as straight lines between pads at cruise altitude."""

    pads: dict[str, Pad]
    cruise_alt_m: float = 90.0
    blocked_pairs: frozenset[tuple[str, str]] = frozenset()
    airframes: dict[str, Airframe] = field(default_factory=dict)

    def estimate(
        self, origin_pad: str, dest_pad: str, *, spec: DroneSpec, payload_kg: float, wind: Wind
    ) -> LegEstimate:
        """Return length (m), duration (s) and energy (Wh) of the straight leg; see module doc."""
        a, b = self.pads[origin_pad], self.pads[dest_pad]
        path = ((a.x_m, a.y_m), (b.x_m, b.y_m))
        if (origin_pad, dest_pad) in self.blocked_pairs or (dest_pad, origin_pad) in self.blocked_pairs:
            return LegEstimate(length_m=math.dist(*path), duration_s=0.0, energy_wh=0.0, feasible=False,
                               reason=f"no fence-compliant route {origin_pad}->{dest_pad}", path_xy_m=path)
        frame = self.airframes.get(spec.model_id) or default_airframe(spec)
        return polyline_estimate(path, spec=spec, frame=frame, payload_kg=payload_kg, wind=wind,
                                 cruise_alt_m=self.cruise_alt_m)
