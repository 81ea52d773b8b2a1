"""Solving the integer linear program that picks one option per decision.

The program itself is built as matrices by :mod:`planner.search.milp` (its docstring states
every variable and constraint). This module hands it to a solver, checks the status, and
reads the choice back:

- ``highs`` (default): HiGHS through highspy, given the matrices directly;
- ``cbc``: COIN-OR CBC through PuLP (the only module that imports PuLP).

Optimality is proven to the solver's tolerances (``OPTIMALITY_GAP``) unless ``gap`` asks
for less.
Ties in the objective are broken lexicographically by a second solve that fixes the
objective (within ``TIE_TOLERANCE`` relative), starts from the first solution and minimises
the summed layer latency (size when the objective is latency) over the options that tie
with the chosen ones unit by unit, within ``TIE_BREAK_NODES`` nodes.
With a time limit the best plan found is returned with its gap (the solver's own bound).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from planner.contracts.quantities import QUANTITIES, Budgets, exceeds
from planner.search.column_generation import relax
from planner.search.deadline import Deadline
from planner.search.highs_session import new_highs, run_highs
from planner.search.milp import Matrix, Model, build
from planner.search.option_table import Option
from planner.search.problem import Objective, Problem

Solver = Literal["highs", "cbc"]
SOLVERS: tuple[Solver, ...] = ("highs", "cbc")
TIE_TOLERANCE = 1e-9
TIE_BREAK_NODES = 500
"""Branch-and-bound nodes the tie-break may search (HiGHS)."""
FLOOR_GAP = 1e-6
"""A plan within this relative gap of a proven lower bound counts as optimal (HiGHS's own
proofs end within a few 1e-6 of the incumbent; the gap is reported)."""
OPTIMALITY_GAP = 1e-9
"""The relative gap the solver is asked to close. A solve is *optimal* when the solver
proves it within its own tolerances (HiGHS prunes nodes within a few 1e-6 of the
incumbent); the residual gap it reports is kept in ``Solution.gap``."""


class SolverError(RuntimeError):
    """The solver failed without proving anything (the model file is kept for
    inspection)."""


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
    tie_break: Callable[[float | None], Solution] | None = field(default=None, repr=False,
                                                                 compare=False)
    """When solved with ``tie_break="later"``: the lexicographic second solve, to run
    only if this solution is kept, within the seconds it is given (None: its own
    limit)."""
    rows: Mapping[str, int] = field(default_factory=dict, compare=False)
    """The row of each chosen option in its decision's table (empty for a hand-made
    choice)."""
    relaxed: np.ndarray | None = field(default=None, repr=False, compare=False)
    """The option columns the relaxation ended with: a seed for solving a problem with the
    same options again (``solve(seed=…)``); None when no relaxation was generated."""


@dataclass
class _Result:
    """What a backend found: status, solution vector, relative gap."""

    status: Literal["optimal", "feasible", "infeasible", "none"]
    values: np.ndarray | None
    gap: float
    candidates: np.ndarray | None = None
    """Option columns that can be non-zero in a plan within the tolerance of the optimum
    (None: all); the tie-break searches only these."""
    relaxed: np.ndarray | None = None
    """Option columns the relaxation's column generation ended with (None: not used)."""


# ---------------------------------------------------------------- backends


