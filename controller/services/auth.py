"""API tokens: random, shown once, stored only as an HMAC under the controller's secret key."""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.db.models import User
from controller.domain.errors import AlreadyExists, NotAuthenticated, ValidationFailed
from controller.services import audit

TOKEN_PREFIX = "dsp_"


class Role(str, enum.Enum):
    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    COURIER = "courier"
    KIOSK = "kiosk"


def hash_secret(secret_key: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` under ``secret_key`` (hex). Used for tokens and pickup codes."""
    return hmac.new(secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()


def new_token() -> str:
    """A fresh API token (256 bits of randomness)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_user(session: Session, *, name: str, role: Role, secret_key: str, actor: str) -> tuple[User, str]:
    """Create a user and return it with its token; the token is not stored and cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 128:
        raise ValidationFailed("user name must be 1-128 characters", field="name")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise AlreadyExists("user", name)
    token = new_token()
    user = User(name=name, role=Role(role).value, token_hash=hash_secret(secret_key, token))
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="user.create", object_type="user", object_id=name,
                 details={"role": user.role})
    return user, token


def authenticate(session: Session, *, token: str | None, secret_key: str) -> User:
    """Return the enabled user holding ``token``; raise NotAuthenticated otherwise."""
    if not token:
        raise NotAuthenticated("missing bearer token")
    user = session.scalar(select(User).where(User.token_hash == hash_secret(secret_key, token)))
    if user is None or user.disabled:
        raise NotAuthenticated("invalid or disabled token")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def rotate_token(session: Session, *, name: str, role: Role, secret_key: str, actor: str) -> str:
    """Issue a new token for user ``name`` (creating it with ``role`` if needed); the old token stops working."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        return create_user(session, name=name, role=role, secret_key=secret_key, actor=actor)[1]
    token = new_token()
    user.token_hash = hash_secret(secret_key, token)
    audit.record(session, actor=actor, action="user.rotate_token", object_type="user", object_id=name)
    return token


class TokenCache:
    """Remember which user a token belongs to for ``ttl_s`` seconds (only successful look-ups).

    Keys are the tokens' HMACs, so the cache holds no clear tokens either.
    """

    def __init__(self, *, secret_key: str, ttl_s: float = 5.0, max_entries: int = 1024) -> None:
        self._secret_key = secret_key
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: dict[str, tuple[float, User]] = {}
        self._lock = threading.Lock()

    def get(self, token: str | None) -> User | None:
        if not token:
            return None
        key = hash_secret(self._secret_key, token)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] < time.monotonic():
                self._entries.pop(key, None)
                return None
            return entry[1]

    def put(self, token: str | None, user: User) -> None:
        if not token or self._ttl_s <= 0:
            return
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[hash_secret(self._secret_key, token)] = (time.monotonic() + self._ttl_s, user)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
