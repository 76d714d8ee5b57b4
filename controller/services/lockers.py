"""Lockers on the controller: live state from agent events, parcel assignment with one-time codes,
the agents' manifests and admin remote commands. Knows nothing of HTTP.

The agent owns the doors; the controller mirrors what it reports. Agents sync batches of events
(:func:`apply_events`); each event id is stored once in ``locker_events``, so a batch re-sent after
a lost reply is acknowledged and not applied twice.

Pickup codes are HMAC-SHA256 under the locker's *code key* (:func:`locker_code_key`, derived from the
controller secret): the controller and the agent store the same hash, the agent checks codes offline,
and neither stores a code.

A parcel has one live code at a time, issued either here (assignment, :func:`reissue_code`) or by
the agent at deposit when the parcel was not in its manifest. Each code carries ``issued_at``; both
sides keep the newer of two codes (the agent when it loads the manifest, the controller when a
deposit event brings the agent's code), so they converge on the same code whichever order the
messages arrive in. A re-issue is stamped later than the code it replaces even if the agent's clock
runs ahead of the controller's.
"""

from __future__ import annotations

import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controller.db.models import (
    Alert,
    Compartment,
    CompartmentTransition,
    Locker,
    LockerCommand,
    LockerEvent,
    Parcel,
    PickupCode,
    TransportLine,
)
from controller.db.types import utc_now
from controller.domain.compartment_states import COMPARTMENT_TRANSITIONS, CompartmentState
from controller.domain.errors import Conflict, DispatchError, Forbidden, NotFound, ValidationFailed
from controller.domain.parcel_states import PARCEL_TRANSITIONS, ParcelState
from controller.services import audit, parcels
from controller.services.auth import hash_secret

SIZES = ("S", "M", "L")
# 7 digits: with 5 free guesses then back-off, a full 24-door locker stays below 1e-4 a day
# (6 digits gives 2.4e-4; see locker_driver.agent.codes.guess_probability_per_day).
CODE_DIGITS = 7
# A locker that synced within this many seconds counts as online.
ONLINE_WITHIN_S = 120.0
# Parcel states in which the parcel still needs its locker code.
_LIVE_PARCEL_STATES = {s.value for s in ParcelState} - {
    ParcelState.PICKED_UP.value, ParcelState.RETURNED.value, ParcelState.CANCELLED.value, ParcelState.LOST.value}


def locker_code_key(secret_key: str, locker_id: str) -> str:
    """Return the HMAC key of pickup codes for ``locker_id`` (given to its agent as ``--code-key``)."""
    return hash_secret(secret_key, f"locker-code-key:{locker_id}")


def agent_user_name(locker_id: str) -> str:
    """The kiosk user a locker agent signs in as."""
    return f"locker:{locker_id}"


def check_agent_access(*, role: str, user_name: str, locker_id: str) -> None:
    """Admit an admin, or the locker's own kiosk user; raise Forbidden for anyone else."""
    if role == "admin" or (role == "kiosk" and user_name == agent_user_name(locker_id)):
        return
    raise Forbidden(f"only {agent_user_name(locker_id)!r} or an admin may do this", locker=locker_id)


def size_for(parcel: Parcel) -> str:
    """Return the smallest compartment size for the parcel: S <= 6 l, M <= 15 l, else L."""
    litres = parcel.length_cm * parcel.width_cm * parcel.height_cm / 1000.0
    return "S" if litres <= 6 else "M" if litres <= 15 else "L"


def get_locker(session: Session, locker_id: str) -> Locker:
    locker = session.get(Locker, locker_id)
    if locker is None:
        raise NotFound("locker", locker_id)
    return locker


