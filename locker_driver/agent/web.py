"""The bus-side web app: the kiosk page (pickup code), the courier page (deposit, take-back) and
their JSON API, served by uvicorn in ``locker-agent run``.

JSON API (errors: ``{"code", "message", "details"}`` with the status of the agent error)::

    GET  /api/status                          ready, interlock, keypad lockout, compartments
    POST /api/pickup           {"code"}       -> {"board", "lock", "parcel_id"}
    POST /api/courier/login    {"name","pin"} -> {"token", "name"}        (then Bearer token)
    POST /api/courier/deposit  {"parcel_id", "size"?} -> {"board", "lock", "size", "faulty_doors"}
    POST /api/courier/doors/{board}/{lock}/check   -> {"state", "door_open", "parcel_id"}
    GET  /api/courier/expired                      -> [{"parcel_id", "board", "lock", "expires_at"}]
    POST /api/courier/take-back {"parcel_id"}      -> {"board", "lock", "parcel_id"}
    POST /api/gps {"speed_kmh", "lat_deg"?, "lon_deg"?}  (header X-Gps-Token; only with a feed token)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, ValidationError
from starlette.routing import Route

from locker_driver.agent.errors import AgentError, LockedOut, NotSignedIn
from locker_driver.agent.service import LockerService

STATIC = Path(__file__).parent / "static"
SESSION_S = 30 * 60.0  # a courier session lasts this long, s
LOGIN_FREE_FAILURES = 5
LOGIN_LOCKOUT_BASE_S = 60.0


class SettableGps(Protocol):
    def set(self, *, speed_kmh: float, lat_deg: float | None = None, lon_deg: float | None = None) -> None: ...


class CodeIn(BaseModel):
    code: str = Field(max_length=32)


class LoginIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    pin: str = Field(min_length=1, max_length=64)


class DepositIn(BaseModel):
    parcel_id: str = Field(min_length=1, max_length=64)
    size: str | None = Field(default=None, pattern="^[SML]$")


class ParcelIn(BaseModel):
    parcel_id: str = Field(min_length=1, max_length=64)


class GpsIn(BaseModel):
    speed_kmh: float = Field(ge=0, le=300)
    lat_deg: float | None = Field(default=None, ge=-90, le=90)
    lon_deg: float | None = Field(default=None, ge=-180, le=180)


class Couriers:
    """Courier PINs (kept as salted hashes in memory) and signed-in sessions.

    Sign-in failures lock sign-in for 60 s doubling after 5 (monotonic wall time: a person waits).
    """

    def __init__(self, pins: dict[str, str]) -> None:
        self._salt = secrets.token_bytes(16)
        self._pins = {name: self._hash(name, pin) for name, pin in pins.items()}
        self._sessions: dict[str, tuple[str, float]] = {}
        self._failures = 0
        self._locked_until = 0.0

    def _hash(self, name: str, pin: str) -> bytes:
        return hashlib.pbkdf2_hmac("sha256", f"{name}\0{pin}".encode(), self._salt, 10_000)

    def login(self, name: str, pin: str) -> str:
        """Return a session token for a right name and PIN.

        Raises:
            LockedOut: too many failures. NotSignedIn: wrong name or PIN.
        """
        now = time.monotonic()
        if now < self._locked_until:
            raise LockedOut(retry_after_s=self._locked_until - now)
        expected = self._pins.get(name, self._hash("\0unknown", "\0"))
        if not hmac.compare_digest(expected, self._hash(name, pin)) or name not in self._pins:
            self._failures += 1
            if self._failures >= LOGIN_FREE_FAILURES:
                self._locked_until = now + LOGIN_LOCKOUT_BASE_S * 2 ** (self._failures - LOGIN_FREE_FAILURES)
            raise NotSignedIn("wrong courier name or PIN")
        self._failures = 0
        token = secrets.token_urlsafe(24)
        self._sessions[token] = (name, now + SESSION_S)
        return token

    def who(self, token: str | None) -> str:
        """Return the courier signed in with ``token``; raise NotSignedIn otherwise."""
        entry = self._sessions.get(token or "")
        if entry is None or entry[1] < time.monotonic():
            raise NotSignedIn("sign in first")
        return entry[0]


def signed_in_courier(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """Dependency: the courier name behind the request's bearer session token."""
    scheme, _, token = (authorization or "").partition(" ")
    couriers: Couriers = request.app.state.couriers
    return couriers.who(token.strip() if scheme.lower() == "bearer" else None)


