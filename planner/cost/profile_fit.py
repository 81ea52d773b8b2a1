"""Fitting a device profile to measured latencies (what ``planner fit`` does).

A bundled profile's peaks and bandwidths come from data sheets; what a runtime reaches of
them (its efficiency factors) is the least certain part. Given a handful of measured
whole-model latencies on the device, :func:`fit_profile` scales each measured processor's
efficiency factors (every op class, and the ceilings of fitted curves; capped at 1) by the
one factor that minimises the squared ``ln(predicted / measured)`` of the rows on that
processor. Layers a delegate cannot run fall back to the host, so the host is fitted
first and the others on top of it.

The error of the fitted profile is reported leave-one-out: each row predicted by a fit
made without it (a row alone on its processor is then predicted by the unfitted profile).
That error is what a new model can expect and is written into the fitted profile
(``validation``), so plans and reports can show it.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphs import Graph
from hardware_profiles import EfficiencyCurve, HardwareProfile, Processor, Sourced, Validation
from planner.cost.placement import placement_cost, single_processor_placement

COARSE = np.geomspace(0.05, 20.0, 41)
"""Efficiency factors tried first (16% apart)."""
FINE_STEPS = 21
"""Factors tried between the two neighbours of the best coarse one (under 1% apart)."""


@dataclass(frozen=True)
class LatencyMeasurement:
    """One measured batch latency: the model's graph, where it ran (``processor`` at
    ``dtype``, with the ops it cannot run on the host), seconds, and a label for tables."""

    label: str
    graph: Graph
    processor: str
    dtype: str
    seconds: float


@dataclass(frozen=True)
class FittedRow:
    """A measurement with its predicted seconds before the fit, after it, and held out
    (by a fit made without this row)."""

    measurement: LatencyMeasurement
    before_s: float
    fitted_s: float
    held_out_s: float


@dataclass(frozen=True)
class ProfileFit:
    """The fitted profile, the factor applied to each fitted processor's efficiencies,
    and every row."""

    profile: HardwareProfile
    factors: dict[str, float]
    rows: list[FittedRow]

    def rms_log_error(self, which: str = "held_out") -> float:
        """Root mean square of ``ln(predicted / measured)`` over the rows, for ``before``,
        ``fitted`` or ``held_out`` predictions."""
        logs = [math.log(getattr(r, f"{which}_s") / r.measurement.seconds) for r in self.rows]
        return math.sqrt(sum(x * x for x in logs) / len(logs))

    def within(self, band: float, which: str = "held_out") -> int:
        """Rows whose ``which`` prediction is within ``±band`` of the measured latency."""
        return sum(abs(getattr(r, f"{which}_s") / r.measurement.seconds - 1) <= band
                   for r in self.rows)


def scaled_processor(processor: Processor, factor: float, note: str) -> Processor:
    """``processor`` with every efficiency and curve ceiling times ``factor`` (at most 1),
    each source saying so with ``note``."""
    efficiency = {key: Sourced(value=min(1.0, item.value * factor),
                               source=f"{item.source}; x{factor:.3f} {note}", estimate=True)
                  for key, item in processor.efficiency.items()}
    def scaled(curves: Mapping[Any, EfficiencyCurve]) -> dict[Any, EfficiencyCurve]:
        return {key: curve.model_copy(update={
            "ceiling": min(1.0, curve.ceiling * factor),
            "source": f"{curve.source}; x{factor:.3f} {note}"}) for key, curve in curves.items()}

    return processor.model_copy(update={"efficiency": efficiency,
                                         "efficiency_curves": scaled(processor.efficiency_curves),
                                         "op_curves": scaled(processor.op_curves)})


def _with_factors(profile: HardwareProfile, factors: dict[str, float],
                  note: str) -> HardwareProfile:
    processors = {name: scaled_processor(proc, factors[name], note) if name in factors
                  else proc for name, proc in profile.processors.items()}
    return profile.model_copy(update={"processors": processors})


def predicted_seconds(measurement: LatencyMeasurement, profile: HardwareProfile) -> float:
    """What ``profile`` predicts for ``measurement``: the whole model on its processor and
    dtype, unsupported ops on the host."""
    placement = single_processor_placement(measurement.graph, profile, measurement.processor,
                                           measurement.dtype)
    return placement_cost(measurement.graph, profile, placement).total.latency_s


class _Predictions:
    """Predicted seconds of each row at a factor on one processor, memoised: the full fit
    and every leave-one-out fit try the same factors."""

    def __init__(self, rows: Sequence[LatencyMeasurement], profile: HardwareProfile,
                 processor: str, factors: dict[str, float]) -> None:
        self.rows, self.profile, self.processor = rows, profile, processor
        self.factors = factors
        self.memo: dict[tuple[int, float], float] = {}

    def __call__(self, index: int, factor: float) -> float:
        key = (index, factor)
        if key not in self.memo:
            fitted = _with_factors(self.profile, {**self.factors, self.processor: factor}, "")
            self.memo[key] = predicted_seconds(self.rows[index], fitted)
        return self.memo[key]


def _best_factor(indices: Sequence[int], predict: _Predictions) -> float:
    """The factor minimising the squared log error of rows ``indices`` (1 when there are
    none): the best of :data:`COARSE`, refined between its neighbours."""
    if not indices:
        return 1.0

    def loss(factor: float) -> float:
        return sum(math.log(predict(i, factor) / predict.rows[i].seconds) ** 2
                   for i in indices)

    best = min(range(len(COARSE)), key=lambda i: loss(float(COARSE[i])))
    low, high = COARSE[max(best - 1, 0)], COARSE[min(best + 1, len(COARSE) - 1)]
    return min((float(f) for f in np.geomspace(low, high, FINE_STEPS)), key=loss)


def validation_note(profile: HardwareProfile) -> str | None:
    """The expected error band of ``profile``'s latency predictions, where it has been
    validated against measured latencies (None where it has not)."""
    v = profile.validation
    if v is None:
        return None
    how = "leave-one-out over" if v.leave_one_out else "over"
    return (f"latency predictions of {profile.name} are expected within ±{v.band:.0%} (rms; "
            f"worst {v.worst_error:.0%}, {how} {v.measurements} measured latencies, {v.date})")


def fit_profile(profile: HardwareProfile, measurements: Sequence[LatencyMeasurement],
                source: str) -> ProfileFit:
    """Fit ``profile``'s efficiency factors to ``measurements`` (described by ``source`` in
    the fitted profile's sources), with leave-one-out predictions for every row."""
    if not measurements:
        raise ValueError("no measurements to fit the profile to")
    for m in measurements:
        if m.processor not in profile.processors:
            raise ValueError(f"{m.label}: profile {profile.name!r} has no processor "
                             f"{m.processor!r} (it has {', '.join(profile.processors)})")
        if m.dtype not in profile.processors[m.processor].peak_ops_per_s:
            raise ValueError(f"{m.label}: processor {m.processor!r} of {profile.name!r} does "
                             f"not compute in {m.dtype} (it computes in "
                             f"{', '.join(profile.processors[m.processor].dtypes)})")
        if not m.seconds > 0:
            raise ValueError(f"{m.label}: a measured latency must be positive, got "
                             f"{m.seconds} s")
    order = [profile.host, *(p for p in profile.processors if p != profile.host)]
    fitted = [p for p in order if any(m.processor == p for m in measurements)]
    factors: dict[str, float] = {}
    held_out = [0.0] * len(measurements)
    for processor in fitted:
        indices = [i for i, m in enumerate(measurements) if m.processor == processor]
        predict = _Predictions(measurements, profile, processor, dict(factors))
        factors[processor] = _best_factor(indices, predict)
        for i in indices:
            alone = _best_factor([j for j in indices if j != i], predict)
            held_out[i] = predict(i, alone)
    stamp = datetime.date.today().isoformat()
    note = f"fitted by planner fit to {len(measurements)} measured latencies ({source}, {stamp})"
    result = _with_factors(profile, factors, note)
    rows = [FittedRow(m, predicted_seconds(m, profile), predicted_seconds(m, result),
                      held_out[i]) for i, m in enumerate(measurements)]
    fit = ProfileFit(result, factors, rows)
    validation = Validation(
        measurements=len(rows), rms_log_error=fit.rms_log_error("held_out"),
        worst_error=max(abs(r.held_out_s / r.measurement.seconds - 1) for r in rows),
        leave_one_out=True,
        source=f"leave-one-out predictions of {len(rows)} measured latencies ({source})",
        date=stamp)
    return ProfileFit(result.model_copy(update={"validation": validation}), factors, rows)


__all__ = ["COARSE", "FittedRow", "LatencyMeasurement", "ProfileFit", "fit_profile",
           "predicted_seconds", "scaled_processor", "validation_note"]
