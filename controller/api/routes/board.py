"""The one-screen board, daily statistics and alerts for the dispatcher console."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from controller.api.deps import STAFF, SessionDep, allow
from controller.db.models import User
from controller.services import board

router = APIRouter(prefix="/api/v1", tags=["board"])
Staff = Annotated[User, Depends(allow(*STAFF))]


@router.get("/board")
def get_board(session: SessionDep, _: Staff) -> dict[str, Any]:
    """Every service point (parcels waiting, overdue, last event) and locker (online, compartments,
    last event), with open alerts first."""
    return board.board(session)


@router.get("/stats/daily")
def daily_stats(session: SessionDep, _: Staff, days: Annotated[int, Query(ge=1, le=92)] = 14,
                end: Annotated[date | None, Query(description="Last local day (Asia/Shanghai); default today")] = None,
                ) -> dict[str, Any]:
    """Per local day: parcels in by direction, deliveries and on-time rate, sorties and planned energy."""
    return board.daily_stats(session, days=days, end=end)


@router.get("/alerts")
def list_alerts(session: SessionDep, _: Staff, open: bool = False,
                limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
    """Alerts, open ones first, then critical before warning before info, newest first."""
    return board.list_alerts(session, open_only=open, limit=limit)


@router.post("/alerts/{alert_id}/ack")
def acknowledge(alert_id: int, request: Request, session: SessionDep, user: Staff) -> dict[str, Any]:
    """Acknowledge an open alert (409 ``conflict`` if it already was)."""
    with session.begin():
        view = board.alert_view(board.acknowledge_alert(session, alert_id=alert_id, actor=user.name))
    request.app.state.events.publish("alert", view)
    return view
