"""The table of a profile fit (``planner fit``): per measured latency the prediction
before the fit, after it and held out, and the factors and errors in the notes."""

from __future__ import annotations

from planner.cost.profile_fit import ProfileFit
from planner.report.table import Column, Table

FIT_COLUMNS = [
    Column("measurement", "measured latency"), Column("measured_s", "measured", "seconds"),
    Column("before_s", "before", "seconds"), Column("before_ratio", "before / measured", "float"),
    Column("fitted_ratio", "fitted / measured", "float"),
    Column("held_out_ratio", "held out / measured", "float"),
]


def fit_table(fit: ProfileFit, name: str) -> Table:
    """One row per measurement; notes with each processor's factor and the error before
    the fit and left out of it (``name``: the profile as the user gave it)."""
    rows = [{"measurement": r.measurement.label, "measured_s": r.measurement.seconds,
             "before_s": r.before_s, "before_ratio": r.before_s / r.measurement.seconds,
             "fitted_ratio": r.fitted_s / r.measurement.seconds,
             "held_out_ratio": r.held_out_s / r.measurement.seconds} for r in fit.rows]
    n = len(fit.rows)
    notes = [f"efficiencies of {proc} x{factor:.3f}" + (" (capped at 1 where above)"
                                                        if factor > 1 else "")
             for proc, factor in fit.factors.items()]
    for band in (0.10, 0.25):
        notes.append(f"within ±{band:.0%}: {fit.within(band, 'before')} of {n} before the fit, "
                     f"{fit.within(band, 'held_out')} of {n} held out")
    notes.append(f"rms log error: {fit.rms_log_error('before'):.3f} before, "
                 f"{fit.rms_log_error('fitted'):.3f} fitted, "
                 f"{fit.rms_log_error('held_out'):.3f} leave-one-out (each row predicted by "
                 "a fit without it; a row alone on its processor keeps the unfitted factor)")
    return Table(f"fit of {name} to {n} measured latencies", FIT_COLUMNS, rows, None, notes)


__all__ = ["FIT_COLUMNS", "fit_table"]
