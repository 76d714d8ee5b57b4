"""`POST /api/v1/schedule`: run the scheduler over pending parcels."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, field_validator

from controller.api.deps import STAFF, SessionDep, SettingsDep, allow
from controller.db.models import User
from controller.db.types import utc_now
from controller.scenario import load_scenario
from controller.scheduling import Wind
from controller.services.scheduling_run import ScheduleRequest, run_schedule

router = APIRouter(prefix="/api/v1", tags=["schedule"])


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: datetime | None = Field(default=None, description="Planning start (with offset); default now")
    wind_ms: float = Field(default=0.0, ge=0, le=60, description="Mean wind speed (m/s)")
    wind_from_deg: float = Field(default=0.0, ge=0, lt=360, description="Direction the wind blows FROM")
    gust_ms: float | None = Field(default=None, ge=0, le=80)
    horizon_hours: float = Field(default=12.0, gt=0, le=48)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("at needs a UTC offset")
        return value


@router.post("/schedule")
def schedule(body: ScheduleIn, session: SessionDep, settings: SettingsDep,
             user: Annotated[User, Depends(allow(*STAFF))]) -> dict[str, Any]:
    """Plan sorties (as ``planned``, awaiting approval), ferry/bus legs, and report unassigned parcels."""
    request = ScheduleRequest(at=body.at or utc_now(), horizon_s=body.horizon_hours * 3600.0, seed=body.seed,
                              wind=Wind(speed_m_s=body.wind_ms, from_deg=body.wind_from_deg, gust_m_s=body.gust_ms))
    with session.begin():
        return run_schedule(session, scenario=load_scenario(settings.scenario), request=request, actor=user.name)