def _highs_run(matrix: Matrix, time_limit_s: float | None, gap: float,
               start: np.ndarray | None = None, relax: bool = False,
               presolve: str = "choose", node_limit: int | None = None,
               floor: float | None = None) -> tuple[_Result, Any]:
    """One HiGHS run of ``matrix`` (its LP relaxation when ``relax``), at most
    ``node_limit`` branch-and-bound nodes, stopping at a plan within ``FLOOR_GAP`` of a
    proven lower bound ``floor`` on its optimum (in its cost units); the result and the
    solver, whose solution holds the duals."""
    import highspy

    h = new_highs()
    h.setOptionValue("presolve", presolve)
    if floor is not None:
        h.setOptionValue("objective_target", floor + FLOOR_GAP * abs(floor))
    if node_limit is not None:
        h.setOptionValue("mip_max_nodes", node_limit)
    h.setOptionValue("mip_rel_gap", gap)
    h.setOptionValue("mip_abs_gap", 1e-12)
    if time_limit_s is not None:
        h.setOptionValue("time_limit", max(0.01, float(time_limit_s)))
    lp = highspy.HighsLp()
    rows, cols = matrix.shape
    lp.num_col_, lp.num_row_ = cols, rows
    lp.col_cost_ = matrix.cost
    lp.col_lower_, lp.col_upper_ = matrix.col_lower, matrix.col_upper
    lp.row_lower_, lp.row_upper_ = matrix.row_lower, matrix.row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = matrix.row_start
    lp.a_matrix_.index_ = matrix.col_index
    lp.a_matrix_.value_ = matrix.value
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = cols, rows
    if not relax:
        kinds = (highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger)
        lp.integrality_ = [kinds[int(i)] for i in matrix.integral]
    h.passModel(lp)
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = list(start)
        solution.value_valid = True
        h.setSolution(solution)
    run_highs(h)
    status = h.getModelStatus()
    model_status = highspy.HighsModelStatus
    if status in (model_status.kInfeasible, model_status.kUnboundedOrInfeasible):
        return _Result("infeasible", None, 0.0), h
    info = h.getInfo()
    found = info.primal_solution_status == 2  # kSolutionStatusFeasible
    values = np.asarray(h.getSolution().col_value) if found else None
    if status == model_status.kOptimal:
        return _Result("optimal", values, 0.0 if relax else float(info.mip_gap)), h
    if status == model_status.kObjectiveTarget and values is not None and floor is not None:
        return _Result("optimal", values, _gap(float(matrix.cost @ values), floor)), h
    if status in (model_status.kTimeLimit, model_status.kInterrupt,
                  model_status.kSolutionLimit, model_status.kIterationLimit):
        return _Result("feasible" if found else "none", values,
                       float(info.mip_gap) if found else np.inf), h
    raise SolverError(f"HiGHS ended with status {h.modelStatusToString(status)}"
                      f"{_kept(matrix)}")


def objective_scale(bound: float) -> float:
    """The power of two that brings a lower bound ``bound`` on the optimum to at least 1
    (1 when it is already). HiGHS's tolerances are absolute: on an objective near 1e-5
    (summed errors of plans that keep almost everything) it stops with a gap of percents,
    calls that optimal, and its presolve slows to a crawl."""
    if not math.isfinite(bound) or bound <= 0 or bound >= 1:
        return 1.0
    return float(2.0 ** math.ceil(-math.log2(bound)))


RESOLVE_BELOW = 1e-3
"""A relaxation bound below this is solved again with the costs scaled (its reduced costs
are then too close to the solver's absolute tolerances to fix columns by); above it the
relaxation's bound and reduced costs are scaled along."""
WINDOW = 0.005
"""The first window of reduced costs searched, relative to the LP bound: options that
could be in a plan within 0.5% of the relaxation (its gap on the models measured here is
about 0.2%)."""
WIDENING = 8.0
"""How much the window grows when no plan lies within it."""


