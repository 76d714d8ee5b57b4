"""Typed FastAPI dependencies: settings, a database session per request, the caller and their role.

Every route declares who may call it with :func:`allow` (or :data:`PUBLIC`); the role-matrix test
walks the app's routes and checks each declaration against real requests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from controller.db.models import User
from controller.domain.errors import Forbidden
from controller.services import auth
from controller.services.auth import Role
from controller.settings import Settings

T = TypeVar("T")


# Dependencies that do no blocking I/O are async: a sync one costs a worker-thread hop per request.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; committed by the route's service call via ``session.begin()``.

    Creating and closing a session does not block (the connection is taken on first use, by the
    route, which runs in a worker thread)."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session:
        yield session


async def run_read(request: Request, read: Callable[[], T]) -> T:
    """Run ``read`` (database reads only, no writes) on the event loop for SQLite, else in a worker thread.

    SQLite in WAL mode never makes a reader wait and answers from a local file in microseconds, so
    for it a worker-thread hop (and the GIL hand-over it costs under load) is the larger part of a
    lookup. A network database can stall, so its reads stay off the loop.
    """
    if request.app.state.engine.dialect.name == "sqlite":
        return read()
    return await run_in_threadpool(read)


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    # The browser's EventSource cannot set headers; it may pass the token as a query parameter.
    return request.query_params.get("access_token")


async def current_user(request: Request, settings: SettingsDep) -> User:
    # Recent answers are cached briefly (see AUTH_CACHE_S): a disabled user or rotated token stops
    # working within it. A cache hit costs one HMAC on the event loop; only a miss goes to the
    # database, in a worker thread, with a session of its own (so the route's session starts with no
    # transaction open).
    token = _bearer_token(request)
    cache: auth.TokenCache = request.app.state.token_cache
    cached = cache.get(token)
    if cached is not None:
        return cached
    user = await run_in_threadpool(_authenticate, request.app.state.session_factory, token, settings.secret_key)
    cache.put(token, user)
    return user


def _authenticate(factory: sessionmaker[Session], token: str | None, secret_key: str) -> User:
    with factory() as session:
        user = auth.authenticate(session, token=token, secret_key=secret_key)
        session.expunge(user)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def allow(*roles: Role) -> Callable[[User], Coroutine[Any, Any, User]]:
    """A dependency admitting only ``roles``; the roles are kept on it for the role-matrix test."""
    allowed = frozenset(roles)

    async def check(user: CurrentUser) -> User:
        if Role(user.role) not in allowed:
            raise Forbidden(f"role {user.role!r} may not do this", role=user.role,
                            allowed=sorted(r.value for r in allowed))
        return user

    check.allowed_roles = allowed  # type: ignore[attr-defined]
    return check


async def public() -> None:
    """Marks a route that needs no token (health checks, the console's static files)."""


public.allowed_roles = None  # type: ignore[attr-defined]

ANY_ROLE = tuple(Role)
STAFF = (Role.ADMIN, Role.DISPATCHER)
FIELD = (Role.ADMIN, Role.DISPATCHER, Role.COURIER)