# --- views ----------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def locker_status(session: Session, locker_id: str, *, now: datetime | None = None,
                  online_within_s: float = ONLINE_WITHIN_S) -> dict[str, Any]:
    """Return a locker with its compartments, counts by state and whether its agent is online."""
    locker = get_locker(session, locker_id)
    now = now or utc_now()
    rows = list(session.scalars(select(Compartment).where(Compartment.locker_id == locker_id)
                                .order_by(Compartment.board, Compartment.lock)))
    counts = {state.value: 0 for state in CompartmentState}
    for c in rows:
        counts[c.state] = counts.get(c.state, 0) + 1
    online = locker.last_seen_at is not None and (now - locker.last_seen_at).total_seconds() <= online_within_s
    return {
        "id": locker.id, "name": locker.name, "kind": locker.kind, "bus_line_id": locker.bus_line_id,
        "service_point_id": locker.service_point_id, "online": online, "last_seen_at": _iso(locker.last_seen_at),
        "lat_deg": locker.lat_deg, "lon_deg": locker.lon_deg, "speed_m_s": locker.speed_m_s, "counts": counts,
        "compartments": [{"board": c.board, "lock": c.lock, "size": c.size, "state": c.state,
                          "parcel_id": c.parcel_id, "state_changed_at": _iso(c.state_changed_at)} for c in rows],
    }


