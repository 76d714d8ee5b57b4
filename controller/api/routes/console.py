"""The dispatcher console's static files at ``/console/`` (no token: the pages hold no data)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from controller.api.deps import public
from controller.console import STATIC_DIR

router = APIRouter(dependencies=[Depends(public)])


@router.get("/", include_in_schema=False)
def index() -> RedirectResponse:
    """Send a browser at the controller's root to the console."""
    return RedirectResponse("/console/", status_code=307)


router.mount("/console", StaticFiles(directory=STATIC_DIR, html=True), name="console")
