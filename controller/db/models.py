"""Database tables. State columns hold the ``value`` of the domain Enums; every state change also
writes a row to the matching transition/tracking table (who, when, why)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from controller.db.types import UTCDateTime, utc_now


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


# --- network --------------------------------------------------------------------------------------


class Island(Base):
    __tablename__ = "islands"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    outline: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class ServicePoint(Base):
    __tablename__ = "service_points"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(32))
    island_id: Mapped[str] = mapped_column(ForeignKey("islands.id"))
    lat_deg: Mapped[float] = mapped_column(Float)
    lon_deg: Mapped[float] = mapped_column(Float)
    pad_id: Mapped[str | None] = mapped_column(String(64), default=None)


class Pad(Base):
    __tablename__ = "pads"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    island_id: Mapped[str] = mapped_column(ForeignKey("islands.id"))
    service_point_id: Mapped[str | None] = mapped_column(ForeignKey("service_points.id"), default=None)
    lat_deg: Mapped[float] = mapped_column(Float)
    lon_deg: Mapped[float] = mapped_column(Float)
    alt_amsl_m: Mapped[float] = mapped_column(Float, default=0.0)
    capacity: Mapped[int] = mapped_column(Integer, default=1)


class TransportLine(Base):
    """A bus or ferry line: its stops/calls and timetable are kept as the scenario gives them."""

    __tablename__ = "transport_lines"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))  # "bus" | "ferry"
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)


class Geofence(Base):
    """A versioned geofence; editing it creates a new version and voids approvals bound to the old."""

    __tablename__ = "geofences"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    geojson: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    created_by: Mapped[str] = mapped_column(String(128))
    __table_args__ = (UniqueConstraint("name", "version"),)


class ScenarioMeta(Base):
    __tablename__ = "scenario_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)


class Drone(Base):
    __tablename__ = "drones"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(64))
    max_payload_kg: Mapped[float] = mapped_column(Float)
    battery_wh: Mapped[float] = mapped_column(Float)
    cruise_speed_m_s: Mapped[float] = mapped_column(Float)
    connection_url: Mapped[str | None] = mapped_column(String(255), default=None)
    sysid: Mapped[int] = mapped_column(Integer, unique=True)
    home_pad_id: Mapped[str] = mapped_column(ForeignKey("pads.id"))
    current_pad_id: Mapped[str | None] = mapped_column(ForeignKey("pads.id"), default=None)
    battery_pct: Mapped[float] = mapped_column(Float, default=100.0)
    available_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


# --- parcels --------------------------------------------------------------------------------------


class Parcel(Base):
    __tablename__ = "parcels"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the barcode
    rfid: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    origin_id: Mapped[str] = mapped_column(ForeignKey("service_points.id"))
    destination_id: Mapped[str] = mapped_column(ForeignKey("service_points.id"))
    direction: Mapped[str] = mapped_column(String(8))  # "down" | "up"
    kind: Mapped[str] = mapped_column(String(32), default="parcel")
    weight_kg: Mapped[float] = mapped_column(Float)
    length_cm: Mapped[float] = mapped_column(Float)
    width_cm: Mapped[float] = mapped_column(Float)
    height_cm: Mapped[float] = mapped_column(Float)
    priority: Mapped[int] = mapped_column(Integer, default=2)
    perishable: Mapped[bool] = mapped_column(Boolean, default=False)
    ready_at: Mapped[datetime | None] = mapped_column(default=None)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    recipient_name: Mapped[str] = mapped_column(String(200), default="")
    recipient_phone: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[str] = mapped_column(String(32), index=True)
    state_changed_at: Mapped[datetime] = mapped_column(default=utc_now)
    location_id: Mapped[str | None] = mapped_column(String(64), default=None)
    sortie_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    locker_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class TrackingEvent(Base):
    __tablename__ = "tracking_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    parcel_id: Mapped[str] = mapped_column(ForeignKey("parcels.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utc_now)
    from_state: Mapped[str | None] = mapped_column(String(32), default=None)
    to_state: Mapped[str] = mapped_column(String(32))
    place_id: Mapped[str | None] = mapped_column(String(64), default=None)
    actor: Mapped[str] = mapped_column(String(128))
    scanned_code: Mapped[str | None] = mapped_column(String(128), default=None)
    reason: Mapped[str] = mapped_column(Text, default="")
    # Events from offline devices carry their own id so a re-sent event is applied once.
    event_uid: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)


# --- people and audit -----------------------------------------------------------------------------


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class AuditEntry(Base):
    """Append-only: the application never updates or deletes these rows."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    severity: Mapped[str] = mapped_column(String(16))  # info | warning | critical
    kind: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128), default=None)


# --- sorties --------------------------------------------------------------------------------------


