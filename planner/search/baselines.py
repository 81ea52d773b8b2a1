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

from planner.search.options import Option
from planner.search.problem import Budgets, Problem, evaluate


def _unpruned(options: list[Option]) -> list[Option]:
    return [o for o in options if all(r == 1.0 for r in o.ratios)]


def greedy(problem: Problem, budgets: Budgets) -> dict[str, Option] | None:
    """The AIMET-style common-level selection (see the module docstring)."""
    levels = sorted({d.sensitivity * o.error for d in problem.decisions
                     for o in _unpruned(d.options)})

    def at(level: float) -> dict[str, Option] | None:
        chosen = {}
        for d in problem.decisions:
            allowed = [o for o in _unpruned(d.options) if d.sensitivity * o.error <= level]
            if not allowed:
                return None
            chosen[d.name] = min(allowed, key=lambda o: (o.size_bits, o.latency_s))
        return chosen

    def fits(level: float) -> bool:
        chosen = at(level)
        return chosen is not None and not evaluate(problem, chosen).violations(budgets)

    low, high = 0, len(levels) - 1
    if not levels or not fits(levels[high]):
        return None
    while low < high:
        mid = (low + high) // 2
        if fits(levels[mid]):
            high = mid
        else:
            low = mid + 1
    return at(levels[low])


def uniform(problem: Problem, budgets: Budgets) -> dict[str, Option] | None:
    """The best single weight format for every compressible layer (see the module
    docstring); other layers take their fastest unpruned option."""
    formats = sorted({o.choice.fmt for d in problem.decisions for o in d.options
                      if o.size_bits and o.choice.rank == 1 and o.choice.sparsity == 0})
    best: tuple[float, dict[str, Option]] | None = None
    for fmt in formats:
        chosen = {}
        for d in problem.decisions:
            pool = _unpruned(d.options)
            same = [o for o in pool if o.choice.fmt == fmt and o.choice.rank == 1
                    and o.choice.sparsity == 0]
            compressible = any(o.choice.fmt != "fp32" for o in pool)
            candidates = same if compressible else pool
            if not candidates:
                break
            chosen[d.name] = min(candidates, key=lambda o: (o.error, o.latency_s))
        else:
            totals = evaluate(problem, chosen)
            if not totals.violations(budgets) and (best is None or totals.error < best[0]):
                best = (totals.error, chosen)
    return None if best is None else best[1]
