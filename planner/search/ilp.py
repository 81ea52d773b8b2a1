"""The integer linear program that picks one option per decision (the only module that
imports PuLP).

Data first, then variables keyed by tuples, the objective, named constraints, solve, check:

- ``x[d, i]`` (binary): decision d takes its option i; ``one_choice[d]``: Σ_i x[d, i] = 1.
- ``z[g, r]`` (binary): channel group g keeps ratio r; ``one_ratio[g]``: Σ_r z[g, r] = 1;
  ``coupled[d, g, r]``: Σ_{i with ratio r for g} x[d, i] = z[g, r]. Every decision touching
  a group therefore takes the same ratio, and a consumer's option (indexed by its input
  and output ratios) is priced exactly at its producer's ratio.
- ``t[d, q]`` (continuous ≥ 0): seconds to move d's output to processor q.
  ``transfer[d, q, c]``: t[d, q] ≥ T_q(x_d) − M·(1 − on_q(c)) for each consumer c, where
  T_q(x_d) = Σ_{i not on q} x[d, i]·(link latency + bytes_i / bandwidth) and on_q(c) = Σ of
  c's options on q. Graph outputs pay T_host(x_d) unconditionally. Exact for minimisation:
  at the optimum t equals the real transfer time. Added only when latency matters.
- ``memory_at[k]``: Σ over decisions live at step k of Σ_i x[d, i]·out_bytes_i ≤ peak.
- budgets: ``size_budget``, ``latency_budget``, ``memory_budget``, ``energy_budget``,
  ``error_budget``.

Each quantity is scaled so that its largest possible total is about 1000 (solver tolerances
are absolute). Ties in the objective are broken lexicographically by a second solve that
fixes the objective (within 1e-9 relative) and minimises the summed layer latency (size
when the objective is latency), within a short time limit. CBC by default, HiGHS on
request; with a time limit the best plan found is returned with its gap (HiGHS's own
bound; for CBC the LP relaxation's bound).
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import pulp

from planner.contracts.quantities import QUANTITIES, QUANTITY_OF, Budgets
from planner.search.options import Option
from planner.search.problem import Objective, Problem

Solver = Literal["cbc", "highs"]
SOLVERS: tuple[Solver, ...] = ("cbc", "highs")
TIE_TOLERANCE = 1e-9
SCALE_TARGET = 1000.0


class SolverError(RuntimeError):
    """The solver failed without proving anything (the LP file is kept for inspection)."""


class NoPlanError(RuntimeError):
    """No assignment meets the budgets (or the solver found none in its time limit)."""

    def __init__(self, message: str, proven: bool) -> None:
        super().__init__(message)
        self.proven = proven


@dataclass(frozen=True)
class Solution:
    """The chosen option per decision, the objective value (in the quantity's own unit),
    the relative gap to the best bound (0 when proven optimal) and solve seconds."""

    chosen: dict[str, Option]
    objective: float
    gap: float
    optimal: bool
    seconds: float
    variables: int
    constraints: int


# ---------------------------------------------------------------- quantities


def _quantity(option: Option, name: str, sensitivity: float) -> float:
    """An option's own contribution to a total (bytes, seconds, joules, error)."""
    return QUANTITIES[name].of_option(option, sensitivity)


def _scales(problem: Problem) -> dict[str, float]:
    """Multipliers that bring each quantity's largest possible total near SCALE_TARGET."""
    scales = {}
    for name in QUANTITIES:
        top = sum(max((_quantity(o, name, d.sensitivity) for o in d.options), default=0.0)
                  for d in problem.decisions)
        if name == "size":
            top += problem.fixed_bits / 8
        if name == "latency":
            top += sum(link.seconds(max((o.out_bytes for o in d.options), default=0))
                       for d in problem.decisions for link in problem.links.values())
        scales[name] = SCALE_TARGET / top if top > 0 else 1.0
    return scales


# ---------------------------------------------------------------- model


class _Model:
    """The PuLP model of one problem under one set of budgets."""

    def __init__(self, problem: Problem, budgets: Budgets, objective: Objective) -> None:
        self.problem, self.objective_name = problem, objective
        self.scales = _scales(problem)
        self.lp = pulp.LpProblem("compression_plan", pulp.LpMinimize)
        self.x = {(d.name, i): self.lp.add_variable(f"x_{k}_{i}", cat="Binary")
                  for k, d in enumerate(problem.decisions) for i in range(len(d.options))}
        self.expressions: dict[str, pulp.LpAffineExpression] = {}
        needed = {QUANTITY_OF[objective], *budgets.given()}
        self._choose_one()
        self._couple_groups()
        for name, quantity in QUANTITIES.items():
            if name in needed and quantity.aggregate == "sum" and name != "latency":
                self.expressions[name] = self._sum(name)
        if "latency" in needed:
            self.expressions["latency"] = self._sum("latency") + self._transfers()
        if "memory" in needed:
            self.expressions["memory"] = self._peak_memory()
        for name, bound in budgets.given().items():
            self.lp += (self.expressions[name] <= bound * self.scales[name],
                        f"{name}_budget")
        self.goal = self.expressions[QUANTITY_OF[objective]]
        self.lp.setObjective(self.goal)

    # ----------------------------------------------------------- pieces

    def _affine(self, terms: list[tuple[pulp.LpVariable, float]], constant: float = 0.0
                ) -> pulp.LpAffineExpression:
        return pulp.LpAffineExpression([t for t in terms if t[1] != 0], constant=constant)

    def _choose_one(self) -> None:
        for k, d in enumerate(self.problem.decisions):
            self.lp += (pulp.lpSum(self.x[d.name, i] for i in range(len(d.options))) == 1,
                        f"one_choice_{k}")

    def _couple_groups(self) -> None:
        ratios: dict[int, set[float]] = defaultdict(set)
        for d in self.problem.decisions:
            for pos, gid in enumerate(d.groups):
                ratios[gid].update(o.ratios[pos] for o in d.options)
        self.z = {(gid, r): self.lp.add_variable(f"z_{gid}_{j}", cat="Binary")
                  for gid, rs in ratios.items() for j, r in enumerate(sorted(rs))}
        for gid, rs in ratios.items():
            self.lp += (pulp.lpSum(self.z[gid, r] for r in rs) == 1, f"one_ratio_{gid}")
        for k, d in enumerate(self.problem.decisions):
            for pos, gid in enumerate(d.groups):
                for j, r in enumerate(sorted(ratios[gid])):
                    picks = [(self.x[d.name, i], 1.0) for i, o in enumerate(d.options)
                             if o.ratios[pos] == r]
                    self.lp += (self._affine(picks) == self.z[gid, r],
                                f"coupled_{k}_{gid}_{j}")

    def _sum(self, name: str) -> pulp.LpAffineExpression:
        scale = self.scales[name]
        terms = [(self.x[d.name, i], _quantity(o, name, d.sensitivity) * scale)
                 for d in self.problem.decisions for i, o in enumerate(d.options)]
        constant = self.problem.fixed_bits / 8 * scale if name == "size" else 0.0
        return self._affine(terms, constant)

    def _on(self, name: str, processor: str) -> list[tuple[pulp.LpVariable, float]]:
        d = self.problem.decision(name)
        return [(self.x[name, i], 1.0) for i, o in enumerate(d.options)
                if o.choice.processor == processor]

    def _transfers(self) -> pulp.LpAffineExpression:
        problem, scale = self.problem, self.scales["latency"]
        processors = sorted({o.choice.processor for d in problem.decisions for o in d.options}
                            | {problem.host})
        total = []
        for k, d in enumerate(problem.decisions):
            for q in processors:
                cost = [(self.x[d.name, i], problem.links[o.choice.processor, q]
                         .seconds(o.out_bytes) * scale)
                        for i, o in enumerate(d.options) if o.choice.processor != q]
                readers = [c for c in d.consumers if self._on(c, q)]
                must = d.is_output and q == problem.host
                if not cost or not (readers or must):
                    continue
                t = self.lp.add_variable(f"t_{k}_{processors.index(q)}", lowBound=0)
                total.append((t, 1.0))
                big_m = max(c for _, c in cost)
                if must:
                    self.lp += (t >= self._affine(cost), f"transfer_{k}_{q}_host")
                    continue
                for j, c in enumerate(readers):
                    on_q = self._affine(self._on(c, q))
                    self.lp += (t >= self._affine(cost) - big_m * (1 - on_q),
                                f"transfer_{k}_{q}_{j}")
        return self._affine(total)

    def _peak_memory(self) -> pulp.LpAffineExpression:
        problem, scale = self.problem, self.scales["memory"]
        peak = self.lp.add_variable("peak_memory", lowBound=0)
        for k, live in enumerate(problem.live_sets()):
            terms = [(self.x[problem.decisions[j].name, i], o.out_bytes * scale)
                     for j in live for i, o in enumerate(problem.decisions[j].options)]
            self.lp += (self._affine(terms) <= peak, f"memory_at_{k}")
        return self._affine([(peak, 1.0)])

    # ----------------------------------------------------------- reading back

    def chosen(self) -> dict[str, Option]:
        picks = {}
        for d in self.problem.decisions:
            values = [self.x[d.name, i].varValue or 0.0 for i in range(len(d.options))]
            picks[d.name] = d.options[max(range(len(values)), key=values.__getitem__)]
        return picks

    def value(self, expression: pulp.LpAffineExpression, name: str) -> float:
        return _number(expression) / self.scales[name]


# ---------------------------------------------------------------- solving


def _number(expression: pulp.LpAffineExpression) -> float:
    """An expression's value after a solve (its constant when it has no variables)."""
    value = pulp.value(expression)
    return float(expression.constant if value is None else value)


def _solver(name: Solver, time_limit_s: float | None, gap: float | None
            ) -> pulp.LpSolver:
    if name == "cbc":
        return pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s, gapRel=gap)
    if name == "highs":
        return pulp.HiGHS(msg=False, timeLimit=time_limit_s, gapRel=gap)
    raise ValueError(f"unknown solver {name!r}; choose one of {', '.join(SOLVERS)}")


