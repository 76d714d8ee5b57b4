"""Scheduling of drone sorties and ferry/bus fallback legs (a pure domain service: no DB, no HTTP).

Entry point: `plan_schedule(problem, estimator, seed=0) -> SchedulePlan`. Build the problem from a
scenario with `controller.scheduling.from_scenario`, estimate legs with any `LegEstimator`
(`flight_estimator.FlightPlanEstimator` over `flight_plans`, or `straight_line.StraightLineEstimator`).
"""

from controller.scheduling.errors import (
    ParcelInputError,
    ProblemDefinitionError,
    SchedulingError,
    UnknownScenarioError,
)
from controller.scheduling.estimator import LegEstimate, LegEstimator, LegMatrix
from controller.scheduling.model import (
    DroneSpec,
    DroneState,
    Pad,
    Parcel,
    PlannedSortie,
    SchedulePlan,
    SchedulerConfig,
    SchedulingProblem,
    SeparationDecision,
    SortieLeg,
    SurfaceCall,
    SurfaceLeg,
    SurfaceLine,
    Unassigned,
    Wind,
    WindForecast,
    WindPeriod,
)
from controller.scheduling.bounds import sortie_lower_bound
from controller.scheduling.planner import plan_schedule

__all__ = [
    "DroneSpec", "DroneState", "LegEstimate", "LegEstimator", "LegMatrix", "Pad", "Parcel",
    "ParcelInputError", "PlannedSortie", "ProblemDefinitionError", "SchedulePlan", "SchedulerConfig",
    "SchedulingError", "SchedulingProblem", "SeparationDecision", "SortieLeg", "SurfaceCall", "SurfaceLeg",
    "SurfaceLine", "Unassigned", "UnknownScenarioError", "Wind", "WindForecast", "WindPeriod",
    "plan_schedule", "sortie_lower_bound",
]
