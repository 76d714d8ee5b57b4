"""Errors raised by the scheduling service.

`SchedulingError` is this package's base error (the `DispatchError` family's scheduling branch); the
subclasses carry the facts a caller needs to report the problem without parsing a message.
"""

from __future__ import annotations

from controller.domain.errors import DispatchError


class SchedulingError(DispatchError):
    """Base error of `controller.scheduling`."""

    code = "scheduling_error"


class UnknownScenarioError(SchedulingError):
    """The named scenario does not exist or could not be loaded."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"unknown scenario {name!r}: {detail}", name=name, detail=detail)
        self.name = name
        self.detail = detail


class ParcelInputError(SchedulingError):
    """A parcels file could not be read at all (individual bad rows are reported, not raised)."""

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(f"cannot read parcels from {source}: {detail}", source=source, detail=detail)
        self.source = source
        self.detail = detail


class ProblemDefinitionError(SchedulingError):
    """The scheduling problem is inconsistent (e.g. a drone on an unknown pad)."""

    def __init__(self, what: str) -> None:
        super().__init__(what, what=what)
        self.what = what
