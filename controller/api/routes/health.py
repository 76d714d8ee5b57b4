"""Liveness and readiness probes (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from controller.api.deps import public

router = APIRouter(tags=["health"], dependencies=[Depends(public)])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers and every attached vehicle link is alive."""
    checks: dict[str, object] = {}
    ready = True
    try:
        with request.app.state.session_factory() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure, it does not hide it
        checks["database"] = f"unavailable: {exc.__class__.__name__}"
        ready = False
    links = getattr(request.app.state, "link_health", None)
    if links is not None:
        health = links()
        checks["vehicle_links"] = health
        ready = ready and all(h == "ok" for h in health.values())
    return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                        status_code=200 if ready else 503)
