"""API fixtures: an app on a migrated Shengsi database and one token per role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from controller.api.app import create_app
from controller.db.engine import transaction
from controller.services import auth
from controller.services.auth import Role
from tests.conftest import TEST_SECRET, make_settings


@pytest.fixture
def settings(sqlite_url, tmp_path, shengsi_factory):  # type: ignore[no-untyped-def]
    return make_settings(sqlite_url, tmp_path)


@pytest.fixture
def role_tokens(shengsi_factory: sessionmaker[Session]) -> dict[Role, str]:
    """One user per role; returns their tokens."""
    tokens = {}
    with transaction(shengsi_factory) as session:
        for role in Role:
            _, tokens[role] = auth.create_user(session, name=f"test-{role.value}", role=role,
                                               secret_key=TEST_SECRET, actor="test")
    return tokens


@pytest.fixture
def client(settings) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
