"""How a pickup code reaches the recipient: a :class:`Notifier` protocol, a logging default and an
HTTP SMS-gateway adapter."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class PickupNotice:
    """What the recipient is told: the code (only here, never stored) and where the parcel is."""

    locker_id: str
    parcel_id: str
    recipient_phone: str
    code: str | None  # None: the controller issued the code earlier; only "it has arrived"
    door: int
    expires_at: datetime


class Notifier(Protocol):
    """Delivers pickup notices (SMS, app push, …)."""

    def notify(self, notice: PickupNotice) -> None:
        """Send ``notice``; raise on failure (the caller records it and carries on)."""
        ...


class LoggingNotifier:
    """Default: writes the notice to the log (development and demos; the code appears in the log)."""

    def notify(self, notice: PickupNotice) -> None:
        log.info("pickup notice for %s (parcel %s, locker %s door %d, code %s, expires %s)",
                 notice.recipient_phone or "unknown recipient", notice.parcel_id, notice.locker_id, notice.door,
                 notice.code or "(sent by the controller)", notice.expires_at.isoformat())


class SmsGatewayNotifier:
    """POST the notice as JSON to an SMS gateway URL (``{"phone", "text"}``) with a bearer token."""

    def __init__(self, url: str, token: str, *, timeout_s: float = 5.0) -> None:
        self._url = url
        self._token = token
        self._timeout_s = timeout_s

    def notify(self, notice: PickupNotice) -> None:
        text = (f"您的包裹 {notice.parcel_id} 已到车载智能柜 {notice.locker_id} {notice.door} 号门"
                + (f"，取件码 {notice.code}" if notice.code else "")
                + f"，请于 {notice.expires_at:%m-%d %H:%M} 前取件。")
        response = httpx.post(self._url, json={"phone": notice.recipient_phone, "text": text},
                              headers={"Authorization": f"Bearer {self._token}"}, timeout=self._timeout_s)
        response.raise_for_status()
