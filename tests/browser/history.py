"""A few past days of parcels, deliveries, sorties, alerts and locker activity for the console's board
and plots (written straight to the database: the API only records things as they happen now)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.db.models import Alert, Compartment, Drone, Locker, LockerEvent, Parcel, Sortie, TrackingEvent
from controller.db.types import utc_now

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: The sample parcels and the schedule run are on this local day; history lies in the days before.
SAMPLE_DAY = datetime(2026, 12, 1, tzinfo=SHANGHAI)
#: (days before SAMPLE_DAY, parcels down, parcels up, delivered, of which late, completed sorties)
HISTORY = [(6, 4, 2, 5, 1, 2), (5, 6, 3, 8, 0, 3), (4, 3, 1, 4, 2, 1), (3, 7, 4, 9, 1, 4), (2, 5, 2, 6, 0, 2),
           (1, 8, 5, 11, 2, 5)]


def add_history(session: Session) -> dict[str, object]:
    """Insert ``HISTORY`` and a board's worth of alerts and locker state; return what was added."""
    drone = session.scalars(select(Drone).order_by(Drone.id)).first()
    assert drone is not None
    added: dict[str, object] = {"days": {}}
    for days_before, down, up, delivered, late, completed in HISTORY:
        day = SAMPLE_DAY - timedelta(days=days_before)
        created = day.replace(hour=9)
        for n in range(down + up):
            direction = "down" if n < down else "up"
            origin, destination = ("caiyuan-dc", "daao-village") if direction == "down" else ("dengta-village", "caiyuan-dc")
            pid = f"H{days_before}{n:02d}"
            is_delivered = n < delivered
            arrive = day.replace(hour=15, minute=n)
            due = arrive - timedelta(hours=1) if n < late else arrive + timedelta(hours=3)
            session.add(Parcel(id=pid, origin_id=origin, destination_id=destination, direction=direction,
                               weight_kg=1.0, length_cm=20, width_cm=15, height_cm=10, state="picked_up"
                               if is_delivered else "received", location_id=destination if is_delivered else origin,
                               due_at=due, created_at=created, state_changed_at=arrive))
            session.flush()
            session.add(TrackingEvent(parcel_id=pid, at=created, to_state="received", place_id=origin, actor="history"))
            if is_delivered:
                session.add(TrackingEvent(parcel_id=pid, at=arrive, from_state="received", to_state="at_locker",
                                          place_id=destination, actor="history"))
                session.add(TrackingEvent(parcel_id=pid, at=arrive + timedelta(minutes=30), from_state="at_locker",
                                          to_state="picked_up", place_id=destination, actor="history"))
        for n in range(completed):
            depart = day.replace(hour=8 + n)
            session.add(Sortie(id=f"HIST-{days_before}-{n}", drone_id=drone.id, origin_pad_id=drone.home_pad_id,
                               stops=[], state="completed", plan={}, plan_hash="0" * 64, payload_kg=1.0,
                               energy_wh=400.0 + 10 * n, battery_wh=drone.battery_wh, altitude_m=90.0,
                               depart_at=depart, arrive_at=depart + timedelta(minutes=20), created_at=depart))
        added["days"][(SAMPLE_DAY - timedelta(days=days_before)).date().isoformat()] = {  # type: ignore[index]
            "down": down, "up": up, "delivered": delivered, "on_time": delivered - late, "sorties": completed}
    now = utc_now()
    session.add(Alert(severity="critical", kind="locker_offline", object_type="locker", object_id="locker-dengta",
                      message="灯塔村智能柜离线超过 3 分钟 / Dengta locker offline", at=now - timedelta(minutes=5)))
    session.add(Alert(severity="warning", kind="compartment_faulty", object_type="locker", object_id="locker-daao",
                      message="大岙村智能柜 1-3 号格口门锁故障 / Da'ao compartment 1-3 lock fault",
                      at=now - timedelta(minutes=2)))
    daao = session.get(Locker, "locker-daao")
    assert daao is not None
    daao.last_seen_at = now
    compartments = list(session.scalars(select(Compartment).where(Compartment.locker_id == "locker-daao")
                                        .order_by(Compartment.id)))
    compartments[0].state = "occupied"
    compartments[2].state = "faulty"
    session.add(LockerEvent(event_uid="hist-daao-1", locker_id="locker-daao", kind="door_closed",
                            at=now - timedelta(minutes=1), payload={}))
    session.flush()
    return added
