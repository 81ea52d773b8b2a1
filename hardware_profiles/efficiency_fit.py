"""Fitting an op class's efficiency curve to timed kernels.

A kernel of GEMM shape ``(m, n, k)`` with ``flops`` is predicted to take
``max(flops / (peak · e(m, n, k)), memory seconds) + dispatch`` (the roofline the cost model
uses), with ``e`` the :class:`~hardware_profiles.schema.EfficiencyCurve` ``ceiling ·
m/(m + half_m) · n/(n + half_n) · k/(k + half_k)``. The fit picks the four parameters that
minimise the mean squared ``ln(predicted / measured)``: an exhaustive search over a
logarithmic grid of half points and ceilings, then a local refinement around the best.
It needs only numpy and takes well under a second for a few hundred kernels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hardware_profiles.schema import EfficiencyCurve

HALVES = np.concatenate([[0.0], np.geomspace(0.5, 4096, 14)])
"""Half points tried first (GEMM dimensions)."""
CEILINGS = np.geomspace(0.02, 1.0, 40)
"""Ceilings tried first (fractions of peak)."""


@dataclass(frozen=True)
class Observation:
    """A timed kernel: its GEMM shape, FLOPs, the seconds its memory traffic takes on the
    roofline, and the measured seconds of its compute (dispatch already subtracted)."""

    m: float
    n: float
    k: float
    flops: float
    memory_s: float
    seconds: float


def _errors(obs: Sequence[Observation], peak: float, ceil: np.ndarray, hm: np.ndarray,
            hn: np.ndarray, hk: np.ndarray) -> np.ndarray:
    """Mean squared log error of each parameter combination (arrays broadcast together)."""
    total = np.zeros(np.broadcast_shapes(ceil.shape, hm.shape, hn.shape, hk.shape))
    for o in obs:
        eff = ceil * (o.m / (o.m + hm)) * (o.n / (o.n + hn)) * (o.k / (o.k + hk))
        predicted = np.maximum(o.flops / (peak * eff), o.memory_s)
        total += np.log(predicted / o.seconds) ** 2
    return total / len(obs)


def fit_curve(obs: Sequence[Observation], peak: float, source: str) -> EfficiencyCurve:
    """The curve that best predicts ``obs`` at ``peak`` operations per second.

    >>> obs = [Observation(m, 100, 100, 2e6, 0.0, 2e6 / (1e9 * 0.5 * m / (m + 8)))
    ...        for m in (1, 4, 16, 64, 256)]
    >>> curve = fit_curve(obs, 1e9, "example")
    >>> round(curve.ceiling, 2), round(curve.half_m), curve.rms_log_error < 0.05
    (0.5, 8, True)
    """
    if not obs:
        raise ValueError("no timed kernels to fit an efficiency curve to")
    grid = np.ix_(CEILINGS, HALVES, HALVES, HALVES)
    errors = _errors(obs, peak, *grid)
    i, a, b, c = np.unravel_index(int(np.argmin(errors)), errors.shape)
    best = np.array([CEILINGS[i], HALVES[a], HALVES[b], HALVES[c]])
    steps = np.array([1.0, 0.5, 0.8, 0.9, 1.1, 1.25, 2.0])
    for _ in range(3):
        ceil = np.minimum(best[0] * steps, 1.0)
        # a half point of 0 is refined from a small value, so the search can leave it
        halves = [np.unique(np.concatenate([[0.0], max(h, 0.25) * steps])) for h in best[1:]]
        errors = _errors(obs, peak, *np.ix_(ceil, *halves))
        i, a, b, c = np.unravel_index(int(np.argmin(errors)), errors.shape)
        best = np.array([ceil[i], halves[0][a], halves[1][b], halves[2][c]])
    rms = float(np.sqrt(errors[i, a, b, c]))
    return EfficiencyCurve(ceiling=float(best[0]), half_m=float(best[1]),
                           half_n=float(best[2]), half_k=float(best[3]), points=len(obs),
                           rms_log_error=rms, source=source)


__all__ = ["CEILINGS", "HALVES", "Observation", "fit_curve"]
