"""Settings come from DISPATCH_* variables and refuse unsafe production defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from controller.settings import Settings


def test_default_database_is_sqlite_under_the_data_dir(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("DISPATCH_DATABASE_URL", raising=False)
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'dispatch.sqlite'}"
    assert settings.is_sqlite


def test_environment_variables_are_read(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DISPATCH_DATABASE_URL", "postgresql+psycopg://u:p@db/dispatch")
    monkeypatch.setenv("DISPATCH_APPROVAL_TTL_S", "600")
    settings = Settings()
    assert settings.resolved_database_url.startswith("postgresql+psycopg://")
    assert settings.approval_ttl_s == 600 and not settings.is_sqlite


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError, match="DISPATCH_SECRET_KEY"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="CORS"):
        Settings(environment="production", secret_key="x" * 40, cors_origins=["*"])
    assert Settings(environment="production", secret_key="x" * 40).environment == "production"
