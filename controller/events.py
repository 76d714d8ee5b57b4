"""In-process live events (sortie state, vehicle positions, lockers, alerts) for the consoles.

Publishers may be synchronous code running in worker threads (the API's sync routes) or asyncio
tasks; subscribers are asyncio consumers (the SSE endpoint). A slow subscriber loses its oldest
events rather than slowing the publishers down.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from controller.db.types import utc_now


@dataclass(frozen=True, kw_only=True)
class LiveEvent:
    id: int
    kind: str  # "sortie" | "vehicle" | "locker" | "bus" | "alert" | "parcel"
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    def sse(self) -> str:
        """The event as one Server-Sent Events frame."""
        body = json.dumps({"at": self.at.isoformat().replace("+00:00", "Z"), **self.data}, ensure_ascii=False,
                          default=str)
        return f"id: {self.id}\nevent: {self.kind}\ndata: {body}\n\n"


class EventBus:
    """Fan-out of live events to any number of subscribers; safe to publish from any thread."""

    def __init__(self, *, queue_size: int = 1000) -> None:
        self._queues: set[asyncio.Queue[LiveEvent]] = set()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue_size = queue_size

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the loop subscribers live on (called from the app's lifespan)."""
        self._loop = loop

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Send an event to every subscriber (no-op when nobody listens or no loop is bound)."""
        if self._loop is None or self._loop.is_closed():
            return
        event = LiveEvent(id=next(self._ids), kind=kind, at=utc_now(), data=data)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._deliver(event)
        else:
            self._loop.call_soon_threadsafe(self._deliver, event)

    def _deliver(self, event: LiveEvent) -> None:
        for queue in list(self._queues):
            if queue.full():
                queue.get_nowait()  # drop the oldest: positions are superseded anyway
            queue.put_nowait(event)

    async def subscribe(self) -> AsyncIterator[LiveEvent]:
        """Yield events published from now on, until the consumer stops iterating."""
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(maxsize=self._queue_size)
        self._queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._queues)