def _run(model: _Model, solver: Solver, time_limit_s: float | None, gap: float | None
         ) -> int:
    """Solve; return PuLP's solution status. Writes the LP file when the solver errs."""
    try:
        model.lp.solve(_solver(solver, time_limit_s, gap))
    except pulp.PulpSolverError as exc:
        path = Path(tempfile.gettempdir()) / "planner_failed.lp"
        model.lp.writeLP(str(path))
        raise SolverError(f"{solver} failed ({exc}); the model is in {path}") from exc
    return int(model.lp.sol_status)


def _bound(model: _Model, solver: Solver) -> float:
    """A lower bound on the objective (scaled): HiGHS's MIP bound, else the LP relaxation."""
    highs = getattr(model.lp, "solverModel", None)
    if solver == "highs" and highs is not None:
        return float(highs.getInfo().mip_dual_bound)
    found = {v.name: v.varValue for v in model.lp.variables()}
    model.lp.solve(pulp.PULP_CBC_CMD(msg=False, mip=False))
    bound = _number(model.goal)
    for var in model.lp.variables():
        var.varValue = found[var.name]
    return bound


def solve(problem: Problem, budgets: Budgets, objective: Objective = "accuracy", *,
          solver: Solver = "cbc", time_limit_s: float | None = None,
          gap: float | None = None, tie_break: bool = True) -> Solution:
    """The option per decision that minimises ``objective`` within ``budgets``.

    Raises :class:`NoPlanError` when the budgets admit no plan (``proven`` tells whether
    the solver proved it, or only ran out of time), :class:`SolverError` when it fails.
    """
    import time

    start = time.perf_counter()
    model = _Model(problem, budgets, objective)
    status = _run(model, solver, time_limit_s, gap)
    if status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        proven = status == pulp.LpSolutionInfeasible
        raise NoPlanError("no plan meets the budgets" if proven else
                          f"{solver} found no plan within {time_limit_s} s", proven)
    quantity = QUANTITY_OF[objective]
    value = model.value(model.goal, quantity)
    found = _number(model.goal)
    rel_gap = 0.0
    if status != pulp.LpSolutionOptimal or gap:
        bound = _bound(model, solver)
        rel_gap = max(0.0, (found - bound) / abs(found)) if found else 0.0
    optimal = rel_gap <= 1e-9
    if tie_break:
        _break_ties(model, objective, found, solver, time.perf_counter() - start)
    return Solution(model.chosen(), value, rel_gap, optimal, time.perf_counter() - start,
                    model.lp.numVariables(), model.lp.numConstraints())