# Module level: with postponed annotations FastAPI resolves these names in the module's namespace.
Courier = Annotated[str, Depends(signed_in_courier)]


def create_web_app(service: LockerService, *, couriers: Couriers, gps: SettableGps | None = None,
                   gps_token: str | None = None) -> FastAPI:
    """Build the kiosk/courier app around ``service``.

    Parameters:
        couriers: who may deposit.
        gps, gps_token: enable ``POST /api/gps`` for the on-board GPS feed (both needed).
    """
    app = FastAPI(title=f"Locker {service.config.locker_id}", docs_url=None, redoc_url=None)
    app.state.service = service
    app.state.couriers = couriers

    @app.exception_handler(AgentError)
    async def _agent_error(_: Request, error: AgentError) -> JSONResponse:
        headers = {"Retry-After": str(error.facts["retry_after_s"])} if isinstance(error, LockedOut) else None
        return JSONResponse({"code": error.code, "message": error.message, "details": error.facts},
                            status_code=error.http_status, headers=headers)

    @app.get("/", include_in_schema=False)
    def kiosk_page() -> FileResponse:
        return FileResponse(STATIC / "kiosk.html")

    @app.get("/courier", include_in_schema=False)
    def courier_page() -> FileResponse:
        return FileResponse(STATIC / "courier.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/status")
    def status() -> dict[str, Any]:
        return service.status()

    # A plain route: the keypad is the agent's hot path, and FastAPI's per-request dependency solving and
    # response encoding were ~60 % of the event loop's time at 500 pickups/s (measured: saturation
    # median ~620 -> ~750 req/s). Same body model, same 422 and error answers as the other endpoints.
    async def pickup(request: Request) -> JSONResponse:
        try:
            body = CodeIn.model_validate_json(await request.body())
        except ValidationError as error:
            return JSONResponse({"detail": jsonable_encoder(error.errors(include_url=False))}, status_code=422)
        opened = await service.pickup(body.code)
        return JSONResponse({"board": opened.board, "lock": opened.lock, "parcel_id": opened.parcel_id})

    app.router.routes.append(Route("/api/pickup", pickup, methods=["POST"]))

    @app.post("/api/courier/login")
    def login(body: LoginIn) -> dict[str, Any]:
        return {"token": couriers.login(body.name.strip(), body.pin), "name": body.name.strip()}

    @app.post("/api/courier/deposit")
    async def deposit(body: DepositIn, name: Courier) -> dict[str, Any]:
        opened = await service.deposit(courier=name, parcel_id=body.parcel_id, size=body.size)
        return {"board": opened.board, "lock": opened.lock, "size": opened.size, "parcel_id": opened.parcel_id,
                "faulty_doors": list(opened.faulty_doors)}

    @app.post("/api/courier/doors/{board}/{lock}/check")
    async def check_door(board: int, lock: int, _: Courier) -> dict[str, Any]:
        await service.poll()
        view = next((c for c in service.compartments_view() if c["board"] == board and c["lock"] == lock), None)
        if view is None:
            raise AgentError(f"no door {board}/{lock}", board=board, lock=lock)
        return {"state": view["state"], "door_open": view["door_open"], "parcel_id": view["parcel_id"]}

    @app.get("/api/courier/expired")
    def expired(_: Courier) -> list[dict[str, Any]]:
        return [{"parcel_id": p.parcel_id, "board": p.board, "lock": p.lock,
                 "expires_at": p.expires_at.isoformat() if p.expires_at else None}
                for p in service.expired_parcels()]

    @app.post("/api/courier/take-back")
    async def take_back(body: ParcelIn, name: Courier) -> dict[str, Any]:
        opened = await service.take_back(courier=name, parcel_id=body.parcel_id)
        return {"board": opened.board, "lock": opened.lock, "parcel_id": opened.parcel_id}

    @app.post("/api/gps")
    def post_gps(body: GpsIn, x_gps_token: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        if gps is None or gps_token is None or not hmac.compare_digest(x_gps_token or "", gps_token):
            raise NotSignedIn("GPS feed not enabled or wrong token")
        gps.set(speed_kmh=body.speed_kmh, lat_deg=body.lat_deg, lon_deg=body.lon_deg)
        return {"ok": True}

    return app
