"""JSON shape of a `SchedulePlan` (the `dispatch schedule --json` document and the API's answer).

Times are ISO-8601 UTC with a ``Z`` suffix. Fields are additive: consumers ignore keys they do not know.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from controller.scheduling.model import PlannedSortie, SchedulePlan, SurfaceLeg


def iso_utc(t: datetime) -> str:
    """Return `t` as ISO-8601 UTC with a ``Z`` suffix."""
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sortie_json(s: PlannedSortie) -> dict[str, Any]:
    """Return one sortie in the stable JSON shape (extra fields for the dispatcher are additive)."""
    return {
        "id": s.sortie_id, "drone": s.drone_id, "model": s.model_id, "origin": s.origin_pad,
        "stops": list(s.stops), "parcels": list(s.parcel_ids), "payload_kg": s.payload_kg,
        "volume_l": s.volume_l, "energy_wh": s.energy_wh, "energy_budget_wh": s.energy_budget_wh,
        "battery_wh": s.battery_wh, "depart_at": iso_utc(s.depart_at), "arrive_at": iso_utc(s.arrive_at),
        "altitude_m": s.altitude_m, "purpose": s.purpose, "battery_swap_before": s.battery_swap_before,
        "wind": {"speed_m_s": s.wind.speed_m_s, "from_deg": s.wind.from_deg, "gust_m_s": s.wind.gust_m_s},
        "separation": {"altitude_m": s.separation.altitude_m, "shift_s": s.separation.shift_s,
                       "reason": s.separation.reason, "avoided": list(s.separation.avoided_sortie_ids)},
        "legs": [{"from": leg.from_pad, "to": leg.to_pad, "depart_at": iso_utc(leg.depart_at),
                  "arrive_at": iso_utc(leg.arrive_at), "payload_kg": leg.payload_kg, "energy_wh": leg.energy_wh,
                  "length_m": leg.length_m, "drop": list(leg.drop_parcel_ids)} for leg in s.legs],
        "late_parcels": list(s.late_parcel_ids),
    }


def surface_leg_json(leg: SurfaceLeg) -> dict[str, Any]:
    """Return one ferry/bus leg in the stable JSON shape."""
    return {"mode": leg.mode, "line": leg.line_id, "parcels": list(leg.parcel_ids), "depart_at": iso_utc(leg.depart_at),
            "arrive_at": iso_utc(leg.arrive_at), "origin": leg.origin, "destination": leg.destination,
            "boxes": leg.boxes, "reasons": leg.reasons, "late_parcels": list(leg.late_parcel_ids),
            "direction": leg.direction}


def plan_json(plan: SchedulePlan) -> dict[str, Any]:
    """Return the plan as the CLI's JSON document (without `rejected_rows`).

    ``surface_legs`` hold surface-only parcels; ``connecting_legs`` the bus legs of flown parcels
    whose village has no pad, and ``journeys`` their drone leg's origin/destination service points.
    """
    return {
        "sorties": [sortie_json(s) for s in plan.sorties],
        "surface_legs": [surface_leg_json(leg) for leg in plan.surface_legs],
        "connecting_legs": [surface_leg_json(leg) for leg in plan.connecting_legs],
        "journeys": {pid: {"drone_origin": j.drone_origin, "drone_destination": j.drone_destination,
                           "first_mile_line": j.first_mile_line_id, "last_mile_line": j.last_mile_line_id}
                     for pid, j in sorted(plan.journeys.items())},
        "unassigned": [{"parcel": u.parcel_id, "reason": u.reason} for u in plan.unassigned],
        "metrics": dict(plan.metrics),
    }
