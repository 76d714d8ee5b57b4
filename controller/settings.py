"""Controller configuration, read from the environment (prefix ``DISPATCH_``) and injected.

Defaults are for a developer's machine: an embedded SQLite file under ``data_dir``. Validators refuse
the unsafe development defaults (the built-in secret, open CORS) when ``environment`` is
``production``.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "development-only-secret-change-me"


class Settings(BaseSettings):
    """All controller settings; every field can be set as ``DISPATCH_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="DISPATCH_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Field(default=Path("data"), description="Where the embedded database and reports live.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/dispatch.sqlite. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db",
    )
    secret_key: str = Field(
        default=DEVELOPMENT_SECRET,
        description="Key for HMAC of API tokens and pickup codes. Must be set outside development.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    scenario: str = "shengsi"
    auth_cache_s: float = Field(default=5.0, ge=0, le=60,
                                description="How long a verified token is remembered (s); 0 disables.")
    log_json: bool = Field(default=False, description="Log JSON lines (for log shippers) instead of text.")
    cors_origins: list[str] = Field(default_factory=list, description="Allowed browser origins; none by default.")
    max_request_bytes: int = Field(default=1_000_000, ge=1024, description="Requests larger than this get 413.")
    approval_ttl_s: float = Field(default=1800.0, gt=0, description="An approval expires after this long (s).")
    reserve_fraction: float = Field(default=0.25, ge=0.0, lt=1.0, description="Battery energy kept in reserve.")
    vehicle_heartbeat_timeout_s: float = Field(default=3.0, gt=0)
    corridor_max_deviation_m: float = Field(default=150.0, gt=0)
    corridor_rtl_on_breach: bool = False
    mavlink_system_id: int = Field(default=250, ge=1, le=255, description="The controller's own MAVLink sysid.")
    mavlink_component_id: int = Field(default=190, ge=1, le=255, description="MAV_COMP_ID_MISSIONPLANNER.")
    run_vehicles: bool = Field(default=False, description="Fly approved sorties on drones with a connection URL.")
    executor_tick_s: float = Field(default=1.0, gt=0, description="How often the executor looks for work (s).")
    executor_lease_s: float = Field(
        default=15.0, ge=2.0, le=600.0,
        description="How long a sortie's lease lasts without renewal (s): after an instance dies, another "
                    "takes its sorties over this long after its last renewal. Renewed every executor tick, so "
                    "keep it several ticks long.")
    gcs_heartbeat_period_s: float = Field(
        default=1.0, gt=0, le=1.0,
        description="GCS HEARTBEAT period (s). Simulated vehicles running N times faster need 1/N.")
    pickup_code_ttl_h: float = Field(default=72.0, gt=0)
    instance_id: str | None = Field(default=None, description="Name of this controller instance (leases).")

    @model_validator(mode="after")
    def _refuse_unsafe_production_defaults(self) -> "Settings":
        if self.environment == "production":
            if self.secret_key == DEVELOPMENT_SECRET or len(self.secret_key) < 32:
                raise ValueError("DISPATCH_SECRET_KEY must be set to at least 32 characters in production")
            if "*" in self.cors_origins:
                raise ValueError("DISPATCH_CORS_ORIGINS='*' is refused in production")
        if self.executor_lease_s < 3 * self.executor_tick_s:
            # A lease renewed once a tick must survive a slow tick or two, or a live instance loses its sorties.
            raise ValueError(f"DISPATCH_EXECUTOR_LEASE_S ({self.executor_lease_s:g} s) must be at least three "
                             f"executor ticks ({3 * self.executor_tick_s:g} s)")
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL actually used (the SQLite default filled in)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'dispatch.sqlite').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite file."""
        return self.resolved_database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides taking precedence."""
    return Settings(**overrides)  # type: ignore[arg-type]
