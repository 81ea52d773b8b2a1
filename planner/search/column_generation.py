"""The LP relaxation of a large program by column generation (HiGHS, dual simplex).

Most option columns of a plan's program never enter an optimal basis: a decision has
thousands of options and the relaxation uses a handful. So the LP starts from a *master*
holding every non-option column and a seed of option columns, and repeats:

1. solve the master (warm: HiGHS keeps its basis when columns are added);
2. price every option column from the master's row duals y: d_j = c_j − a_jᵀy (one sparse
   product over the whole matrix);
3. add the most negative ones, ``PER_DECISION`` per decision at most.

When no column prices below ``-PRICING_TOLERANCE`` the master's optimum is the optimum
of the whole relaxation, and (y, d) is a dual solution of it: every option's reduced cost
is valid for reduced-cost fixing (a plan taking option j costs at least bound + d_j).

The seed must make the master feasible. Every ``≤`` row gets an *artificial* column
(−1 in that row, cost ``ARTIFICIAL_COST``), so a seed holding one consistent assignment
(the caller's) always is. An optimum with an artificial above zero proves nothing: then
the result says ``status="unknown"`` and the caller solves the full relaxation instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from planner.search.deadline import Deadline
from planner.search.highs_session import new_highs, run_highs
from planner.search.milp import Matrix

PER_DECISION = 64
"""Columns added per decision and round at most (the most negative reduced costs)."""
PRICING_TOLERANCE = 1e-7
"""A column prices out when its reduced cost is at least minus this (HiGHS's dual
feasibility tolerance)."""
ARTIFICIAL_COST = 1e6
"""Cost of violating a ``≤`` row by one scaled unit (quantities are scaled near 1000)."""
ROUNDS = 200


@dataclass(frozen=True)
class Relaxation:
    """The LP optimum (in the matrix's cost units), every option column's reduced cost,
    and the option columns the master ended with."""

    status: Literal["optimal", "infeasible", "unknown"]
    bound: float
    reduced: np.ndarray
    master: np.ndarray


class _Columns:
    """The matrix column-wise (CSC), to hand HiGHS any subset of columns."""

    def __init__(self, matrix: Matrix) -> None:
        self.row_of = matrix.entry_rows()
        order = np.argsort(matrix.col_index, kind="stable")
        self.rows = self.row_of[order].astype(np.int32)
        self.values = matrix.value[order]
        self.start = np.searchsorted(matrix.col_index[order], np.arange(len(matrix.cost) + 1))

    def slices(self, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(column starts, row indices, values) of ``columns`` in HiGHS's layout."""
        lengths = self.start[columns + 1] - self.start[columns]
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32)
        # entry k of column c sits at self.start[c] + k
        offsets = np.arange(int(lengths.sum())) - np.repeat(starts, lengths)
        take = np.repeat(self.start[columns], lengths) + offsets
        return starts, self.rows[take], self.values[take]


def relax(matrix: Matrix, options: int, owner: np.ndarray, seed: np.ndarray,
          time_limit_s: float | None = None) -> Relaxation:
    """The relaxation of ``matrix`` (its first ``options`` columns are options, ``owner``
    their decision) by column generation from the option columns in ``seed`` (a mask)."""
    import highspy

    left = Deadline(time_limit_s).left
    by_column = _Columns(matrix)
    h = new_highs()
    h.setOptionValue("presolve", "off")  # HiGHS's presolve costs seconds on these LPs
    lp = highspy.HighsLp()
    lp.num_row_, lp.num_col_ = len(matrix.row_lower), 0
    lp.row_lower_, lp.row_upper_ = matrix.row_lower, matrix.row_upper
    h.passModel(lp)

    def add(columns: np.ndarray) -> None:
        starts, rows, values = by_column.slices(columns)
        h.addCols(len(columns), matrix.cost[columns], matrix.col_lower[columns],
                  matrix.col_upper[columns], len(rows), starts, rows, values)

    active = np.zeros(len(matrix.cost), bool)
    active[options:] = True
    active[:options] = seed
    add(np.flatnonzero(active))
    first_artificial = int(active.sum())
    inequality = np.flatnonzero(np.isinf(matrix.row_lower) & np.isfinite(matrix.row_upper))
    count = len(inequality)
    h.addCols(count, np.full(count, ARTIFICIAL_COST), np.zeros(count), np.full(count, np.inf),
              count, np.arange(count, dtype=np.int32), inequality.astype(np.int32),
              -np.ones(count))
    unknown = Relaxation("unknown", -np.inf, np.zeros(options), active[:options])
    model_status = highspy.HighsModelStatus
    for _ in range(ROUNDS):
        seconds = left()
        if seconds is not None:
            if seconds <= 0:
                return unknown
            h.setOptionValue("time_limit", seconds)
        run_highs(h)
        if h.getModelStatus() != model_status.kOptimal:
            return unknown
        duals = np.asarray(h.getSolution().row_dual)
        reduced = matrix.cost[:options] - np.bincount(
            matrix.col_index, weights=matrix.value * duals[by_column.row_of],
            minlength=len(matrix.cost))[:options]
        pricing = np.where(active[:options], np.inf, reduced)
        entering = np.flatnonzero(pricing < -PRICING_TOLERANCE)
        if not len(entering):
            values = np.asarray(h.getSolution().col_value)
            if np.any(values[first_artificial:first_artificial + count] > 1e-9):
                return unknown
            return Relaxation("optimal", float(h.getInfo().objective_function_value),
                              reduced, active[:options])
        entering = entering[least_per_group(pricing[entering], owner[entering],
                                            PER_DECISION)]
        active[entering] = True
        add(entering)
    return unknown


def least_per_group(values: np.ndarray, owner: np.ndarray, count: int) -> np.ndarray:
    """A mask of the ``count`` least values of each owner group (ties: first).

    >>> least_per_group(np.array([3.0, 1.0, 2.0, 5.0]), np.array([0, 0, 0, 1]), 2)
    array([False,  True,  True,  True])
    """
    order = np.lexsort((values, owner))
    ranked = np.empty(len(values), np.int64)
    starts = np.searchsorted(owner[order], owner[order], side="left")
    ranked[order] = np.arange(len(values)) - starts
    return ranked < count


__all__ = ["Relaxation", "least_per_group", "relax"]