def _highs(matrix: Matrix, time_limit_s: float | None, gap: float,
           start: np.ndarray | None = None, options: int = 0,
           owner: np.ndarray | None = None, seed: np.ndarray | None = None,
           floor: float | None = None, rescaled: bool = False) -> _Result:
    """HiGHS with reduced-cost fixing over the option columns (the first ``options``).

    1. The LP relaxation, by column generation from the option columns in ``seed``
       (:mod:`planner.search.column_generation`; the full LP when that proves nothing),
       gives a bound LB and every column's reduced cost d_j; any solution with x_j = 1
       costs at least LB + d_j.
    2. The MIP over the options with d_j ≤ w, for a window w (``WINDOW`` × |LB|, or
       ``start``'s cost − LB), solved to optimality, gives OPT_w. A plan cheaper than
       OPT_w would take only options with d_j < OPT_w − LB, so when OPT_w ≤ LB + w it is
       the optimum of the whole problem. Otherwise the window widens to OPT_w − LB and
       the MIP is solved again from OPT_w's plan (that one proves it); with no plan in
       the window it widens ``WIDENING``-fold.
    3. The options with d_j ≤ OPT − LB are the only ones a plan as good can take
       (``candidates``, where the tie-break searches).

    Each MIP gets only the columns it may use (:meth:`Matrix.restricted`). With a proven
    lower bound ``floor`` every MIP stops at a plan within ``FLOOR_GAP`` of it: that plan
    is optimal to that gap. A bound below 1 (the summed errors of plans that keep almost
    everything) is first brought to at least 1 by scaling the costs with
    :func:`objective_scale` (the solver's tolerances are absolute); below ``RESOLVE_BELOW``
    the relaxation is solved again, scaled, from its own columns (``rescaled``).
    """
    left = Deadline(time_limit_s).left
    if options == 0 or owner is None:
        return _highs_run(matrix, time_limit_s, gap, start, floor=floor)[0]
    lp = relax(matrix, options, owner, seed, left()) if seed is not None else None
    if lp is None or lp.status != "optimal":
        relaxed, h = _highs_run(matrix, left(), 0.0, relax=True, presolve="off")
        if relaxed.status == "infeasible":
            return relaxed
        if relaxed.status != "optimal":
            return _highs_run(matrix, left(), gap, start)[0]
        bound = float(h.getInfo().objective_function_value)
        reduced = np.asarray(h.getSolution().col_dual)[:options]
    else:
        bound, reduced = lp.bound, lp.reduced
    master = lp.master if lp is not None and lp.status == "optimal" else None
    scale = objective_scale(bound)
    if scale > 1 and not rescaled:
        matrix = replace(matrix, cost=matrix.cost * scale)
        floor = None if floor is None else floor * scale
        if bound < RESOLVE_BELOW:  # the relaxation itself was within the tolerances' noise
            return _highs(matrix, left(), gap, start, options, owner,
                          seed if master is None else master, floor, rescaled=True)
        bound, reduced = bound * scale, reduced * scale  # an LP's optimum scales with it
    window = (float(matrix.cost @ start) - bound if start is not None
              else WINDOW * max(abs(bound), 1e-9))
    best = start
    while True:
        keep = reduced <= window + _margin(bound + window)
        result = _highs_over(matrix, options, keep, left(), gap, best, floor=floor)
        if result.values is None:
            if result.status != "infeasible" or keep.all():
                if best is not None:  # out of time: the plan we have, with a valid gap
                    found = float(matrix.cost @ best)
                    return _Result("feasible", best, _gap(found, bound))
                return result
            window *= WIDENING
            continue
        found = float(matrix.cost @ result.values)
        if result.status != "optimal":
            low = min(found - result.gap * abs(found), bound + window)
            return replace(result, gap=_gap(found, low), relaxed=master)
        if found <= bound + window + _margin(found):
            return replace(result, candidates=reduced <= found - bound + _margin(found),
                           relaxed=master)
        window, best = found - bound, result.values


def _gap(found: float, bound: float) -> float:
    """The relative gap of a plan costing ``found`` to a lower bound."""
    return max(0.0, (found - bound) / abs(found)) if found else 0.0


def _margin(value: float) -> float:
    """Slack on a reduced-cost test at objective ``value``: the tie tolerance and the
    solver's feasibility tolerances."""
    return (TIE_TOLERANCE + 1e-7) * max(1.0, abs(value))


def _highs_over(matrix: Matrix, options: int, keep: np.ndarray, time_limit_s: float | None,
                gap: float, start: np.ndarray | None = None, node_limit: int | None = None,
                floor: float | None = None) -> _Result:
    """HiGHS on ``matrix`` with the option columns where ``keep`` is False left out (fixed
    to zero); the result in ``matrix``'s columns."""
    sub, columns = matrix.restricted(options, keep)
    result = _highs_run(sub, time_limit_s, gap, None if start is None else start[columns],
                        node_limit=node_limit, floor=floor)[0]
    if result.values is None:
        return result
    values = np.zeros(len(matrix.cost))
    values[columns] = result.values
    return replace(result, values=values)


