"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controller.api.errors import error_body, install_error_handlers
from controller.api.routes import (
    board, console, drones, events, health, lockers, network, parcels, schedule, sorties, users,
)
from controller.db.engine import make_engine, make_session_factory
from controller.events import EventBus
from controller.services.auth import TokenCache
from controller.observability import install_metrics
from controller.operations.ground import GroundOperations
from controller.operations.lifespan import run_vehicle_executor
from controller.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    """Build the controller's app for ``settings``; the database must already be migrated."""
    engine = make_engine(settings.resolved_database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.events.bind(asyncio.get_running_loop())
        # Everything loaded so far (modules, ORM mappers, routes) lives as long as the process; kept
        # out of the collector, a full collection no longer walks it and stops pausing requests for
        # tens of ms under load.
        gc.collect()
        gc.freeze()
        if not settings.run_vehicles:
            yield
            engine.dispose()
            return
        async with run_vehicle_executor(app, settings):
            yield
        engine.dispose()

    app = FastAPI(title="Island dispatch controller", version="0.1.0", lifespan=lifespan,
                  description="Parcels, drone sorties and smart lockers for the Shengsi island network.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.operations = GroundOperations(app.state.session_factory)
    app.state.events = EventBus()
    app.state.token_cache = TokenCache(secret_key=settings.secret_key, ttl_s=settings.auth_cache_s)

    install_error_handlers(app)
    _limit_request_size(app, settings.max_request_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                           allow_headers=["Authorization", "Content-Type"])
    for module in (health, network, parcels, drones, users, schedule, sorties, events, board, lockers, console):
        app.include_router(module.router)
    install_metrics(app)  # last: its timing middleware is the outermost, so 413s and preflights count
    return app


def _limit_request_size(app: FastAPI, max_bytes: int) -> None:
    app.add_middleware(_RequestSizeLimit, max_bytes=max_bytes)  # type: ignore[arg-type]


class _RequestSizeLimit:
    """413 for bodies over ``max_bytes``: by Content-Length before reading, and by counting the bytes of
    a chunked body (no Content-Length) as they arrive, so a streamed upload cannot bypass the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            refusal = JSONResponse(error_body("payload_too_large", f"request body over {self.max_bytes} bytes"),
                                   status_code=413)
            await refusal(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException passes FastAPI's body parsing unchanged; errors.py maps it to 413.
                    raise StarletteHTTPException(413, f"request body over {self.max_bytes} bytes")
            return message

        await self.app(scope, counted, send)
