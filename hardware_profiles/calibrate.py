"""Host calibration: microbenchmark what a runtime reaches on this machine and write a
profile for it (:mod:`hardware_profiles.calibrate_numpy` for the planner's own numpy
simulator, :mod:`hardware_profiles.calibrate_onnxruntime` for onnxruntime's CPU kernels)."""

from __future__ import annotations

from threadpoolctl import threadpool_limits

from hardware_profiles.calibrate_numpy import STEPS, calibrate_numpy
from hardware_profiles.calibrate_onnxruntime import calibrate_onnxruntime
from hardware_profiles.host import (
    ENV_VARIABLES,
    Progress,
    cache_bytes,
    calibration_record,
    host_description,
    host_profile,
    largest_cache_bytes,
)
from hardware_profiles.schema import HardwareProfile

RUNTIMES = ("numpy", "onnxruntime")
"""Runtimes ``calibrate`` can measure."""


def calibrate(progress: Progress | None = None, quick: bool = False,
              name: str = "host", runtime: str = "numpy", threads: int = 1) -> HardwareProfile:
    """Measure what ``runtime`` (``numpy``, the planner's simulator, or ``onnxruntime``)
    reaches on this machine at ``threads`` threads; ``quick`` uses smaller sizes and shorter
    budgets (seconds, for tests) at some cost in accuracy."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be numpy or onnxruntime, got {runtime!r}")
    # BLAS threads left spinning after numpy work would steal cores from the measurement
    with threadpool_limits(threads):
        if runtime == "onnxruntime":
            return calibrate_onnxruntime(progress, quick=quick, name=name, threads=threads)
        return calibrate_numpy(progress, quick=quick, name=name, threads=threads)



__all__ = ["ENV_VARIABLES", "RUNTIMES", "STEPS", "cache_bytes", "calibrate", "calibration_record",
           "host_description", "host_profile", "largest_cache_bytes"]