def _cbc(matrix: Matrix, time_limit_s: float | None, gap: float,
         start: np.ndarray | None = None, options: int = 0,
         owner: np.ndarray | None = None, seed: np.ndarray | None = None,
         floor: float | None = None) -> _Result:
    import pulp

    lp = pulp.LpProblem("compression_plan", pulp.LpMinimize)
    variables = [lp.add_variable(f"v{j}", lowBound=float(lo),
                                 upBound=None if np.isinf(up) else float(up),
                                 cat="Binary" if integral and up == 1 else
                                 "Integer" if integral else "Continuous")
                 for j, (lo, up, integral) in enumerate(zip(matrix.col_lower, matrix.col_upper,
                                                            matrix.integral, strict=True))]
    lp.setObjective(pulp.LpAffineExpression(
        [(variables[j], float(c)) for j in np.flatnonzero(matrix.cost)
         for c in (matrix.cost[j],)]))
    for r in range(matrix.shape[0]):
        a, b = matrix.row_start[r], matrix.row_start[r + 1]
        expr = pulp.LpAffineExpression([(variables[j], float(v)) for j, v in
                                        zip(matrix.col_index[a:b], matrix.value[a:b],
                                            strict=True)])
        lo, up = matrix.row_lower[r], matrix.row_upper[r]
        if lo == up:
            lp += (expr == float(lo), f"r{r}")
            continue
        if np.isfinite(lo):
            lp += (expr >= float(lo), f"r{r}_lo")
        if np.isfinite(up):
            lp += (expr <= float(up), f"r{r}_up")
    if start is not None:
        for var, value in zip(variables, start, strict=True):
            var.setInitialValue(float(value))
    cbc = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s, gapRel=gap or None,
                            warmStart=start is not None, threads=1)
    cbc.tmpDir = tempfile.mkdtemp(prefix="planner-cbc-")  # its files, removed whatever happens
    try:
        lp.solve(cbc)
    except pulp.PulpSolverError as exc:
        raise SolverError(f"cbc failed ({exc}){_kept(matrix)}") from exc
    except KeyboardInterrupt:
        _stop_children("cbc")  # PuLP waits on CBC; a SIGINT to this process alone leaves it
        raise
    finally:
        shutil.rmtree(cbc.tmpDir, ignore_errors=True)
    status = int(lp.sol_status)
    if status == pulp.LpSolutionInfeasible:
        return _Result("infeasible", None, 0.0)
    if status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        return _Result("none", None, np.inf)
    values = np.array([v.varValue or 0.0 for v in variables])
    if status == pulp.LpSolutionOptimal:
        return _Result("optimal", values, 0.0)
    return _Result("feasible", values, _cbc_gap(matrix, values))


def _stop_children(command: str) -> None:
    """Terminate this process's child processes named ``command`` (Linux: read from /proc;
    elsewhere nothing to read, and a terminal's Ctrl-C reaches the child itself)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" (", 1)
            name, fields = rest.rsplit(") ", 1)
        except (OSError, ValueError):
            continue
        if name == command and int(fields.split()[1]) == os.getpid():
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGTERM)


def _cbc_gap(matrix: Matrix, values: np.ndarray) -> float:
    """The relative gap of a CBC incumbent to its LP relaxation's bound."""
    bound = _highs_run(matrix, None, 0.0, relax=True)[0]
    found = float(matrix.cost @ values)
    if bound.values is None or not found:
        return 0.0
    return max(0.0, (found - float(matrix.cost @ bound.values)) / abs(found))


BACKENDS = {"highs": _highs, "cbc": _cbc}


def _kept(matrix: Matrix) -> str:
    """Write the matrices to a fresh temporary file; the message part naming it."""
    fd, name = tempfile.mkstemp(prefix="planner_failed_", suffix=".npz")
    with os.fdopen(fd, "wb") as handle:
        np.savez_compressed(handle, cost=matrix.cost, col_lower=matrix.col_lower,
                            col_upper=matrix.col_upper, integral=matrix.integral,
                            row_start=matrix.row_start, col_index=matrix.col_index,
                            value=matrix.value, row_lower=matrix.row_lower,
                            row_upper=matrix.row_upper)
    return f"; the model is in {Path(name)}"


