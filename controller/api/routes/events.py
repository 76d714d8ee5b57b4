"""`GET /api/v1/events`: live events as Server-Sent Events (the console's push channel)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from controller.api.deps import STAFF, allow
from controller.db.models import User
from controller.events import EventBus

router = APIRouter(prefix="/api/v1", tags=["events"])
KEEPALIVE_S = 15.0


@router.get("/events")
async def events(request: Request, _: Annotated[User, Depends(allow(*STAFF))]) -> StreamingResponse:
    """Stream live events (``sortie``, ``vehicle``, ``locker``, ``bus``, ``alert``, ``parcel``).

    Browsers' EventSource cannot send headers: pass the token as ``?access_token=``.
    """
    bus: EventBus = request.app.state.events

    async def stream() -> AsyncIterator[str]:
        yield ": connected\n\n"
        subscription = bus.subscribe()
        try:
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(anext(subscription), timeout=KEEPALIVE_S)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                yield event.sse()
        finally:
            await subscription.aclose()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
