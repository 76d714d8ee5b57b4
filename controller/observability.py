"""Structured logs and Prometheus metrics for the controller.

Logs: :func:`configure_logging` puts one handler on the root logger; with ``json=True`` every record
is one JSON object per line (``ts``, ``level``, ``logger``, ``message``, the record's ``extra=``
fields, ``exc_info`` as text). Bearer tokens (``dsp_…``), ``Authorization`` values and fields
named like secrets are replaced by ``[redacted]`` before anything is written, so a careless
``log.info("got %s", headers)`` cannot leak a token to disk.

Metrics: :func:`install_metrics` adds, per application (its own ``CollectorRegistry``, so several
apps in one process do not collide):

* ``dispatch_http_request_duration_seconds{method, route, status}`` — a histogram per route
  *template* (``/api/v1/parcels/{parcel_id}``; unmatched paths are ``route="<unmatched>"``, so
  random URLs cannot blow up the label set), timed to the start of the response (the first byte of
  an event stream);
* gauges read from the database at scrape time (never duplicated state):
  ``dispatch_sorties{state}``, ``dispatch_compartments{state}``, ``dispatch_parcels{state}``,
  ``dispatch_database_up``;
* ``dispatch_vehicle_link_up{sysid}`` from ``app.state.link_health()`` when the vehicle executor runs.

``GET /metrics`` is public like ``/healthz``: Prometheus scrapes without a token, the controller
binds to 127.0.0.1 by default, and the text holds counts only — no parcel ids, names, tokens.
Put it behind the reverse proxy's allow-list when the API is exposed beyond loopback.
"""

from __future__ import annotations

import json as jsonlib
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from controller.api.deps import public

REDACTED = "[redacted]"
_TOKEN_RE = re.compile(r"dsp_[A-Za-z0-9_\-]{8,}")
_AUTH_HEADER_RE = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?\s*(?:bearer|basic)?\s*)[^\s'\",}]+")
_SECRET_KEY_RE = re.compile(r"(?i)(token|secret|password|passwd|authorization|api_key|pickup_code|code_hash)")
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED_ROUTE = "<unmatched>"


# --------------------------------------------------------------------------------------------- logs
def redact(text: str) -> str:
    """Replace bearer tokens and ``Authorization`` values in ``text`` by ``[redacted]``.

    >>> redact("Authorization: Bearer dsp_abcdefghijklmnop ok")
    'Authorization: Bearer [redacted] ok'
    """
    text = _AUTH_HEADER_RE.sub(lambda m: m.group(1) + REDACTED, text)
    return _TOKEN_RE.sub(REDACTED, text)


def _clean(key: str, value: Any) -> Any:
    if _SECRET_KEY_RE.search(key):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(key, v) for v in value]
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line; ``extra=`` fields become top-level keys (redacted)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = _clean(key, value)
        if record.exc_info:
            entry["exc_info"] = redact(self.formatException(record.exc_info))
        return jsonlib.dumps(entry, ensure_ascii=False, default=str)


class RedactingFormatter(logging.Formatter):
    """The plain-text format, with the same redaction as :class:`JsonFormatter`."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(json: bool, *, level: int | str = logging.INFO, stream: Any = None) -> logging.Handler:
    """Send every log record to ``stream`` (default stderr) as JSON lines or plain text, redacted.

    Replaces the handler a previous call installed (idempotent); other handlers are left alone.

    Parameters
    ----------
    json: one JSON object per line when True, ``time level logger: message`` otherwise.
    level: the root logger's level.
    stream: a text stream; default ``sys.stderr``.

    Returns
    -------
    The installed handler (tests may remove it).
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_dispatch_handler", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if json else
                         RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._dispatch_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's own logging config gives its loggers private handlers and stops propagation; a
    # record must pass through the redacting handler above, so route them to the root instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
        server_logger.disabled = False
        server_logger.setLevel(logging.NOTSET)  # the root level decides
    return handler


# ------------------------------------------------------------------------------------------ metrics
class _StateGauges(Collector):
    """Gauges computed from the database (and the live vehicle links) each time Prometheus scrapes."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app

    def describe(self) -> list[Metric]:
        return []  # computed at scrape time; nothing to check for duplicates at registration

    def collect(self) -> Iterator[Metric]:
        from controller.db.models import Compartment, Parcel, Sortie
        from controller.domain.compartment_states import CompartmentState
        from controller.domain.parcel_states import ParcelState
        from controller.domain.sortie_states import SortieState

        factory: sessionmaker[Session] = self._app.state.session_factory
        families = (
            ("dispatch_sorties", "Sorties by state.", Sortie.state, SortieState),
            ("dispatch_compartments", "Locker compartments by state.", Compartment.state, CompartmentState),
            ("dispatch_parcels", "Parcels by state.", Parcel.state, ParcelState),
        )
        counts: list[dict[str, int]] = []
        database_up = 1
        try:
            with factory() as session:
                for _, _, column, _ in families:
                    rows = session.execute(select(column, func.count()).group_by(column))
                    counts.append({state: n for state, n in rows})
        except SQLAlchemyError:
            # The scrape still answers: the outage itself is the measurement.
            database_up, counts = 0, []
        up = GaugeMetricFamily("dispatch_database_up", "1 when the database answered this scrape.")
        up.add_metric([], database_up)
        yield up
        for (name, doc, _, states), by_state in zip(families, counts):
            family = GaugeMetricFamily(name, doc, labels=["state"])
            for state in states:  # every state, zeros included, so dashboards see the full set
                family.add_metric([state.value], by_state.get(state.value, 0))
            yield family
        link_health = getattr(self._app.state, "link_health", None)
        links = GaugeMetricFamily("dispatch_vehicle_link_up", "1 while the vehicle's heartbeat is seen.",
                                  labels=["sysid"])
        if link_health is not None:
            for sysid, health in sorted(link_health().items()):
                links.add_metric([str(sysid)], 1 if health == "ok" else 0)
        yield links


class _LatencyMiddleware:
    """Pure ASGI middleware timing each HTTP request to the start of its response, by route template."""

    def __init__(self, app: Callable[..., Awaitable[None]], histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        recorded = False

        def record(status: int) -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED_ROUTE
            self.histogram.labels(scope["method"], template, str(status)).observe(time.perf_counter() - started)

        async def timed_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                record(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        except BaseException:
            record(500)
            raise


def install_metrics(app: FastAPI) -> CollectorRegistry:
    """Add the latency middleware, the scrape-time gauges and ``GET /metrics`` to ``app``.

    Call it after the other middleware so the timing includes them (413s, CORS preflights).
    Returns the app's registry (also ``app.state.metrics_registry``).
    """
    registry = CollectorRegistry()
    histogram = Histogram("dispatch_http_request_duration_seconds",
                          "HTTP request latency to the start of the response, by route template.",
                          labelnames=("method", "route", "status"), buckets=LATENCY_BUCKETS_S, registry=registry)
    registry.register(_StateGauges(app))
    app.state.metrics_registry = registry
    app.add_middleware(_LatencyMiddleware, histogram=histogram)  # type: ignore[arg-type]

    router = APIRouter(tags=["health"], dependencies=[Depends(public)])

    @router.get("/metrics", response_class=Response,
                responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}})
    def metrics(request: Request) -> Response:
        """Prometheus metrics: request latency, sorties/compartments/parcels by state, vehicle links."""
        return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)
    return registry
