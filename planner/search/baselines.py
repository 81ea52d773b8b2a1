"""Two heuristics the ILP is compared against, on the same problem and budgets.

- ``greedy``: AIMET-style per-layer selection at one common accuracy level: every layer
  takes its smallest option whose own proxy error (sensitivity × error) is at most τ, with
  no channel pruning (so coupling holds trivially); τ is the smallest level whose total
  meets the size budget (bisection over the distinct per-option errors).
- ``uniform``: one weight format for every layer (no pruning, no factorisation); the
  format with the lowest error that meets the size budget.

Both return the chosen option per decision, or None when they meet no budget.
"""

from __future__ import annotations

import numpy as np

from planner.search.option_table import Option, OptionTable
from planner.search.problem import Budgets, Problem, evaluate


def _unpruned(table: OptionTable) -> np.ndarray:
    return np.all(table.ratios == 1.0, axis=1)


def _first_least(table: OptionTable, allowed: np.ndarray, *keys: str) -> Option | None:
    """The first allowed option least in ``keys`` (compared in that order)."""
    rows = np.flatnonzero(allowed)
    if not len(rows):
        return None
    order = np.lexsort([table.column(k)[rows] for k in reversed(keys)])
    return table[int(rows[order[0]])]


def greedy(problem: Problem, budgets: Budgets) -> dict[str, Option] | None:
    """The AIMET-style common-level selection (see the module docstring)."""
    errors = {d.name: d.sensitivity * d.options.column("error") for d in problem.decisions}
    unpruned = {d.name: _unpruned(d.options) for d in problem.decisions}
    levels = np.unique(np.concatenate([errors[n][unpruned[n]] for n in errors])
                       ) if errors else np.zeros(0)

    def at(level: float) -> dict[str, Option] | None:
        chosen = {}
        for d in problem.decisions:
            pick = _first_least(d.options, unpruned[d.name] & (errors[d.name] <= level),
                                "size_bits", "latency_s")
            if pick is None:
                return None
            chosen[d.name] = pick
        return chosen

    def fits(level: float) -> bool:
        chosen = at(level)
        return chosen is not None and not evaluate(problem, chosen).violations(budgets)

    low, high = 0, len(levels) - 1
    if not len(levels) or not fits(float(levels[high])):
        return None
    while low < high:
        mid = (low + high) // 2
        if fits(float(levels[mid])):
            high = mid
        else:
            low = mid + 1
    return at(float(levels[low]))


def uniform(problem: Problem, budgets: Budgets) -> dict[str, Option] | None:
    """The best single weight format for every compressible layer (see the module
    docstring); other layers take their fastest unpruned option."""
    def plain(t: OptionTable) -> np.ndarray:
        return (t.column("rank") == 1) & (t.column("sparsity") == 0)

    formats = sorted({f for d in problem.decisions for f in
                      d.options.column("fmt")[plain(d.options)
                                              & (d.options.column("size_bits") > 0)]})
    best: tuple[float, dict[str, Option]] | None = None
    for fmt in formats:
        chosen = {}
        for d in problem.decisions:
            t = d.options
            pool = _unpruned(t)
            fmts = t.column("fmt")
            same = pool & (fmts == fmt) & plain(t)
            compressible = bool(np.any(pool & (fmts != "fp32")))
            pick = _first_least(t, same if compressible else pool, "error", "latency_s")
            if pick is None:
                break
            chosen[d.name] = pick
        else:
            totals = evaluate(problem, chosen)
            if not totals.violations(budgets) and (best is None or totals.error < best[0]):
                best = (totals.error, chosen)
    return None if best is None else best[1]
