"""The dispatcher's one-screen board (一屏掌握), daily statistics and alerts, as plain read queries.

Days are calendar days in the scenario's local time (Asia/Shanghai for Shengsi); times go out as UTC
ISO strings and the console formats them in Asia/Shanghai.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from controller.db.models import (
    Alert,
    Compartment,
    CompartmentTransition,
    Locker,
    LockerEvent,
    Parcel,
    ServicePoint,
    Sortie,
    TrackingEvent,
)
from controller.db.types import utc_now
from controller.domain.compartment_states import CompartmentState
from controller.domain.errors import Conflict, NotFound
from controller.domain.parcel_states import ParcelState
from controller.domain.sortie_states import SortieState
from controller.services import audit

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
#: A locker agent that has not been heard from for this long is shown offline.
LOCKER_ONLINE_WINDOW_S = 180.0
#: Parcels still waiting at a service point (not yet on their way).
WAITING_STATES = (ParcelState.RECEIVED.value, ParcelState.SCHEDULED.value, ParcelState.AT_SERVICE_POINT.value)
#: A parcel in one of these states is no longer the network's to deliver.
FINAL_STATES = (ParcelState.PICKED_UP.value, ParcelState.RETURNED.value, ParcelState.CANCELLED.value,
                ParcelState.LOST.value)
#: Reaching one of these at the destination counts as delivered (on time if by ``due_at``).
DELIVERED_STATES = frozenset({ParcelState.AT_LOCKER.value, ParcelState.AT_SERVICE_POINT.value,
                              ParcelState.PICKED_UP.value})
_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
_NOT_FLOWN = (SortieState.REJECTED.value, SortieState.CANCELLED.value)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


# --- alerts ---------------------------------------------------------------------------------------


def alert_view(alert: Alert) -> dict[str, Any]:
    return {"id": alert.id, "at": _iso(alert.at), "severity": alert.severity, "kind": alert.kind,
            "object_type": alert.object_type, "object_id": alert.object_id, "message": alert.message,
            "acknowledged_at": _iso(alert.acknowledged_at), "acknowledged_by": alert.acknowledged_by}


def list_alerts(session: Session, *, open_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    """Alerts with open ones first, then by severity (critical first), then newest first."""
    severity = case(_SEVERITY_RANK, value=Alert.severity, else_=3)
    query = select(Alert).order_by(Alert.acknowledged_at.is_not(None), severity, Alert.at.desc(), Alert.id.desc())
    if open_only:
        query = query.where(Alert.acknowledged_at.is_(None))
    return [alert_view(a) for a in session.scalars(query.limit(limit))]


def acknowledge_alert(session: Session, *, alert_id: int, actor: str, now: datetime | None = None) -> Alert:
    """Mark an open alert acknowledged by ``actor``.

    Raises:
        NotFound: no such alert.
        Conflict: it was already acknowledged (by whom and when are in the error's facts).
    """
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound("alert", str(alert_id))
    if alert.acknowledged_at is not None:
        raise Conflict(f"alert {alert_id} was already acknowledged by {alert.acknowledged_by}",
                       acknowledged_by=alert.acknowledged_by, acknowledged_at=_iso(alert.acknowledged_at))
    alert.acknowledged_at = now or utc_now()
    alert.acknowledged_by = actor
    audit.record(session, actor=actor, action="alert.ack", object_type="alert", object_id=str(alert_id),
                 details={"kind": alert.kind, "object_type": alert.object_type, "object_id": alert.object_id})
    session.flush()
    return alert


# --- the board ------------------------------------------------------------------------------------


def board(session: Session, *, now: datetime | None = None) -> dict[str, Any]:
    """Every service point and locker with its state at a glance, open alerts on top.

    Service points: ``waiting`` = parcels at the point not yet on their way (received, scheduled,
    at_service_point); ``overdue`` = parcels still in the network (not picked up, returned, cancelled
    or lost) that are waiting here or bound here and past their ``due_at``; ``last_event`` = the newest
    tracking event placed at the point. Lockers: compartments counted by state, ``online`` when the
    agent was heard from within ``LOCKER_ONLINE_WINDOW_S``, and the newest locker event.
    """
    now = now or utc_now()
    points = list(session.scalars(select(ServicePoint).order_by(ServicePoint.id)))
    waiting = Counter(dict(session.execute(
        select(Parcel.location_id, func.count()).where(Parcel.state.in_(WAITING_STATES))
        .group_by(Parcel.location_id)).all()))
    live = select(Parcel).where(Parcel.state.not_in(FINAL_STATES), Parcel.due_at.is_not(None), Parcel.due_at < now)
    overdue: Counter[str] = Counter()
    for parcel in session.scalars(live):
        places = {parcel.destination_id}
        if parcel.state in WAITING_STATES and parcel.location_id:
            places.add(parcel.location_id)
        overdue.update(places)
    latest_at = (select(TrackingEvent.place_id, func.max(TrackingEvent.id).label("last_id"))
                 .group_by(TrackingEvent.place_id).subquery())
    last_events = {e.place_id: e for e in session.scalars(
        select(TrackingEvent).join(latest_at, TrackingEvent.id == latest_at.c.last_id))}
    lockers = list(session.scalars(select(Locker).order_by(Locker.id)))
    lockers_by_point: dict[str, list[str]] = defaultdict(list)
    for locker in lockers:
        if locker.service_point_id:
            lockers_by_point[locker.service_point_id].append(locker.id)
    service_points = []
    for point in points:
        event = last_events.get(point.id)
        service_points.append({
            "id": point.id, "name": point.name, "name_en": point.name_en, "kind": point.kind,
            "pad_id": point.pad_id, "waiting": waiting.get(point.id, 0), "overdue": overdue.get(point.id, 0),
            "lockers": lockers_by_point.get(point.id, []),
            "last_event": None if event is None else {
                "at": _iso(event.at), "parcel_id": event.parcel_id, "to_state": event.to_state,
                "actor": event.actor, "reason": event.reason}})
    return {"at": _iso(now), "alerts": list_alerts(session, open_only=True, limit=50),
            "service_points": service_points, "lockers": [locker_view(session, lk, now=now) for lk in lockers]}


def locker_view(session: Session, locker: Locker, *, now: datetime) -> dict[str, Any]:
    """A locker's compartment counts, online flag and newest event."""
    counts = Counter(dict(session.execute(
        select(Compartment.state, func.count()).where(Compartment.locker_id == locker.id)
        .group_by(Compartment.state)).all()))
    event = session.scalar(select(LockerEvent).where(LockerEvent.locker_id == locker.id)
                           .order_by(LockerEvent.at.desc()).limit(1))
    last_event = None if event is None else {"at": _iso(event.at), "kind": event.kind}
    if last_event is None:
        change = session.scalar(
            select(CompartmentTransition).join(Compartment, Compartment.id == CompartmentTransition.compartment_id)
            .where(Compartment.locker_id == locker.id).order_by(CompartmentTransition.id.desc()).limit(1))
        if change is not None:
            last_event = {"at": _iso(change.at), "kind": f"compartment.{change.to_state}"}
    online = locker.last_seen_at is not None and (now - locker.last_seen_at).total_seconds() <= LOCKER_ONLINE_WINDOW_S
    return {
        "id": locker.id, "name": locker.name, "kind": locker.kind, "bus_line_id": locker.bus_line_id,
        "service_point_id": locker.service_point_id, "online": online, "last_seen_at": _iso(locker.last_seen_at),
        "position": None if locker.lat_deg is None else {"lat_deg": locker.lat_deg, "lon_deg": locker.lon_deg},
        "compartments": {
            "total": sum(counts.values()),
            "free": counts.get(CompartmentState.FREE.value, 0),
            "occupied": counts.get(CompartmentState.OCCUPIED.value, 0),
            "faulty": counts.get(CompartmentState.FAULTY.value, 0),
            "offline": counts.get(CompartmentState.OFFLINE.value, 0),
            "busy": counts.get(CompartmentState.RESERVED.value, 0) + counts.get(CompartmentState.OPEN.value, 0)},
        "last_event": last_event,
    }


# --- daily statistics -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DayWindow:
    """``days`` local calendar days ending with ``end`` (inclusive)."""

    end: date
    days: int

    @property
    def dates(self) -> list[date]:
        return [self.end - timedelta(days=self.days - 1 - i) for i in range(self.days)]

    @property
    def start_utc(self) -> datetime:
        return datetime.combine(self.dates[0], time(0), LOCAL_TZ)

    @property
    def end_utc(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(0), LOCAL_TZ)


def local_day(value: datetime) -> date:
    return value.astimezone(LOCAL_TZ).date()


def daily_stats(session: Session, *, days: int, end: date | None = None) -> dict[str, Any]:
    """Per local day: parcels taken in by direction, deliveries and the on-time rate, sorties and energy.

    - ``parcels_down`` / ``parcels_up``: parcels registered (``created_at``) that day by direction.
    - ``delivered`` / ``on_time``: parcels first reaching their destination (locker, service point or
      picked up there) that day, and how many of those arrived by their ``due_at`` (no due = on time);
      ``on_time_rate`` is ``on_time / delivered`` or null on a day without deliveries.
    - ``sorties`` / ``energy_wh``: sorties departing that day (not rejected or cancelled) and their planned
      energy; ``sorties_completed`` of those completed.
    """
    window = DayWindow(end=end or local_day(utc_now()), days=days)
    rows = {d: {"date": d.isoformat(), "parcels_down": 0, "parcels_up": 0, "delivered": 0, "on_time": 0,
                "on_time_rate": None, "sorties": 0, "sorties_completed": 0, "energy_wh": 0.0}
            for d in window.dates}
    start, stop = window.start_utc, window.end_utc
    for created_at, direction in session.execute(
            select(Parcel.created_at, Parcel.direction).where(Parcel.created_at >= start, Parcel.created_at < stop)):
        key = "parcels_up" if direction == "up" else "parcels_down"
        rows[local_day(created_at)][key] += 1
    arrivals = session.execute(
        select(TrackingEvent.parcel_id, func.min(TrackingEvent.at))
        .join(Parcel, Parcel.id == TrackingEvent.parcel_id)
        .where(TrackingEvent.to_state.in_(DELIVERED_STATES), TrackingEvent.place_id == Parcel.destination_id)
        .group_by(TrackingEvent.parcel_id)).all()
    due = dict(session.execute(select(Parcel.id, Parcel.due_at).where(
        Parcel.id.in_([parcel_id for parcel_id, at in arrivals if start <= _aware(at) < stop]))).all())
    for parcel_id, at in arrivals:
        at = _aware(at)
        if not start <= at < stop:
            continue
        row = rows[local_day(at)]
        row["delivered"] += 1
        if due.get(parcel_id) is None or at <= due[parcel_id]:
            row["on_time"] += 1
    for depart_at, state, energy_wh in session.execute(
            select(Sortie.depart_at, Sortie.state, Sortie.energy_wh)
            .where(Sortie.depart_at >= start, Sortie.depart_at < stop, Sortie.state.not_in(_NOT_FLOWN))):
        row = rows[local_day(depart_at)]
        row["sorties"] += 1
        row["energy_wh"] += energy_wh
        if state == SortieState.COMPLETED.value:
            row["sorties_completed"] += 1
    for row in rows.values():
        row["energy_wh"] = round(row["energy_wh"], 1)
        if row["delivered"]:
            row["on_time_rate"] = round(row["on_time"] / row["delivered"], 4)
    return {"timezone": str(LOCAL_TZ), "start": window.dates[0].isoformat(), "end": window.end.isoformat(),
            "days": [rows[d] for d in window.dates]}


def _aware(value: datetime) -> datetime:
    # Aggregates (min) bypass the column type: SQLite gives naive UTC (or text), PostgreSQL aware values.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
