"""The short-lived token cache: hits skip the database, entries expire, no clear tokens are kept."""

from __future__ import annotations

import time

from sqlalchemy import update

from controller.db.engine import transaction
from controller.db.models import User
from controller.services.auth import Role, TokenCache, hash_secret
from tests.controller.conftest import bearer


def test_cache_expires_and_holds_no_clear_tokens() -> None:
    user = User(name="u", role="dispatcher", token_hash="h")
    cache = TokenCache(secret_key="k" * 40, ttl_s=0.05)
    cache.put("dsp_secret", user)
    assert cache.get("dsp_secret") is user and cache.get("dsp_other") is None
    assert "dsp_secret" not in repr(cache.__dict__) and hash_secret("k" * 40, "dsp_secret") in cache._entries
    deadline = time.monotonic() + 2
    while cache.get("dsp_secret") is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.get("dsp_secret") is None


def test_disabled_user_is_refused_once_the_cache_entry_expires(client, role_tokens, shengsi_factory) -> None:  # type: ignore[no-untyped-def]
    token = role_tokens[Role.DISPATCHER]
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    with transaction(shengsi_factory) as session:
        session.execute(update(User).where(User.name == "test-dispatcher").values(disabled=True))
    client.app.state.token_cache.clear()  # what the TTL (DISPATCH_AUTH_CACHE_S) does by itself
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
