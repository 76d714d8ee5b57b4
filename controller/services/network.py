"""Install a bundled scenario into the database and read the network back for maps and metadata."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controller.db.models import (
    Compartment, Drone, Geofence, Island, Locker, Pad, Parcel, ScenarioMeta, ServicePoint, TransportLine,
)
from controller.domain.compartment_states import CompartmentState
from controller.domain.errors import Conflict, NotFound
from controller.scenario import Scenario
from controller.services import audit, fleet

SCENARIO_KEY = "scenario"


def installed_scenario(session: Session) -> dict[str, Any] | None:
    """Metadata of the scenario in the database, or None when none is installed."""
    row = session.get(ScenarioMeta, SCENARIO_KEY)
    return row.value if row else None


def install_scenario(session: Session, *, scenario: Scenario, actor: str) -> bool:
    """Load ``scenario`` into an empty network; return False if that scenario is already installed.

    Raises Conflict when a different scenario is installed (one database holds one network).
    """
    current = installed_scenario(session)
    if current is not None:
        if current["name"] != scenario.name:
            raise Conflict(f"database already holds scenario {current['name']!r}", installed=current["name"])
        return False
    outlines = {f["properties"]["id"]: f["geometry"] for f in scenario.island_outlines.get("features", [])}
    for island in scenario.islands:
        session.add(Island(id=island.id, name=island.name, name_en=island.name_en, outline=outlines.get(island.id)))
    session.flush()
    for point in scenario.service_points:
        session.add(ServicePoint(id=point.id, name=point.name, name_en=point.name_en, kind=point.kind,
                                 island_id=point.island, lat_deg=point.lat_deg, lon_deg=point.lon_deg,
                                 pad_id=point.pad))
    session.flush()
    for pad in scenario.pads:
        session.add(Pad(id=pad.id, name=pad.name, name_en=pad.name_en, island_id=pad.island,
                        service_point_id=pad.service_point, lat_deg=pad.lat_deg, lon_deg=pad.lon_deg,
                        alt_amsl_m=pad.alt_amsl_m, capacity=pad.capacity))
    for line in scenario.bus_lines:
        session.add(TransportLine(id=line.id, mode="bus", name=line.name, name_en=line.name_en,
                                  definition=line.model_dump(mode="json")))
    for line in scenario.ferry_lines:
        session.add(TransportLine(id=line.id, mode="ferry", name=line.name, name_en=line.name_en,
                                  definition=line.model_dump(mode="json")))
    session.flush()
    for drone in scenario.drones:
        fleet.register_drone(session, id=drone.id, name=drone.name, model=drone.model, home_pad=drone.home_pad,
                             sysid=drone.sysid, connection_url=None, actor=actor)
    for locker in scenario.lockers:
        session.add(Locker(id=locker.id, name=locker.name, kind=locker.kind, bus_line_id=locker.bus_line,
                           service_point_id=locker.service_point))
        session.flush()
        for c in locker.compartments:
            session.add(Compartment(locker_id=locker.id, board=c.board, lock=c.lock, size=c.size,
                                    state=CompartmentState.FREE.value))
    session.add(Geofence(name=scenario.name, version=1, geojson=scenario.geofence, created_by=actor))
    session.add(ScenarioMeta(key=SCENARIO_KEY, value={
        "name": scenario.name, "title": scenario.title, "timezone": scenario.timezone,
        "approximate": scenario.approximate, "defaults": scenario.defaults.model_dump(mode="json")}))
    session.flush()
    audit.record(session, actor=actor, action="scenario.install", object_type="scenario", object_id=scenario.name,
                 details={"service_points": len(scenario.service_points), "pads": len(scenario.pads),
                          "drones": len(scenario.drones), "lockers": len(scenario.lockers)})
    return True


def current_geofence(session: Session) -> Geofence:
    """The newest version of the installed scenario's geofence."""
    fence = session.scalar(select(Geofence).order_by(Geofence.version.desc()).limit(1))
    if fence is None:
        raise NotFound("geofence", "current")
    return fence


def scenario_metadata(session: Session) -> dict[str, Any]:
    """Installed scenario metadata plus counts."""
    meta = installed_scenario(session)
    if meta is None:
        raise NotFound("scenario", "installed")

    def count(model: type) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    fence = current_geofence(session)
    return {**meta, "geofence_version": fence.version, "counts": {
        "islands": count(Island), "service_points": count(ServicePoint), "pads": count(Pad),
        "drones": count(Drone), "lockers": count(Locker), "transport_lines": count(TransportLine),
        "parcels": count(Parcel)}}


def network_map(session: Session) -> dict[str, Any]:
    """All static map layers as plain JSON (WGS84 degrees)."""
    fence = current_geofence(session)
    return {
        "islands": [{"id": i.id, "name": i.name, "name_en": i.name_en, "outline": i.outline}
                    for i in session.scalars(select(Island).order_by(Island.id))],
        "service_points": [{"id": p.id, "name": p.name, "name_en": p.name_en, "kind": p.kind,
                            "lat_deg": p.lat_deg, "lon_deg": p.lon_deg, "pad_id": p.pad_id}
                           for p in session.scalars(select(ServicePoint).order_by(ServicePoint.id))],
        "pads": [{"id": p.id, "name": p.name, "name_en": p.name_en, "lat_deg": p.lat_deg, "lon_deg": p.lon_deg}
                 for p in session.scalars(select(Pad).order_by(Pad.id))],
        "lines": [{"id": line.id, "mode": line.mode, "name": line.name, "name_en": line.name_en,
                   "definition": line.definition}
                  for line in session.scalars(select(TransportLine).order_by(TransportLine.id))],
        "lockers": [{"id": lk.id, "name": lk.name, "kind": lk.kind, "bus_line_id": lk.bus_line_id,
                     "service_point_id": lk.service_point_id, "lat_deg": lk.lat_deg, "lon_deg": lk.lon_deg}
                    for lk in session.scalars(select(Locker).order_by(Locker.id))],
        "geofence": {"version": fence.version, "geojson": fence.geojson},
    }
