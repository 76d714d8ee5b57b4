"""Typed FastAPI dependencies: settings, a database session per request, the caller and their role.

Every route declares who may call it with :func:`allow` (or :data:`PUBLIC`); the role-matrix test
walks the app's routes and checks each declaration against real requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from controller.db.engine import DispatchSession
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


async def run_read(request: Request, session: Session, read: Callable[[], T]) -> T:
    """Run ``read`` (reads of ``session`` only, no writes) on the event loop for SQLite, else in a worker thread.

    SQLite in WAL mode never makes a reader wait and answers from a local file in microseconds, so
    for it a worker-thread hop (and the GIL hand-over it costs under load) is the larger part of a
    lookup. A network database can stall, so its reads stay off the loop. On the loop the read
    transaction ends with ``read`` (``read`` must return values, not ORM objects to load later):
    its pooled connection goes back at once instead of being held across the response, so however
    many requests are in flight the loop never waits for a free connection.
    """
    if request.app.state.engine.dialect.name == "sqlite":
        try:
            return read()
        finally:
            session.close()
    return await run_in_threadpool(read)


_WRITE_RETRY_PAUSES_S = (0.0,) + (0.001,) * 5 + (0.005,) * 8  # 45 ms in all, then a worker thread


async def run_write(session: Session, write: Callable[[], T]) -> T:
    """Run ``write`` in one write transaction of ``session`` (committed on success, rolled back on error).

    For a short SQLite write (a scan: one lookup, an update and two inserts) the worker-thread hop
    and the GIL hand-over under load cost more than the write itself, so it runs on the event loop
    when it can start without waiting (``DispatchSession.try_begin``: this process's write lock is
    free and no other process holds SQLite's). The loop then blocks for the write only, never for
    a lock: measured with 16 concurrent scans on the 2-core test machine (other jobs running),
    1.1-1.3 ms per scan at p50, 2.5-6 ms at p99, 15 ms at most. No fsync in it: with WAL and
    ``synchronous=NORMAL`` a commit does not sync, and the WAL checkpoint (which does, and was the
    10-20 ms tail) runs in a thread of its own (engine._Checkpointer). Otherwise, and always on
    PostgreSQL (a network round trip can stall), it runs in a worker thread and queues there.

    ``write`` must not start or end transactions itself and must be quick; the session must have
    none open.
    """
    if isinstance(session, DispatchSession) and session.queues_writers():
        # A writer in a worker thread or the WAL checkpointer holds the lock for about 1-15 ms: retry
        # on the loop (sleeping, not blocking) before a thread. Falling back at once would keep the
        # lock busy with thread hand-overs under steady load, and every later scan would fall back too.
        for pause_s in _WRITE_RETRY_PAUSES_S:
            transaction = session.try_begin()
            if transaction is not None:
                with transaction:
                    return write()
            await asyncio.sleep(pause_s)

    def in_worker() -> T:
        with session.begin():
            return write()

    return await run_in_threadpool(in_worker)


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    # The browser's EventSource cannot set headers; it may pass the token as a query parameter.
    return request.query_params.get("access_token")


async def current_user(request: Request) -> User:
    # Recent answers are cached briefly (see AUTH_CACHE_S): a disabled user or rotated token stops
    # working within it. A cache hit costs one HMAC on the event loop; only a miss goes to the
    # database, in a worker thread, with a session of its own (so the route's session starts with no
    # transaction open). Settings come from app.state, not SettingsDep: one dependency less to solve
    # on every authenticated request.
    token = _bearer_token(request)
    cache: auth.TokenCache = request.app.state.token_cache
    cached = cache.get(token)
    if cached is not None:
        return cached
    user = await run_in_threadpool(_authenticate, request.app.state.session_factory, token,
                                   request.app.state.settings.secret_key)
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
