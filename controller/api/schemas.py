"""Response and request bodies of the HTTP API (the domain's ParcelInput is reused for intake)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from controller.domain.parcel_states import ParcelState
from controller.services.auth import Role


class ApiModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ServicePointOut(ApiModel):
    id: str
    name: str
    name_en: str
    kind: str
    island_id: str
    lat_deg: float
    lon_deg: float
    pad_id: str | None


class PadOut(ApiModel):
    id: str
    name: str
    name_en: str
    island_id: str
    service_point_id: str | None
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    capacity: int


class DroneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    name: str = Field(min_length=1, max_length=200)
    model: str = Field(min_length=1, max_length=64, description="Drone model id from flight_plans")
    home_pad: str = Field(min_length=1, max_length=64)
    sysid: int = Field(ge=1, le=254, description="MAVLink system id (SYSID_THISMAV)")
    connection_url: str | None = Field(default=None, max_length=255,
                                       description="MAVLink URL, e.g. tcp:127.0.0.1:5760")


class DroneOut(ApiModel):
    id: str
    name: str
    model: str
    max_payload_kg: float
    battery_wh: float
    cruise_speed_m_s: float
    connection_url: str | None
    sysid: int
    home_pad_id: str
    current_pad_id: str | None
    battery_pct: float


class ParcelOut(ApiModel):
    id: str
    rfid: str | None
    origin_id: str
    destination_id: str
    direction: str
    kind: str
    weight_kg: float
    length_cm: float
    width_cm: float
    height_cm: float
    priority: int
    perishable: bool
    ready_at: datetime | None
    due_at: datetime | None
    recipient_name: str
    state: ParcelState
    state_changed_at: datetime
    location_id: str | None
    sortie_id: str | None
    locker_id: str | None
    created_at: datetime


class ParcelPage(BaseModel):
    items: list[ParcelOut]
    total: int
    limit: int
    offset: int


class TrackingEventOut(ApiModel):
    id: int
    at: datetime
    from_state: str | None
    to_state: str
    place_id: str | None
    actor: str
    scanned_code: str | None
    reason: str


class ScanIn(BaseModel):
    """A scan at a place moving the parcel to a new state (e.g. loaded on the ferry, arrived)."""

    model_config = ConfigDict(extra="forbid")
    to_state: ParcelState
    place_id: str | None = Field(default=None, max_length=64)
    scanned_code: str | None = Field(default=None, max_length=128)
    reason: str = Field(default="", max_length=500)
    event_uid: str | None = Field(default=None, max_length=64, description="Idempotency key from the device")


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    role: Role


class UserOut(ApiModel):
    id: int
    name: str
    role: Role
    disabled: bool
    created_at: datetime


class UserCreated(UserOut):
    token: str = Field(description="Shown once; only its HMAC is stored")


class AuditOut(ApiModel):
    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]


class ImportRowError(BaseModel):
    row: int
    parcel_id: str
    error: str


class ImportResult(BaseModel):
    imported: list[str]
    rejected: list[ImportRowError]