def _run(model: Model, matrix: Matrix, solver: Solver, time_limit_s: float | None,
         gap: float, start: np.ndarray | None = None, seed: np.ndarray | None = None,
         floor: float | None = None) -> _Result:
    """The backend's result on ``matrix``; ``floor``: a proven lower bound on the optimum
    in the objective's unit (HiGHS stops at a plan within ``FLOOR_GAP`` of it)."""
    backend = BACKENDS.get(solver)
    if backend is None:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    columns = model.arrays.unpruned
    if seed is not None and len(seed) == len(columns):
        columns = columns | seed
    scaled = None
    if floor is not None:
        _, _, constant = model.expressions[model.objective]
        scaled = floor * model.scales[model.objective] + constant
    return backend(matrix, time_limit_s, gap, start, len(model.arrays.owner),
                   model.arrays.owner, columns, floor=scaled)


# ---------------------------------------------------------------- solving


def _chosen(problem: Problem, model: Model, values: np.ndarray
            ) -> tuple[dict[str, Option], dict[str, int]]:
    """The chosen option of each decision (as it counts in ``problem``) and its row."""
    x = values[:len(model.arrays.owner)]
    rows = {d.name: int(np.argmax(x[model.arrays.start[k]:model.arrays.start[k + 1]]))
            for k, d in enumerate(problem.decisions)}
    return ({d.name: problem.priced(d.options[rows[d.name]]) for d in problem.decisions},
            rows)


def solve(problem: Problem, budgets: Budgets, objective: Objective = "accuracy", *,
          solver: Solver = "highs", time_limit_s: float | None = None,
          gap: float | None = None, tie_break: bool | Literal["later"] = True,
          seed: np.ndarray | None = None) -> Solution:
    """The option per decision that minimises ``objective`` within ``budgets``.

    ``tie_break``: break ties by a second solve (True), not at all (False), or hand the
    caller that solve as ``Solution.tie_break`` to run if it keeps the solution ("later").
    ``seed``: option columns to start the relaxation from (``Solution.relaxed`` of a solve
    of a problem with the same options: it then needs fewer rounds).

    A latency budget on several processors is tried as slack first
    (:func:`_latency_slack`): when the optimum without it can be placed within it, that
    plan is the optimum.

    Raises :class:`NoPlanError` when the budgets admit no plan (``proven`` tells whether
    the solver proved it, or only ran out of time), :class:`SolverError` when it fails.
    """
    left = Deadline(time_limit_s).left
    if budgets.latency_s is not None and objective in PLACEABLE and len(_processors(problem)) > 1:
        slack, floor, relaxed = _latency_slack(problem, budgets, objective, solver, left(),
                                               gap, seed)
        if slack is not None:
            return slack
        if relaxed is not None:  # the slack relaxation's columns: a start for this one
            seed = relaxed if seed is None or len(seed) != len(relaxed) else seed | relaxed
        return _solve(problem, budgets, objective, solver, left(), gap, tie_break, seed, floor)
    return _solve(problem, budgets, objective, solver, left(), gap, tie_break, seed)


def _processors(problem: Problem) -> set[str]:
    """The processors some option of ``problem`` runs on."""
    return {t.names["processor"][int(c)] for t in (d.options for d in problem.decisions)
            for c in np.unique(t.codes["processor"])}


PLACEABLE: tuple[Objective, ...] = ("accuracy", "size", "energy")
"""Objectives carried by the options alone (no transfer or peak columns), for which a plan
that ties with another unit by unit has the same value."""


