"""Validating a plan by executing it on the real weights: stored bytes, executed MACs and
output error, measured against the plan's predictions."""

from planner.validate.executor_calibration import calibrate_executor
from planner.validate.simulate import (
    SimulationError,
    SimulationResult,
    run_compressed,
    simulate,
)

__all__ = [
    "SimulationError",
    "SimulationResult",
    "calibrate_executor",
    "run_compressed",
    "simulate",
]
