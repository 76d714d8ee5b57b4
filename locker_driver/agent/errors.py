"""Errors of the locker agent, all :class:`locker_driver.errors.LockerError`.

Each carries a stable ``code`` and the HTTP status the kiosk API maps it to (once, in
:mod:`locker_driver.agent.web`), plus the facts the pages need to tell the user plainly.
"""

from __future__ import annotations

from locker_driver.errors import LockerError


class AgentError(LockerError):
    """Base of every agent refusal shown to a kiosk or courier."""

    code = "agent_error"
    http_status = 400

    def __init__(self, message: str, **facts: object) -> None:
        super().__init__(message)
        self.message = message
        self.facts = facts


class NotReady(AgentError):
    """The agent has not reconciled its doors yet (start-up or after power loss)."""

    code = "not_ready"
    http_status = 503


class BusMoving(AgentError):
    """The interlock refuses to open a door while the bus moves."""

    code = "bus_moving"
    http_status = 409

    def __init__(self, *, speed_kmh: float | None) -> None:
        super().__init__("the bus is moving; doors open only when it stands still", speed_kmh=speed_kmh)


class WrongOrExpiredCode(AgentError):
    """The same refusal for a wrong, used or expired code, so a guesser learns nothing."""

    code = "wrong_or_expired_code"
    http_status = 403

    def __init__(self, *, attempts_left: int) -> None:
        super().__init__("wrong or expired code", attempts_left=attempts_left)


class LockedOut(AgentError):
    """Too many wrong codes on this keypad: wait ``retry_after_s``."""

    code = "locked_out"
    http_status = 429

    def __init__(self, *, retry_after_s: float) -> None:
        super().__init__(f"keypad locked for {retry_after_s:.0f} s", retry_after_s=round(retry_after_s))


class NoFreeCompartment(AgentError):
    """No working compartment of the parcel's size or larger is free."""

    code = "no_free_compartment"
    http_status = 409


class DoorFault(AgentError):
    """A door did not open; the compartment is now faulty and staff were alerted."""

    code = "door_fault"
    http_status = 502


class UnknownParcel(AgentError):
    """The parcel is not in this locker (or not in the state the action needs)."""

    code = "unknown_parcel"
    http_status = 404


class NotSignedIn(AgentError):
    """Courier actions need a signed-in courier."""

    code = "not_signed_in"
    http_status = 401
