"""Route incoming MAVLink messages to waiters, subscriptions and listeners, on the event loop thread.

A waiter is registered *before* the request is sent, so a reply that comes back faster than the
sender can start awaiting is never missed::

    async with router.expect("COMMAND_ACK", lambda m: m.command == 400, timeout_s=1.5) as reply:
        connection.send(command)
        ack = await reply          # raises TimeoutError after timeout_s
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

Predicate = Callable[[Any], bool]
Listener = Callable[[Any], None]


def _types(msg_type: str | Iterable[str]) -> frozenset[str]:
    return frozenset([msg_type]) if isinstance(msg_type, str) else frozenset(msg_type)


class Expectation:
    """A pending "next message matching X"; await it (or :meth:`wait`) for the message."""

    def __init__(self, types: frozenset[str], predicate: Predicate | None, timeout_s: float) -> None:
        self.types = types
        self.predicate = predicate
        self.timeout_s = timeout_s
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def offer(self, msg: Any) -> None:
        if self.future.done() or msg.get_type() not in self.types:
            return
        if self.predicate is None or self.predicate(msg):
            self.future.set_result(msg)

    async def wait(self) -> Any:
        """Return the matching message; raise TimeoutError after ``timeout_s`` seconds."""
        async with asyncio.timeout(self.timeout_s):
            return await asyncio.shield(self.future)

    def __await__(self):  # noqa: ANN204 - awaitable protocol
        return self.wait().__await__()


class Subscription:
    """A queue of every message matching types/predicate until closed.

    ``maxlen`` bounds the queue; when full the oldest message is dropped (telemetry consumers
    want the latest state, not a backlog).
    """

    def __init__(self, types: frozenset[str] | None, predicate: Predicate | None, maxlen: int = 0) -> None:
        self.types = types
        self.predicate = predicate
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=maxlen)
        self.dropped = 0

    def offer(self, msg: Any) -> None:
        if self.types is not None and msg.get_type() not in self.types:
            return
        if self.predicate is not None and not self.predicate(msg):
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(msg)

    async def get(self, timeout_s: float | None = None) -> Any:
        """Return the next message; TimeoutError after ``timeout_s`` seconds (None: wait forever)."""
        async with asyncio.timeout(timeout_s):
            return await self.queue.get()


class MessageRouter:
    """Fan each message out to listeners (state trackers), subscriptions and one-shot waiters."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._subscriptions: list[Subscription] = []
        self._expectations: list[Expectation] = []

    def dispatch(self, msg: Any) -> None:
        """Deliver ``msg``; called on the event loop thread by the transport."""
        for listener in list(self._listeners):
            listener(msg)
        for sub in list(self._subscriptions):
            sub.offer(msg)
        for exp in list(self._expectations):
            exp.offer(msg)

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(msg)`` for every message until :meth:`remove_listener`."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``; a listener not registered is ignored."""
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    @contextlib.asynccontextmanager
    async def expect(self, msg_type: str | Iterable[str], predicate: Predicate | None = None, *,
                     timeout_s: float) -> AsyncIterator[Expectation]:
        """Register a waiter for the next matching message; it is removed on exit."""
        exp = Expectation(_types(msg_type), predicate, timeout_s)
        self._expectations.append(exp)
        try:
            yield exp
        finally:
            self._expectations.remove(exp)

    @contextlib.contextmanager
    def subscribe(self, msg_type: str | Iterable[str] | None = None, predicate: Predicate | None = None, *,
                  maxlen: int = 0) -> Iterator[Subscription]:
        """Queue every matching message (all types when ``msg_type`` is None) until exit."""
        sub = Subscription(None if msg_type is None else _types(msg_type), predicate, maxlen)
        self._subscriptions.append(sub)
        try:
            yield sub
        finally:
            self._subscriptions.remove(sub)