def list_lockers(session: Session, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Return :func:`locker_status` of every locker, without the compartment lists."""
    ids = session.scalars(select(Locker.id).order_by(Locker.id)).all()
    return [{k: v for k, v in locker_status(session, i, now=now).items() if k != "compartments"} for i in ids]


# --- assignment, manifest, commands ---------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Assignment:
    """A parcel assigned to a locker; ``code`` is shown once (hand it to the notifier), never stored.

    ``issued_at`` orders this code against any other for the parcel (the newer one wins).
    """

    parcel_id: str
    locker_id: str
    code: str
    expires_at: datetime
    size: str
    issued_at: datetime


class ParcelNotInLocker(DispatchError):
    """The parcel exists but is not assigned to this locker (or has no code there)."""

    code = "parcel_not_in_locker"
    http_status = 404


def _fresh_code(session: Session, *, key: str, locker_id: str, parcel_id: str) -> tuple[str, str]:
    """Return ``(code, its HMAC)``: a random code whose HMAC is not another live code of the locker."""
    live = {row.code_hmac for row in session.scalars(select(PickupCode).where(
        PickupCode.locker_id == locker_id, PickupCode.used_at.is_(None), PickupCode.parcel_id != parcel_id))}
    while True:
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        digest = hash_secret(key, code)
        if digest not in live:
            return code, digest


def assign_parcel(session: Session, *, locker_id: str, parcel_id: str, secret_key: str, ttl_h: float,
                  actor: str, at: datetime | None = None) -> Assignment:
    """Assign a parcel to a locker and issue its one-time pickup code (unique among the locker's live codes).

    The agent receives the code's HMAC in its manifest before departure; the expiry restarts when
    the parcel is deposited. Re-assigning issues a new code (the old one stops working).

    Raises:
        NotFound (locker or parcel), Conflict (the parcel is already delivered, returned, lost or cancelled).
    """
    locker = get_locker(session, locker_id)
    parcel = parcels.get_parcel(session, parcel_id)
    if parcel.state not in _LIVE_PARCEL_STATES:
        raise Conflict(f"parcel {parcel.id} is {parcel.state}", parcel=parcel.id, state=parcel.state)
    at = at or utc_now()
    code, digest = _fresh_code(session, key=locker_code_key(secret_key, locker.id), locker_id=locker.id,
                               parcel_id=parcel.id)
    expires_at = at + timedelta(hours=ttl_h)
    issued_at = _after_previous(session.get(PickupCode, parcel.id), at)
    session.merge(PickupCode(parcel_id=parcel.id, locker_id=locker.id, code_hmac=digest, expires_at=expires_at,
                             used_at=None, issued_at=issued_at))
    parcel.locker_id = locker.id
    audit.record(session, actor=actor, action="locker.assign_parcel", object_type="parcel", object_id=parcel.id,
                 details={"locker": locker.id, "expires_at": expires_at.isoformat(), "issued_at": issued_at.isoformat()})
    session.flush()
    return Assignment(parcel_id=parcel.id, locker_id=locker.id, code=code, expires_at=expires_at,
                      size=size_for(parcel), issued_at=issued_at)


# A re-issued code is stamped at least this much after the code it replaces.
_ISSUE_STEP = timedelta(milliseconds=1)


def _after_previous(previous: PickupCode | None, at: datetime) -> datetime:
    """Return the ``issued_at`` of a code replacing ``previous``: ``at``, or just after ``previous``'s
    (an agent-issued code is stamped by the agent's clock, which may run ahead of ours)."""
    if previous is None or previous.issued_at is None or previous.issued_at < at:
        return at
    return previous.issued_at + _ISSUE_STEP


def reissue_code(session: Session, *, locker_id: str, parcel_id: str, secret_key: str, ttl_h: float, reason: str,
                 actor: str, at: datetime | None = None) -> Assignment:
    """Replace the pickup code of a live parcel assigned to (or held in) the locker; audited with ``reason``.

    For a recipient who lost the code or never got it (a ``locker_notify_failed`` alert). The new code
    is returned once (send it to the recipient) and only its HMAC is kept. The agent adopts it from
    its manifest on its next sync, and from then the old code no longer opens the door. A parcel
    already in the locker keeps its expiry (the locker is not held longer); one still on its way
    gets ``ttl_h`` hours from now (the expiry restarts at deposit anyway).

    Parameters:
        ttl_h: expiry of a not yet deposited parcel's code, in hours from ``at``.
        reason: why (required; stored in the audit log, never the code).

    Raises:
        NotFound: no such locker or parcel. ParcelNotInLocker: the parcel is not assigned to this locker.
        Conflict: the parcel was collected, returned, cancelled or lost, or its code expired in the
        locker (a courier takes it back). ValidationFailed: empty reason.
    """
    locker = get_locker(session, locker_id)
    parcel = parcels.get_parcel(session, parcel_id)
    if not reason.strip():
        raise ValidationFailed("a reason is required to re-issue a pickup code", field="reason")
    at = at or utc_now()
    current = session.get(PickupCode, parcel.id)
    if current is not None and current.locker_id == locker.id and (
            current.used_at is not None or parcel.state not in _LIVE_PARCEL_STATES):
        # Checked before the assignment: leaving the locker clears the parcel's locker_id.
        raise Conflict(f"parcel {parcel.id} is {parcel.state}; it has no pickup code to re-issue any more",
                       parcel=parcel.id, state=parcel.state)
    if current is None or current.locker_id != locker.id or parcel.locker_id != locker.id:
        where = f"assigned to {parcel.locker_id}" if parcel.locker_id else "not assigned to any locker"
        raise ParcelNotInLocker(f"parcel {parcel.id} is not assigned to locker {locker.id} ({where})",
                                parcel=parcel.id, locker=locker.id)
    held = parcel.state == ParcelState.AT_LOCKER.value
    if held and current.expires_at <= at:
        raise Conflict(f"the pickup code of parcel {parcel.id} expired at {current.expires_at.isoformat()}; "
                       f"{locker.id} holds it for a courier to take back", parcel=parcel.id,
                       expires_at=current.expires_at.isoformat())
    code, digest = _fresh_code(session, key=locker_code_key(secret_key, locker.id), locker_id=locker.id,
                               parcel_id=parcel.id)
    issued_at, previous_issued_at = _after_previous(current, at), current.issued_at
    current.code_hmac, current.issued_at = digest, issued_at
    if not held:
        current.expires_at = at + timedelta(hours=ttl_h)
    audit.record(session, actor=actor, action="locker.reissue_code", object_type="parcel", object_id=parcel.id,
                 details={"locker": locker.id, "reason": reason.strip(), "held": held,
                          "issued_at": issued_at.isoformat(), "expires_at": current.expires_at.isoformat(),
                          "replaces_issued_at": _iso(previous_issued_at)})
    session.flush()
    return Assignment(parcel_id=parcel.id, locker_id=locker.id, code=code, expires_at=current.expires_at,
                      size=size_for(parcel), issued_at=issued_at)


def manifest(session: Session, locker_id: str) -> list[dict[str, Any]]:
    """Return the parcels assigned to the locker whose codes are live: id, code HMAC, when it was issued
    (``issued_at``, ISO 8601 or None if unknown: the agent keeps the newer code), size, recipient, expiry."""
    get_locker(session, locker_id)
    rows = session.execute(select(PickupCode, Parcel).join(Parcel, Parcel.id == PickupCode.parcel_id).where(
        PickupCode.locker_id == locker_id, PickupCode.used_at.is_(None),
        Parcel.state.in_(_LIVE_PARCEL_STATES)).order_by(PickupCode.parcel_id))
    return [{"parcel_id": code.parcel_id, "code_hmac": code.code_hmac, "issued_at": _iso(code.issued_at),
             "size": size_for(parcel), "recipient_phone": parcel.recipient_phone,
             "expires_at": code.expires_at.isoformat()} for code, parcel in rows]


def remote_open(session: Session, *, locker_id: str, board: int, lock: int, reason: str, actor: str,
                at: datetime | None = None) -> LockerCommand:
    """Queue an admin's "open this door" for the locker's agent (audited); it runs on the agent's next sync.

    Raises:
        NotFound: no such locker or compartment. ValidationFailed: empty reason.
    """
    get_locker(session, locker_id)
    if not reason.strip():
        raise ValidationFailed("a reason is required to open a door remotely", field="reason")
    _compartment(session, locker_id, board, lock)
    command = LockerCommand(id=uuid.uuid4().hex, locker_id=locker_id, action="open", board=board, lock=lock,
                            reason=reason.strip(), requested_by=actor, requested_at=at or utc_now())
    session.add(command)
    audit.record(session, actor=actor, action="locker.remote_open", object_type="locker", object_id=locker_id,
                 details={"command_id": command.id, "board": board, "lock": lock, "reason": command.reason})
    session.flush()
    return command


def command_view(command: LockerCommand) -> dict[str, Any]:
    return {"command_id": command.id, "action": command.action, "board": command.board, "lock": command.lock,
            "reason": command.reason, "requested_by": command.requested_by,
            "requested_at": _iso(command.requested_at), "done_at": _iso(command.done_at), "result": command.result}


def pending_commands(session: Session, locker_id: str) -> list[LockerCommand]:
    """Return commands the agent has not reported done, oldest first."""
    get_locker(session, locker_id)
    return list(session.scalars(select(LockerCommand).where(
        LockerCommand.locker_id == locker_id, LockerCommand.done_at.is_(None)).order_by(LockerCommand.requested_at)))


# --- agent events ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AgentEvent:
    """One event as an agent sends it."""

    event_uid: str
    kind: str
    at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class BatchResult:
    accepted: list[str]
    duplicates: list[str]
    rejected: list[dict[str, str]]
    alerts: list[dict[str, Any]]


class UnknownEventKind(DispatchError):
    code = "unknown_event_kind"
    http_status = 422


def apply_events(session: Session, *, locker_id: str, events: list[AgentEvent], actor: str,
                 now: datetime | None = None) -> BatchResult:
    """Apply a batch of agent events in order, each exactly once (by ``event_uid``).

    An event the controller cannot apply (unknown parcel, a transition its tables forbid) is still
    stored — with the error — and raises an alert, so the agent does not re-send it forever; its
    partial changes are rolled back (one savepoint per event).
    """
    locker = get_locker(session, locker_id)
    now = now or utc_now()
    locker.last_seen_at = now
    result = BatchResult(accepted=[], duplicates=[], rejected=[], alerts=[])
    for event in events:
        if session.get(LockerEvent, event.event_uid) is not None:
            result.duplicates.append(event.event_uid)
            continue
        try:
            with session.begin_nested():
                try:
                    _apply(session, locker, event, actor=actor, now=now, alerts=result.alerts)
                except (KeyError, TypeError, ValueError) as error:
                    raise ValidationFailed(f"malformed {event.kind} event: {error!r}", kind=event.kind) from error
                session.add(LockerEvent(event_uid=event.event_uid, locker_id=locker_id, kind=event.kind, at=event.at,
                                        received_at=now, payload=event.payload))
                session.flush()
            result.accepted.append(event.event_uid)
        except IntegrityError:
            # Another sync of the same batch stored it first: the same outcome as a duplicate.
            result.duplicates.append(event.event_uid)
        except DispatchError as error:
            with session.begin_nested():
                session.add(LockerEvent(event_uid=event.event_uid, locker_id=locker_id, kind=event.kind, at=event.at,
                                        received_at=now, payload={**event.payload, "rejected": error.code,
                                                                  "error": error.message}))
                _alert(session, locker_id, "warning", "locker_event_rejected", now, result.alerts,
                       f"{event.kind} event {event.event_uid} from {locker_id} not applied: {error.message}")
            result.rejected.append({"event_uid": event.event_uid, "code": error.code, "message": error.message})
    session.flush()
    return result


def _apply(session: Session, locker: Locker, event: AgentEvent, *, actor: str, now: datetime,
           alerts: list[dict[str, Any]]) -> None:
    p, at, uid = event.payload, event.at, event.event_uid
    match event.kind:
        case "deposit":
            parcel = parcels.get_parcel(session, str(p["parcel_id"]))
            _to_at_locker(session, parcel, locker, uid=uid, at=at, actor=actor,
                          reason=f"deposited in {locker.id} door {p['lock']} by {p.get('courier') or 'a courier'}")
            _set_compartment(session, locker.id, p["board"], p["lock"], CompartmentState.OCCUPIED, parcel_id=parcel.id,
                             actor=actor, reason=f"deposit {parcel.id}", at=at)
            expires_at = datetime.fromisoformat(p["expires_at"])
            code = session.get(PickupCode, parcel.id)
            # The agent issued a code at deposit (the parcel was not in its manifest). Older agents do
            # not send when: the deposit time is when it was issued.
            agent_issued_at = datetime.fromisoformat(p["code_issued_at"]) if p.get("code_issued_at") else at
            ours_newer = (code is not None and code.used_at is None and code.issued_at is not None
                          and code.code_hmac != p.get("code_hmac") and code.issued_at > agent_issued_at)
            if p.get("code_hmac") and not ours_newer:
                session.merge(PickupCode(parcel_id=parcel.id, locker_id=locker.id, code_hmac=p["code_hmac"],
                                         expires_at=expires_at, used_at=None, issued_at=agent_issued_at))
            elif code is not None:
                # Our code stays (it was re-issued after the agent's; the agent adopts it from the manifest).
                code.expires_at = expires_at
        case "pickup" | "take_back":
            picked = event.kind == "pickup"
            parcel = parcels.get_parcel(session, str(p["parcel_id"]))
            parcels.transition_parcel(
                session, parcel_id=parcel.id, to_state=ParcelState.PICKED_UP if picked else ParcelState.RETURNED,
                actor=actor, place_id=_place(session, locker), event_uid=uid, at=at,
                scanned_code="pickup-code" if picked else parcel.id,
                reason=(f"collected from {locker.id} door {p['lock']} with the pickup code" if picked else
                        f"code expired; taken back from {locker.id} door {p['lock']} by {p.get('courier')}"))
            code = session.get(PickupCode, parcel.id)
            if code is not None and code.used_at is None:
                code.used_at = at
            _set_compartment(session, locker.id, p["board"], p["lock"], CompartmentState.FREE, parcel_id=None,
                             actor=actor, reason=f"{event.kind} {parcel.id}", at=at)
        case "code_expired":
            _alert(session, locker.id, "info", "pickup_code_expired", at, alerts,
                   f"parcel {p['parcel_id']} in {locker.id} door {p.get('lock')} was not collected in time; "
                   "a courier should take it back")
        case "door_fault":
            _set_compartment(session, locker.id, p["board"], p["lock"], CompartmentState.FAULTY,
                             parcel_id=p.get("parcel_id"), actor=actor, reason=f"door did not open ({p.get('during')})",
                             at=at)
            _alert(session, locker.id, "warning", "locker_door_fault", at, alerts,
                   f"{locker.id} board {p['board']} door {p['lock']} did not open during {p.get('during')}"
                   + (f" (parcel {p['parcel_id']} inside)" if p.get("parcel_id") else ""))
        case "opening_unconfirmed":
            # The agent died between committing a door opening and confirming it, and found the door
            # closed: the parcel is still on record there (code live), or for a deposit the door is out
            # of service; someone has to look inside.
            if p.get("out_of_service"):
                _set_compartment(session, locker.id, p["board"], p["lock"], CompartmentState.FAULTY, parcel_id=None,
                                 actor=actor, reason=f"{p.get('action')} opening not confirmed; check inside", at=at)
            _alert(session, locker.id, "warning", "locker_opening_unconfirmed", at, alerts,
                   f"{locker.id} board {p['board']} door {p['lock']}: {p.get('action')} of parcel {p.get('parcel_id')} "
                   f"begun at {p.get('begun_at')} may or may not have opened the door (agent restarted); "
                   "check the compartment")
        case "door_left_open":
            _alert(session, locker.id, "warning", "locker_door_left_open", at, alerts,
                   f"{locker.id} board {p['board']} door {p['lock']} open for {p.get('open_s')} s")
        case "board_offline":
            for c in _board(session, locker.id, p["board"]):
                _set_compartment(session, locker.id, c.board, c.lock, CompartmentState.OFFLINE, parcel_id=c.parcel_id,
                                 actor=actor, reason="board stopped answering", at=at)
            _alert(session, locker.id, "warning", "locker_board_offline", at, alerts,
                   f"{locker.id} board {p['board']} stopped answering; its doors are out of service")
        case "board_online":
            reported = {int(c["lock"]): c for c in p.get("compartments", [])}
            for c in _board(session, locker.id, p["board"]):
                entry = reported.get(c.lock, {})
                state = {"reserved": CompartmentState.FREE, "open": CompartmentState.OCCUPIED}.get(
                    entry.get("state", ""), CompartmentState(entry.get("state", c.state)))
                if state is CompartmentState.OCCUPIED and not entry.get("parcel_id"):
                    state = CompartmentState.FREE
                _set_compartment(session, locker.id, c.board, c.lock, state, parcel_id=entry.get("parcel_id"),
                                 actor=actor, reason="board answers again; doors reconciled", at=at)
        case "position":
            locker.lat_deg, locker.lon_deg = float(p["lat_deg"]), float(p["lon_deg"])
            locker.speed_m_s = float(p.get("speed_m_s", 0.0))
            place = _place(session, locker)
            if place is not None:
                # Parcels riding in a bus locker follow the bus from stop to stop.
                for parcel in session.scalars(select(Parcel).where(Parcel.locker_id == locker.id, Parcel.state.in_(
                        [ParcelState.AT_LOCKER.value, ParcelState.IN_TRANSIT_BUS.value]))):
                    parcel.location_id = place
        case "keypad_lockout":
            _alert(session, locker.id, "warning", "locker_keypad_lockout", at, alerts,
                   f"{locker.id} keypad locked after {p['failures']} wrong codes for {p['lockout_s']:.0f} s "
                   "(possible guessing)")
        case "code_replaced":
            # The agent adopted a newer code from its manifest: the old one no longer opens the door.
            audit.record(session, actor=actor, action="locker.code_replaced", object_type="parcel",
                         object_id=str(p["parcel_id"]), details={"locker": locker.id,
                                                                 "issued_at": p.get("code_issued_at"),
                                                                 "state": p.get("state")})
        case "notify_failed":
            _alert(session, locker.id, "warning", "locker_notify_failed", at, alerts,
                   f"pickup notice for parcel {p['parcel_id']} could not be sent; re-issue its code")
        case "remote_open":
            command = session.get(LockerCommand, str(p.get("command_id")))
            if command is not None and command.done_at is None:
                command.done_at, command.result = at, {"ok": bool(p.get("ok")), "error": p.get("error")}
            if p.get("ok"):
                c = _compartment(session, locker.id, p["board"], p["lock"])
                if c.state == CompartmentState.FAULTY.value:
                    back = CompartmentState.OCCUPIED if c.parcel_id else CompartmentState.FREE
                    _set_compartment(session, locker.id, c.board, c.lock, back, parcel_id=c.parcel_id, actor=actor,
                                     reason="door opened on an admin's command: working again", at=at)
            audit.record(session, actor=actor, action="locker.remote_open_done", object_type="locker",
                         object_id=locker.id, details=dict(p))
        case _:
            raise UnknownEventKind(f"unknown locker event kind {event.kind!r}", kind=event.kind)


def _to_at_locker(session: Session, parcel: Parcel, locker: Locker, *, uid: str, at: datetime, actor: str,
                  reason: str) -> None:
    state = ParcelState(parcel.state)
    place = _place(session, locker)
    if state is ParcelState.AT_LOCKER:
        parcel.locker_id = locker.id
        return
    steps = [ParcelState.AT_LOCKER]
    if not PARCEL_TRANSITIONS.can(state, ParcelState.AT_LOCKER) and PARCEL_TRANSITIONS.can(
            state, ParcelState.IN_TRANSIT_BUS):
        steps = [ParcelState.IN_TRANSIT_BUS, ParcelState.AT_LOCKER]  # scheduled onto the bus, then in the locker
    for n, step in enumerate(steps, start=1):
        parcels.transition_parcel(session, parcel_id=parcel.id, to_state=step, actor=actor, place_id=place,
                                  scanned_code=parcel.id, reason=reason, at=at, locker_id=locker.id,
                                  event_uid=uid if len(steps) == 1 else f"{uid}:{n}")


def _place(session: Session, locker: Locker) -> str | None:
    """Where the locker is: its service point, or for a bus locker the line stop nearest its last position
    (the stop's service point if it has one)."""
    if locker.service_point_id is not None:
        return locker.service_point_id
    if locker.bus_line_id is None or locker.lat_deg is None or locker.lon_deg is None:
        return None
    line = session.get(TransportLine, locker.bus_line_id)
    stops = (line.definition or {}).get("stops", []) if line is not None else []
    if not stops:
        return None

    def distance_m(stop: dict[str, Any]) -> float:
        north = (stop["lat_deg"] - locker.lat_deg) * 111_320.0
        east = (stop["lon_deg"] - locker.lon_deg) * 111_320.0 * math.cos(math.radians(locker.lat_deg or 0.0))
        return math.hypot(north, east)

    nearest = min(stops, key=distance_m)
    return nearest.get("service_point") or nearest["id"]


def _compartment(session: Session, locker_id: str, board: Any, lock: Any) -> Compartment:
    row = session.scalar(select(Compartment).where(Compartment.locker_id == locker_id,
                                                   Compartment.board == int(board), Compartment.lock == int(lock)))
    if row is None:
        raise NotFound("compartment", f"{locker_id}/{board}/{lock}")
    return row


def _board(session: Session, locker_id: str, board: Any) -> list[Compartment]:
    return list(session.scalars(select(Compartment).where(Compartment.locker_id == locker_id,
                                                          Compartment.board == int(board))))


def _set_compartment(session: Session, locker_id: str, board: Any, lock: Any, to: CompartmentState, *,
                     parcel_id: str | None, actor: str, reason: str, at: datetime) -> None:
    c = _compartment(session, locker_id, board, lock)
    if c.state != to.value:
        COMPARTMENT_TRANSITIONS.check(f"{locker_id}/{c.board}/{c.lock}", CompartmentState(c.state), to)
        session.add(CompartmentTransition(compartment_id=c.id, at=at, from_state=c.state, to_state=to.value,
                                          actor=actor, reason=reason))
        c.state, c.state_changed_at = to.value, at
    c.parcel_id = parcel_id


def _alert(session: Session, locker_id: str, severity: str, kind: str, at: datetime,
           alerts: list[dict[str, Any]], message: str) -> None:
    session.add(Alert(at=at, severity=severity, kind=kind, object_type="locker", object_id=locker_id,
                      message=message))
    alerts.append({"severity": severity, "kind": kind, "locker_id": locker_id, "message": message})