def _break_ties(model: _Model, objective: Objective, found: float, solver: Solver,
                seconds: float) -> None:
    """Among plans within TIE_TOLERANCE of the optimum, the one with the least summed layer
    latency (transfers aside; the least size when the objective is latency), searched for
    at most max(5 s, twice the first solve). Keeps the first solution when that finds
    nothing."""
    second = "size" if objective == "latency" else "latency"
    first = {v.name: v.varValue for v in model.lp.variables()}
    model.lp += (model.goal <= found + TIE_TOLERANCE * max(abs(found), 1.0), "tie_break")
    model.lp.setObjective(model._sum(second))
    status = _run(model, solver, max(5.0, 2 * seconds), None)
    if status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        for var in model.lp.variables():
            var.varValue = first.get(var.name)


def minimum(problem: Problem, quantity: str, *, solver: Solver = "cbc",
            time_limit_s: float | None = None) -> float:
    """The smallest value of one quantity (size, latency, memory, energy, error) that any
    plan reaches, ignoring every budget."""
    objective = cast(Objective, QUANTITIES[quantity].objective)
    return solve(problem, Budgets(), objective, solver=solver, time_limit_s=time_limit_s,
                 tie_break=False).objective


__all__ = [
    "SOLVERS",
    "NoPlanError",
    "Solution",
    "Solver",
    "SolverError",
    "minimum",
    "solve",
]
