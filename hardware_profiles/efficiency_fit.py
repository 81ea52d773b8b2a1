"""Fitting an op class's efficiency curve to timed kernels.

A kernel of GEMM shape ``(m, n, k)`` with ``flops`` is predicted to take
``max(flops / (peak · e(m, n, k)), memory seconds) + overhead`` (the roofline the cost model
uses, beyond the processor's launch overhead), with ``e`` the
:class:`~hardware_profiles.schema.EfficiencyCurve` ``ceiling · m/(m + half_m) · n/(n +
half_n) · k/(k + half_k)`` and ``overhead`` its fixed seconds per kernel. The fit picks the
five parameters that minimise the mean squared ``ln(predicted / measured)``: an exhaustive
search over a logarithmic grid, then a local refinement around the best. It needs only
numpy and takes about a second for a few hundred kernels. What the smooth curve still
misses at each compute-bound benchmark is kept as the curve's ``corrections``.
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
OVERHEADS = np.concatenate([[0.0], np.geomspace(0.25e-6, 32e-6, 8)])
"""Fixed seconds per kernel tried first."""
BY_KIND = ("elementwise", "data_movement", "pooling")
"""Op classes whose op kinds get curves of their own (``Processor.op_curves``) where
:data:`MIN_KIND_POINTS` benchmarks time them: within these classes a runtime's kernels
differ by kind more than by shape (numpy's ``add`` is one call, its ``relu`` a blocked
loop; a slice may be a view and a concat a copy; a max pooling and a global average
pooling are different kernels)."""
MIN_KIND_POINTS = 5
"""Benchmarks of one op kind it takes to fit the kind its own curve."""


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
            hn: np.ndarray, hk: np.ndarray, over: np.ndarray) -> np.ndarray:
    """Mean squared log error of each parameter combination (arrays broadcast together)."""
    total = np.zeros(np.broadcast_shapes(ceil.shape, hm.shape, hn.shape, hk.shape,
                                         over.shape))
    for o in obs:
        if o.flops == 0:  # data movement: its memory traffic and the fixed cost alone
            predicted = np.broadcast_to(o.memory_s + over, total.shape)
        else:
            inverse = ((1 / ceil) * ((o.m + hm) / o.m) * ((o.n + hn) / o.n)
                       * ((o.k + hk) / o.k))
            predicted = np.maximum(o.flops / peak * inverse, o.memory_s) + over
        total += np.log(predicted / o.seconds) ** 2
    return total / len(obs)


def fit_curve(obs: Sequence[Observation], peak: float, source: str) -> EfficiencyCurve:
    """The curve that best predicts ``obs`` at ``peak`` operations per second.

    >>> obs = [Observation(m, 100, 100, 2e6, 0.0, 2e6 / (1e9 * 0.5 * m / (m + 8)))
    ...        for m in (1, 4, 16, 64, 256)]
    >>> curve = fit_curve(obs, 1e9, "example")
    >>> round(curve.at(16, 100, 100), 2), round(curve.at(256, 100, 100), 2)  # 0.5·m/(m + 8)
    (0.33, 0.48)
    >>> curve.rms_log_error < 0.05
    True
    """
    if not obs:
        raise ValueError("no timed kernels to fit an efficiency curve to")
    errors = _errors(obs, peak, *np.ix_(CEILINGS, HALVES, HALVES, HALVES, OVERHEADS))
    index = np.unravel_index(int(np.argmin(errors)), errors.shape)
    grids = [CEILINGS, HALVES, HALVES, HALVES, OVERHEADS]
    best = [float(g[i]) for g, i in zip(grids, index, strict=True)]
    steps = np.array([1.0, 0.5, 0.8, 0.9, 1.1, 1.25, 2.0])
    for _ in range(3):
        # a parameter at 0 is refined from a small value as well, so the search can leave it
        grids = [np.minimum(best[0] * steps, 1.0),
                 *(np.unique(np.concatenate([[0.0], max(h, 0.25) * steps])) for h in best[1:4]),
                 np.unique(np.concatenate([[0.0], max(best[4], 0.1e-6) * steps]))]
        errors = _errors(obs, peak, *np.ix_(*grids))
        index = np.unravel_index(int(np.argmin(errors)), errors.shape)
        best = [float(g[i]) for g, i in zip(grids, index, strict=True)]
    curve = EfficiencyCurve(ceiling=best[0], half_m=best[1], half_n=best[2], half_k=best[3],
                            overhead_s=best[4], points=len(obs),
                            rms_log_error=float(np.sqrt(errors[index])), source=source)
    return curve.model_copy(update={"corrections": corrections(obs, curve, peak)})


def corrections(obs: Sequence[Observation], curve: EfficiencyCurve,
                peak: float) -> list[tuple[float, float, float, float]]:
    """``(m, n, k, ln(curve efficiency / measured efficiency))`` of every benchmark whose
    measured time beyond the curve's fixed cost is compute (longer than its memory time by
    a tenth); the measured efficiency is capped at 1 and the log at ±2."""
    table = []
    for o in obs:
        compute_s = o.seconds - curve.overhead_s
        if o.flops == 0 or compute_s <= 1.1 * o.memory_s:
            continue
        measured = min(1.0, o.flops / (peak * compute_s))
        shift = float(np.clip(np.log(curve.at(o.m, o.n, o.k) / measured), -2.0, 2.0))
        table.append((o.m, o.n, o.k, round(shift, 4)))
    return table


__all__ = ["BY_KIND", "CEILINGS", "HALVES", "MIN_KIND_POINTS", "Observation", "corrections",
           "fit_curve"]
