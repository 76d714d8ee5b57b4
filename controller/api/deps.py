"""Typed FastAPI dependencies: settings, a database session per request, the caller and their role.

Every route declares who may call it with :func:`allow` (or :data:`PUBLIC`); the role-matrix test
walks the app's routes and checks each declaration against real requests.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Dialect, Engine
from sqlalchemy.orm import Session, sessionmaker

from controller.db.engine import begin_on_loop, queues_writers
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


async def run_read(request: Request, read: Callable[[Session], T]) -> T:
    """Run ``read`` (reads only, no writes) on a session of its own: on the event loop for SQLite,
    else in a worker thread.

    SQLite in WAL mode never makes a reader wait and answers from a local file in microseconds, so
    for it a worker-thread hop (and the GIL hand-over it costs under load) is the larger part of a
    lookup. A network database can stall, so its reads stay off the loop. The read transaction ends
    with ``read`` (``read`` must return values, not ORM objects to load later): its pooled connection
    goes back at once instead of being held across the response, so however many requests are in
    flight the loop never waits for a free connection. The route needs no SessionDep for it (a
    generator dependency per request, see ``run_write``).
    """
    factory: sessionmaker[Session] = request.app.state.session_factory

    def in_session() -> T:
        with factory() as session:
            return read(session)

    if request.app.state.engine.dialect.name == "sqlite":
        return in_session()
    return await run_in_threadpool(in_session)


async def run_write(request: Request, write: Callable[[Session], T],
                    on_loop: Callable[[sqlite3.Connection, Dialect], T] | None = None) -> T:
    """Run one write transaction (committed on success, rolled back on error): ``write`` on a session
    of its own in a worker thread, or ``on_loop`` on the event loop for SQLite.

    For a short SQLite write (a scan: one lookup, an update and two inserts) the worker-thread hop
    and the GIL hand-over under load cost more than the write itself, so ``on_loop`` (the same
    write on a raw sqlite3 connection, given its dialect) runs on the event loop: the request waits
    for this process's write lock in FIFO order with the loop's other writers, without polling and
    without blocking the loop (``engine.begin_on_loop``), and the loop blocks for the write only.
    Measured under the API bench's scan load (16 connections, 2-core test machine; two runs, 550
    and 690 scans/s, 5100 and 6200 scans), from BEGIN IMMEDIATE done to the lock released: the loop
    blocks 0.36-0.37 ms per scan at p50, 0.95-1.0 ms at p99, 1.6 ms at p99.9, 3.0-3.3 ms at most.
    No fsync in it: with WAL and
    ``synchronous=NORMAL`` a commit does not sync, and the WAL checkpoint (which does) runs in a
    thread of its own (engine._Checkpointer). When another process (the CLI) holds
    SQLite's lock, and always on PostgreSQL (a network round trip can stall), ``write`` runs in a
    worker thread and queues there.

    The route needs no SessionDep for it: the session is opened only on the worker path (a
    generator dependency and a Session per request were about a tenth of a scan's time on the loop).
    Neither may start or end transactions itself; both must be quick.
    """
    engine: Engine = request.app.state.engine
    if on_loop is not None and queues_writers(engine):
        loop_write = await begin_on_loop(engine)
        if loop_write is not None:
            with loop_write as connection:
                return on_loop(connection, engine.dialect)
    factory: sessionmaker[Session] = request.app.state.session_factory

    def in_worker() -> T:
        with factory() as session, session.begin():
            return write(session)

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
