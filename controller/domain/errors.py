"""The controller's domain errors. Each carries the facts; the API maps them to HTTP once."""

from __future__ import annotations


class DispatchError(Exception):
    """Base of every controller domain error. ``code`` is stable and shown to API clients."""

    code = "dispatch_error"
    http_status = 400

    def __init__(self, message: str, **facts: object) -> None:
        super().__init__(message)
        self.message = message
        self.facts = facts


class NotFound(DispatchError):
    code = "not_found"
    http_status = 404

    def __init__(self, kind: str, object_id: str) -> None:
        super().__init__(f"{kind} {object_id!r} not found", kind=kind, id=object_id)


class AlreadyExists(DispatchError):
    code = "already_exists"
    http_status = 409

    def __init__(self, kind: str, object_id: str) -> None:
        super().__init__(f"{kind} {object_id!r} already exists", kind=kind, id=object_id)


class InvalidTransition(DispatchError):
    """A state machine was asked for a transition its table does not allow."""

    code = "invalid_transition"
    http_status = 409

    def __init__(self, kind: str, object_id: str, from_state: str, to_state: str) -> None:
        super().__init__(
            f"{kind} {object_id!r} cannot go from {from_state!r} to {to_state!r}",
            kind=kind,
            id=object_id,
            from_state=from_state,
            to_state=to_state,
        )


class ValidationFailed(DispatchError):
    code = "validation_failed"
    http_status = 422


class Conflict(DispatchError):
    code = "conflict"
    http_status = 409


class NotAuthenticated(DispatchError):
    code = "not_authenticated"
    http_status = 401


class Forbidden(DispatchError):
    code = "forbidden"
    http_status = 403