def _latency_slack(problem: Problem, budgets: Budgets, objective: Objective,
                   solver: Solver, time_limit_s: float | None, gap: float | None,
                   seed: np.ndarray | None
                   ) -> tuple[Solution | None, float, np.ndarray | None]:
    """The optimum when the latency budget is slack (None when that is not shown), a
    lower bound on the optimum with it (the objective's unit), and the option columns its
    relaxation ended with (``Solution.relaxed``: a seed for the budgeted relaxation).

    Without the latency budget the program has no transfer columns and solves fast; its
    optimum OPT bounds the budgeted one from below. Among the plans that keep its weights
    unit by unit (:func:`_twins`: the same keep ratios, on another processor or dtype,
    each within ``FLOOR_GAP`` of OPT of its unit's cost) and cost at most OPT plus
    ``FLOOR_GAP`` in all, the one of least latency, transfers included, is searched for
    within ``TIE_BREAK_NODES`` nodes. If it meets the latency budget it meets every budget
    within ``FLOOR_GAP`` of a lower bound, so it is optimal to that gap, as the budgeted
    program's solve stops at such a plan (ResNet-50 at 5 MB and half its latency: its
    optimum is the same weights with activations in fp16 on the GPU, 6e-7 above OPT, that
    the budgeted program took 40–85 s to find). Otherwise OPT still bounds the budgeted
    optimum: nearly slack budgets, whose optimum is a hair above OPT, are then proven as
    soon as it is found."""
    begin = time.perf_counter()
    left = Deadline(time_limit_s).left
    loose = budgets.replace(latency=None)
    first = _solve(problem, loose, objective, solver, left(), gap, False, seed)
    floor = first.objective - (first.gap + TIE_TOLERANCE) * abs(first.objective)
    model = build(problem, loose, objective, read=("latency",))
    n = len(model.arrays.owner)
    picked = np.zeros(len(model.matrix.cost))
    picked[model.arrays.start[:-1] + np.array([first.rows[d.name]
                                               for d in problem.decisions], np.int64)] = 1.0
    found = float(model.matrix.cost @ picked)
    cols, coef, _ = model.expressions["latency"]
    latency = np.zeros(len(model.matrix.cost))
    np.add.at(latency, cols, coef)
    near_cost = FLOOR_GAP * abs(found)  # relative: an optimum may lie far below 1
    keep = _twins(model, picked, near_cost)
    near = _fixing_objective(model.matrix, latency, found, near_cost)
    placed = _highs_over(near, n, keep, left(), OPTIMALITY_GAP, None, TIE_BREAK_NODES) \
        if solver == "highs" else BACKENDS[solver](near.fixing(n, keep), left(),
                                                   OPTIMALITY_GAP)
    bound = budgets.latency_s
    if placed.values is None or bound is None or exceeds(
            model.value(placed.values, "latency"), bound):
        return None, floor, first.relaxed
    value = model.value(placed.values, model.objective)
    if _gap(value, floor) > FLOOR_GAP + first.gap + TIE_TOLERANCE + 1e-7:
        return None, floor, first.relaxed  # the row holds to the solver's tolerance only
    chosen, rows = _chosen(problem, model, placed.values)
    return replace(first, chosen=chosen, rows=rows, tie_break=None, objective=value,
                   gap=max(first.gap, _gap(value, floor)),
                   seconds=time.perf_counter() - begin), floor, first.relaxed


def _fixing_objective(matrix: Matrix, cost: np.ndarray, found: float,
                      slack: float) -> Matrix:
    """``matrix`` minimising ``cost`` with its own objective kept within ``slack`` of
    ``found`` (both in its scaled units; one more row, scaled like the objective by
    :func:`objective_scale` so that the solver's absolute tolerances do not swamp it)."""
    goal = np.flatnonzero(matrix.cost)
    scale = objective_scale(found)
    return replace(matrix, cost=cost,
                   row_start=np.concatenate([matrix.row_start,
                                             [matrix.row_start[-1] + len(goal)]]),
                   col_index=np.concatenate([matrix.col_index, goal]),
                   value=np.concatenate([matrix.value, matrix.cost[goal] * scale]),
                   row_lower=np.concatenate([matrix.row_lower, [-np.inf]]),
                   row_upper=np.concatenate([matrix.row_upper, [
                       (found + slack) * scale]]),
                   blocks=[*matrix.blocks, (matrix.shape[0], "tie_break")])