class Sortie(Base):
    __tablename__ = "sorties"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    drone_id: Mapped[str] = mapped_column(ForeignKey("drones.id"), index=True)
    origin_pad_id: Mapped[str] = mapped_column(ForeignKey("pads.id"))
    stops: Mapped[list[Any]] = mapped_column(JSON)  # destination pad ids in order
    state: Mapped[str] = mapped_column(String(32), index=True)
    state_changed_at: Mapped[datetime] = mapped_column(default=utc_now)
    state_reason: Mapped[str] = mapped_column(Text, default="")
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)  # route, items, fence, wind, energy …
    plan_hash: Mapped[str] = mapped_column(String(64))
    payload_kg: Mapped[float] = mapped_column(Float)
    energy_wh: Mapped[float] = mapped_column(Float)
    battery_wh: Mapped[float] = mapped_column(Float)
    altitude_m: Mapped[float] = mapped_column(Float)
    depart_at: Mapped[datetime] = mapped_column()
    arrive_at: Mapped[datetime] = mapped_column()
    geofence_version: Mapped[int | None] = mapped_column(Integer, default=None)
    approved_by: Mapped[str | None] = mapped_column(String(128), default=None)
    approved_at: Mapped[datetime | None] = mapped_column(default=None)
    approved_plan_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    approval_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    void_reason: Mapped[str | None] = mapped_column(Text, default=None)
    mission_id: Mapped[int | None] = mapped_column(Integer, default=None)  # vehicle's opaque id after upload
    progress_seq: Mapped[int | None] = mapped_column(Integer, default=None)
    # Written just before the controller commands arming: after a restart in ``ready`` a sortie without
    # it certainly never flew; with it, the vehicle must show whether it did (its flight time counter
    # STAT_FLTTIME grew, or else battery used since then).
    launch_commanded_at: Mapped[datetime | None] = mapped_column(default=None)
    launch_battery_pct: Mapped[float | None] = mapped_column(Float, default=None)
    launch_flight_time_s: Mapped[int | None] = mapped_column(Integer, default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(128), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class SortieParcel(Base):
    __tablename__ = "sortie_parcels"
    sortie_id: Mapped[str] = mapped_column(ForeignKey("sorties.id"), primary_key=True)
    parcel_id: Mapped[str] = mapped_column(ForeignKey("parcels.id"), primary_key=True)
    drop_pad_id: Mapped[str] = mapped_column(ForeignKey("pads.id"))


class SortieTransition(Base):
    __tablename__ = "sortie_transitions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sortie_id: Mapped[str] = mapped_column(ForeignKey("sorties.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utc_now)
    from_state: Mapped[str | None] = mapped_column(String(32), default=None)
    to_state: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class TrackPoint(Base):
    """A decimated telemetry track of a sortie."""

    __tablename__ = "track_points"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sortie_id: Mapped[str] = mapped_column(ForeignKey("sorties.id"), index=True)
    at: Mapped[datetime] = mapped_column()
    lat_deg: Mapped[float] = mapped_column(Float)
    lon_deg: Mapped[float] = mapped_column(Float)
    alt_m: Mapped[float] = mapped_column(Float)
    groundspeed_m_s: Mapped[float] = mapped_column(Float, default=0.0)
    battery_pct: Mapped[float | None] = mapped_column(Float, default=None)
    mode: Mapped[str] = mapped_column(String(32), default="")


class SurfaceLeg(Base):
    """Parcels put on a ferry or bus departure instead of a drone, with the reason."""

    __tablename__ = "surface_legs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    line_id: Mapped[str] = mapped_column(ForeignKey("transport_lines.id"))
    depart_at: Mapped[datetime] = mapped_column()
    parcel_ids: Mapped[list[Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


# --- lockers --------------------------------------------------------------------------------------


class Locker(Base):
    __tablename__ = "lockers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # "bus" | "fixed"
    bus_line_id: Mapped[str | None] = mapped_column(ForeignKey("transport_lines.id"), default=None)
    service_point_id: Mapped[str | None] = mapped_column(ForeignKey("service_points.id"), default=None)
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    lat_deg: Mapped[float | None] = mapped_column(Float, default=None)
    lon_deg: Mapped[float | None] = mapped_column(Float, default=None)
    speed_m_s: Mapped[float | None] = mapped_column(Float, default=None)


class Compartment(Base):
    __tablename__ = "compartments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id"), index=True)
    board: Mapped[int] = mapped_column(Integer)
    lock: Mapped[int] = mapped_column(Integer)
    size: Mapped[str] = mapped_column(String(2))
    state: Mapped[str] = mapped_column(String(16))
    parcel_id: Mapped[str | None] = mapped_column(ForeignKey("parcels.id"), default=None)
    state_changed_at: Mapped[datetime] = mapped_column(default=utc_now)
    __table_args__ = (UniqueConstraint("locker_id", "board", "lock"),)


class CompartmentTransition(Base):
    __tablename__ = "compartment_transitions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    compartment_id: Mapped[int] = mapped_column(ForeignKey("compartments.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utc_now)
    from_state: Mapped[str | None] = mapped_column(String(16), default=None)
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text, default="")


class PickupCode(Base):
    """Only the HMAC of a code is stored; the code itself goes to the recipient once."""

    __tablename__ = "pickup_codes"
    parcel_id: Mapped[str] = mapped_column(ForeignKey("parcels.id"), primary_key=True)
    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id"), index=True)
    code_hmac: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    # When this code was issued (by the controller, or by the agent at deposit); the agent and the
    # controller keep the newer of two codes for a parcel. None: issued before this was recorded.
    issued_at: Mapped[datetime | None] = mapped_column(default=None)


class LockerEvent(Base):
    """Events synced from locker agents; the agent's event id makes re-delivery harmless."""

    __tablename__ = "locker_events"
    event_uid: Mapped[str] = mapped_column(String(64), primary_key=True)
    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utc_now)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ControllerLease(Base):
    """Which controller instance drives a sortie, renewed while alive (several controllers)."""

    __tablename__ = "controller_instances"
    instance_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utc_now)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utc_now)


Index("ix_parcels_origin_state", Parcel.origin_id, Parcel.state)


class LockerCommand(Base):
    """An admin's remote command for a locker agent (e.g. open one door), picked up on its next sync."""

    __tablename__ = "locker_commands"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    board: Mapped[int] = mapped_column(Integer)
    lock: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[datetime] = mapped_column(default=utc_now)
    done_at: Mapped[datetime | None] = mapped_column(default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
