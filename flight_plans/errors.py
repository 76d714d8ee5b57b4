"""Errors raised by :mod:`flight_plans`: one base class, structured subclasses carrying the facts.

A route that does not exist is *not* an error (it is a :class:`~flight_plans.route.Route` with
``found == False``); errors are for input that cannot be planned with at all.
"""

from __future__ import annotations


class FlightPlanError(Exception):
    """Base class of every error raised by :mod:`flight_plans`."""


class GeofenceError(FlightPlanError):
    """A geofence document is invalid.

    Attributes: ``feature_index`` (0-based position in the FeatureCollection, or ``None`` when the
    problem is the collection itself), ``feature_name`` (``properties.name`` if any), ``problem``.
    """

    def __init__(self, problem: str, *, feature_index: int | None = None, feature_name: str | None = None):
        self.problem = problem
        self.feature_index = feature_index
        self.feature_name = feature_name
        if feature_index is None:
            where = "geofence"
        elif feature_name:
            where = f"feature {feature_index} ({feature_name!r})"
        else:
            where = f"feature {feature_index}"
        super().__init__(f"{where}: {problem}")


class CoordinateError(FlightPlanError):
    """A coordinate is not a valid WGS84 latitude/longitude (``what`` names it)."""

    def __init__(self, what: str, lat_deg: float, lon_deg: float):
        self.what = what
        self.lat_deg = lat_deg
        self.lon_deg = lon_deg
        super().__init__(
            f"{what}: ({lat_deg}, {lon_deg}) is not a valid latitude, longitude in degrees"
            " (latitude must be within ±90; were they swapped?)"
        )


class AltitudeError(FlightPlanError):
    """A cruise altitude is outside the allowed band ``[min_alt_m, max_alt_m]`` (metres AGL)."""

    def __init__(self, alt_m: float, *, min_alt_m: float, max_alt_m: float, why: str):
        self.alt_m = alt_m
        self.min_alt_m = min_alt_m
        self.max_alt_m = max_alt_m
        super().__init__(f"altitude {alt_m} m is outside [{min_alt_m}, {max_alt_m}] m: {why}")


class UnknownDroneModelError(FlightPlanError):
    """No drone model is registered under ``model_id``."""

    def __init__(self, model_id: str, known: list[str]):
        self.model_id = model_id
        self.known = known
        super().__init__(f"unknown drone model {model_id!r}; known models: {', '.join(sorted(known))}")


class PayloadError(FlightPlanError):
    """A payload mass is negative or above the drone model's maximum."""

    def __init__(self, payload_kg: float, *, max_payload_kg: float, model_id: str):
        self.payload_kg = payload_kg
        self.max_payload_kg = max_payload_kg
        self.model_id = model_id
        super().__init__(f"payload {payload_kg} kg is outside [0, {max_payload_kg}] kg for {model_id}")


class PlanFileError(FlightPlanError):
    """A QGC ``.plan`` / ``QGC WPL 110`` file cannot be read (``where`` locates the problem)."""

    def __init__(self, problem: str, *, where: str):
        self.problem = problem
        self.where = where
        super().__init__(f"{where}: {problem}")


class MissionOutsideFenceError(FlightPlanError):
    """A mission leaves the inclusion area or enters an exclusion zone (``violations`` lists where)."""

    def __init__(self, violations: tuple):
        self.violations = violations
        super().__init__("mission is not within the geofence: " + "; ".join(str(v) for v in violations))


class InvalidParameterError(FlightPlanError):
    """A numeric planning parameter is out of range (``name`` is the parameter, ``value`` its value)."""

    def __init__(self, name: str, value: object, *, expected: str):
        self.name = name
        self.value = value
        self.expected = expected
        super().__init__(f"{name}={value!r}: expected {expected}")
