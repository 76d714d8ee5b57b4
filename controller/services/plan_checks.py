"""Safety checks of a stored sortie plan against the current geofence (approval and upload gates)."""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from flight_plans import Geofence, MissionItem, MissionType, mission_within_fence
from controller.services.network import current_geofence


def items_to_json(items: list[MissionItem]) -> list[dict[str, Any]]:
    """MissionItems as plain JSON rows (mission_type as its number) for storing in a plan."""
    return [{**dataclasses.asdict(item), "mission_type": int(item.mission_type)} for item in items]


def items_from_json(rows: list[dict[str, Any]]) -> list[MissionItem]:
    """The inverse of :func:`items_to_json`."""
    return [MissionItem(**{**row, "mission_type": MissionType(row.get("mission_type", 0))}) for row in rows]


@lru_cache(maxsize=16)
def _geofence(name: str, version: int, geojson_text: str) -> Geofence:
    import json

    return Geofence.from_geojson(json.loads(geojson_text))


def geofence_for(session: Session) -> tuple[Geofence, int]:
    """The current geofence as a flight_plans Geofence (cached per version) and its version."""
    import json

    row = current_geofence(session)
    return _geofence(row.name, row.version, json.dumps(row.geojson, sort_keys=True)), row.version


def check_plan(plan: dict[str, Any], geofence: Geofence, version: int) -> str | None:
    """None when the plan's mission stays inside ``geofence`` (version ``version``), else why not."""
    if plan.get("geofence_version") != version:
        return f"the geofence changed (plan uses v{plan.get('geofence_version')}, current is v{version})"
    items = items_from_json(plan.get("mission_items", []))
    if not items:
        return "the plan has no mission items"
    result = mission_within_fence(items, geofence)
    if not result.ok:
        return "; ".join(str(v) for v in result.violations)
    return None


def fence_check_for(session: Session):  # type: ignore[no-untyped-def]
    """A ``plan -> reason | None`` callable bound to the current geofence."""
    geofence, version = geofence_for(session)
    return lambda plan: check_plan(plan, geofence, version)
