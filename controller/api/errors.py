"""Map errors to JSON responses once: ``{"code": …, "message": …, "details": …}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from controller.domain.errors import DispatchError

log = logging.getLogger(__name__)


def error_body(code: str, message: str, details: object = None) -> dict[str, object]:
    return {"code": code, "message": message, "details": details}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DispatchError)
    async def _domain(_: Request, exc: DispatchError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, _jsonable(exc.facts)), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                   for e in exc.errors()]
        return JSONResponse(error_body("validation_failed", "request is invalid", details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(OperationalError)
    async def _database_down(_: Request, exc: OperationalError) -> JSONResponse:
        # The transaction was rolled back with the failed connection: nothing partial was written.
        log.error("database unavailable: %s", exc.orig.__class__.__name__)
        return JSONResponse(error_body("database_unavailable", "the database is unavailable; retry shortly"),
                            status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(DataError)
    async def _value_out_of_range(_: Request, exc: DataError) -> JSONResponse:
        # PostgreSQL refused a value the request carried (e.g. an offset beyond bigint): the caller's fault.
        return JSONResponse(error_body("value_out_of_range", "a value in the request is out of range",
                                       {"error": exc.orig.__class__.__name__}), status_code=422)

    @app.exception_handler(OverflowError)
    async def _overflow(_: Request, exc: OverflowError) -> JSONResponse:
        # SQLite's driver raises a bare OverflowError binding an int beyond 64 bits (a huge query
        # parameter). Only that case is the caller's; an overflow in our own arithmetic stays a 500.
        if not _raised_in_database_driver(exc):
            raise exc
        return JSONResponse(error_body("value_out_of_range", "a number in the request is too large"),
                            status_code=422)

    @app.exception_handler(DBAPIError)
    async def _database_error(_: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return JSONResponse(error_body("database_unavailable", "the database is unavailable; retry shortly"),
                                status_code=503, headers={"Retry-After": "5"})
        raise exc


def _raised_in_database_driver(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__", "").startswith("sqlalchemy."):
            return True
        tb = tb.tb_next
    return False


def _jsonable(facts: dict[str, object]) -> dict[str, object]:
    return {key: value if isinstance(value, (str, int, float, bool, list, type(None))) else str(value)
            for key, value in facts.items()}