def _solve(problem: Problem, budgets: Budgets, objective: Objective, solver: Solver,
           time_limit_s: float | None, gap: float | None,
           tie_break: bool | Literal["later"], seed: np.ndarray | None,
           floor: float | None = None) -> Solution:
    """:func:`solve` with every budget in the program; ``floor``: a proven lower bound on
    its optimum (the objective's unit), where the solver may stop (``FLOOR_GAP``)."""
    start = time.perf_counter()
    model = build(problem, budgets, objective)
    result = _run(model, model.matrix, solver, time_limit_s,
                  OPTIMALITY_GAP if gap is None else gap, seed=seed, floor=floor)
    if result.values is None:
        proven = result.status == "infeasible"
        within = f"within {time_limit_s:.3g} s" if time_limit_s is not None else "(stopped)"
        raise NoPlanError("no plan meets the budgets" if proven else
                          f"{solver} found no plan {within}", proven)
    rel_gap = max(0.0, result.gap)
    constraints, variables = model.matrix.shape
    seconds = time.perf_counter() - start

    def solution(values: np.ndarray, spent: float) -> Solution:
        chosen, picked = _chosen(problem, model, values)
        return Solution(chosen, model.value(values, model.objective), rel_gap,
                        result.status == "optimal", spent, variables, constraints,
                        rows=picked, relaxed=result.relaxed)

    def tied(limit_s: float | None = None) -> Solution:
        begin = time.perf_counter()
        values = _break_ties(model, objective, result.values, solver,  # type: ignore[arg-type]
                             seconds, result.candidates, limit_s)
        return solution(values, seconds + time.perf_counter() - begin)

    if tie_break == "later":
        return replace(solution(result.values, seconds), tie_break=tied)
    return tied() if tie_break else solution(result.values, seconds)


def _break_ties(model: Model, objective: Objective, values: np.ndarray, solver: Solver,
                seconds: float, candidates: np.ndarray | None = None,
                limit_s: float | None = None) -> np.ndarray:
    """Among plans within TIE_TOLERANCE of the optimum whose units tie one by one with the
    solution's (:func:`_twins`), the one with the least summed layer latency (transfers
    aside; the least size when the objective is latency), searched by HiGHS over at most
    ``TIE_BREAK_NODES`` nodes (a count, not a time, so identical runs pick the same plan
    on a busy machine), and at most ``limit_s``; CBC searches for at most max(1 s, half the
    first solve). Keeps the first solution when that finds nothing better."""
    limit = max(1.0, seconds / 2) if solver != "highs" else None
    if limit_s is not None:
        limit = limit_s if limit is None else min(limit, limit_s)
        if limit <= 0:
            return values
    second = "size" if objective == "latency" else "latency"
    m = model.matrix
    found = float(m.cost @ values)
    n = len(model.arrays.owner)
    secondary = np.zeros(len(m.cost))
    secondary[:n] = model.arrays.values[second] * model.scales[second]
    if not secondary.any():
        return values
    tied = _fixing_objective(m, secondary, found, TIE_TOLERANCE * max(abs(found), 1.0))
    keep = _twins(model, values, TIE_TOLERANCE * max(abs(found), 1.0) / max(1, len(
        model.arrays.start) - 1))
    if candidates is not None:  # only these can be within the tolerance of the optimum
        keep &= candidates
    result = (_highs_over(tied, n, keep, limit, OPTIMALITY_GAP, values, TIE_BREAK_NODES)
              if solver == "highs" else
              BACKENDS[solver](tied.fixing(n, keep), limit, OPTIMALITY_GAP, values))
    return result.values if result.values is not None else values


def _twins(model: Model, values: np.ndarray, slack: float) -> np.ndarray:
    """The options that tie with the chosen one of their decision: the same keep ratios
    and the same share of the objective within ``slack`` (the objective's scaled units).
    These are the ties that occur, the same weights on another processor or in another
    dtype of equal error, and they keep every channel group as it is."""
    arrays, cost = model.arrays, model.matrix.cost
    n = len(arrays.owner)
    picked = arrays.start[:-1] + np.array([
        int(np.argmax(values[lo:hi])) for lo, hi in zip(arrays.start[:-1], arrays.start[1:],
                                                         strict=True)], dtype=np.int64)
    mine = picked[arrays.owner]
    return ((np.abs(cost[:n] - cost[mine]) <= slack)
            & (arrays.ratio_class == arrays.ratio_class[mine]))


def minimum(problem: Problem, quantity: str, *, solver: Solver = "highs",
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
