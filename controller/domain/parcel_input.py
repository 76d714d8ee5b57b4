"""The validated description of a new parcel (API body, CSV row, scenario trickle)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PERISHABLE_KINDS = frozenset({"seafood", "fresh", "agri"})


class ParcelInput(BaseModel):
    """One parcel as received at its origin service point. Times must carry a UTC offset."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                    description="Barcode")
    rfid: str | None = Field(default=None, max_length=64)
    origin: str = Field(min_length=1, max_length=64, description="Origin service point id")
    destination: str = Field(min_length=1, max_length=64, description="Destination service point id")
    weight_kg: float = Field(gt=0, le=100)
    length_cm: float = Field(gt=0, le=300)
    width_cm: float = Field(gt=0, le=300)
    height_cm: float = Field(gt=0, le=300)
    priority: int = Field(default=2, ge=1, le=3, description="1 urgent … 3 low")
    ready_at: datetime | None = None
    due_at: datetime | None = None
    direction: Literal["down", "up"] = "down"
    kind: str = Field(default="parcel", max_length=32)
    perishable: bool | None = None
    recipient_name: str = Field(default="", max_length=200)
    recipient_phone: str = Field(default="", max_length=64)

    @field_validator("ready_at", "due_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("time needs a UTC offset, e.g. 2026-12-01T08:00:00+08:00")
        return value.astimezone(UTC) if value is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> "ParcelInput":
        if self.origin == self.destination:
            raise ValueError("origin and destination are the same service point")
        if self.ready_at and self.due_at and self.due_at <= self.ready_at:
            raise ValueError("due_at must be after ready_at")
        return self

    @property
    def is_perishable(self) -> bool:
        """Explicit flag, else seafood/fresh/agri kinds are perishable."""
        return self.perishable if self.perishable is not None else self.kind in PERISHABLE_KINDS
