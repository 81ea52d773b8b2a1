"""Plan compression for one model on one device: build the problem, solve it, explain it.

>>> from graphs import build_zoo_model
>>> from hardware_profiles import load
>>> g, p = build_zoo_model("lenet5", weights=True), load("raspberry_pi_5")
>>> best = plan(g, p, max_size_bytes=20_000, proxy="weights")
>>> best.totals.size_bytes <= 20_000
True
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
from threadpoolctl import threadpool_limits

from graphs import Graph, fold_batchnorm, seeded_weights
from hardware_profiles import HardwareProfile
from planner.compression import Choice, Unit, build_units, stored_bits
from planner.compression.coupling import Coupling, couple
from planner.contracts.plan_file import (
    PLAN_VERSION,
    LayerPlan,
    Plan,
    PlanError,
    PlanTotals,
    SolverReport,
    load_plan,
)
from planner.contracts.quantities import format_quantity, total_field
from planner.cost import placement_cost, single_processor_placement, validation_note
from planner.execution import KERNELS, runnable_layers
from planner.planning.points import Points
from planner.search.deadline import Deadline
from planner.search.enumeration import Beforehand, Job, enumerate_options, workers
from planner.search.fact_cache import FactCache, facts_key, options_key
from planner.search.ilp import NoPlanError, Solution, Solver, minimum, solve
from planner.search.option_table import Option, OptionTable
from planner.search.options import (
    ALL_DIMENSIONS,
    Dimension,
    LayerFacts,
    OptionSpace,
)
from planner.search.problem import (
    QUANTITY_OF,
    Budgets,
    Decision,
    Link,
    Objective,
    Problem,
    evaluate,
)
from planner.search.proxies import measure_facts
from planner.search.sensitivity import PERTURBATION

Proxy = Literal["measured", "weights", "uniform"]
LOG = logging.getLogger("planner")
"""Notes about a run rather than its result (where facts came from): the CLI prints them
to standard error; they are kept out of plans, so identical runs write identical plans."""
Progress = Callable[[str, int, int], None]
BINDING = 0.999
"""A budget is binding when the plan uses at least this fraction of it."""
REMEASURE_ROUNDS = 1
"""Solves on measured sizes, at most, before the safe solve with every size still
extrapolated at its upper bound."""


class InfeasibleBudgetError(ValueError):
    """No plan meets the budgets: ``minimums`` (smallest value of each budget achievable
    on its own) and ``conflicts`` (pairs of budgets that cannot hold together)."""

    def __init__(self, budgets: Budgets, minimums: dict[str, float],
                 conflicts: list[tuple[str, str]]) -> None:
        self.budgets, self.minimums, self.conflicts = budgets, minimums, conflicts
        lines = ["no plan meets the budgets:"]
        for name, bound in budgets.given().items():
            low = minimums[name]
            verdict = "unreachable on its own" if low > bound * (1 + 1e-6) else "reachable alone"
            lines.append(f"  {name} <= {format_quantity(name, bound)}: smallest achievable "
                         f"{format_quantity(name, low)} ({verdict})")
        if conflicts:
            lines.append("  conflicting: " + ", ".join(f"{a} & {b}" for a, b in conflicts))
        elif all(minimums[n] <= b * (1 + 1e-6) for n, b in budgets.given().items()):
            lines.append("  every pair is reachable; all budgets together conflict")
        super().__init__("\n".join(lines))


class BudgetBrokenError(PlanError):
    """Measured sizes break a budget and no plan meets it with every extrapolated size at
    its upper bound (the message names the budget and by how much)."""


# ---------------------------------------------------------------- building the problem


class Planner:
    """A model and a device with the option space and proxies measured once; solve it
    under many budgets (what-if loops and Pareto sweeps reuse it). ``cache``: read and
    write measured facts in the on-disk cache (:mod:`planner.search.fact_cache`; False to
    measure afresh, or a ``FactCache`` of another folder)."""

    def __init__(self, graph: Graph, profile: HardwareProfile, *,
                 space: OptionSpace | None = None, proxy: Proxy = "measured",
                 inputs: np.ndarray | Mapping[str, np.ndarray] | None = None,
                 dims: tuple[Dimension, ...] = ALL_DIMENSIONS, seed: int = 0,
                 progress: Progress | None = None, front: bool = True,
                 cache: bool | FactCache = True, deadline: Deadline | None = None) -> None:
        self.notes: list[str] = []
        if deadline is not None and deadline.seconds is not None:
            progress = _checking(deadline, progress)
        self.from_cache: Path | None = None
        """The cache file the facts were read from (None: measured here)."""
        self.seed = seed
        self.progress = progress
        if not graph.has_weights and proxy != "uniform":
            graph = seeded_weights(graph, seed)
            self.notes.append("the model has no weights: proxies use seeded random weights")
        self.graph, self.profile = graph, profile
        if (band := validation_note(profile)) is not None:
            self.notes.append(band)
        self.space = space or OptionSpace()
        self.proxy = proxy
        self.coupling: Coupling = couple(graph)
        self.units, _ = build_units(graph, self.coupling)
        runnable = runnable_layers(graph)
        blocked = [n for n in graph.order if n not in runnable]
        causes = [f"{n} ({graph[n].attrs.get('target', graph[n].op)})" for n in blocked
                  if graph[n].op not in KERNELS]
        if blocked and proxy != "uniform":
            self.notes.append(
                f"the simulator cannot execute {', '.join(causes[:4])}"
                f"{', …' if len(causes) > 4 else ''}, nor the {len(blocked) - len(causes)} "
                "layer(s) after them: layers whose path to the output runs through them take "
                "sensitivity 1, layers after them activation errors measured on standard "
                "normal stand-ins, and `planner simulate` measures at the runnable layers "
                "that feed them")
        store = cache if isinstance(cache, FactCache) else FactCache() if cache else None
        self._facts_key = facts_key(self.graph, self.space, {
            "proxy": self.proxy, "seed": self.seed, "perturbation": PERTURBATION}, inputs)
        if proxy == "uniform":
            self.facts = {u.name: LayerFacts() for u in self.units}
            tables = self._options(self.facts, dims, front, store)
        else:
            self.facts, tables = self._measure(inputs, progress, store, dims, front)
        self.problem = self._problem(tables)
        self._store = store
        self._measured_bits = store.load_sizes(self._facts_key) if store is not None else {}
        """Exact stored bits by :func:`_size_key` (measured here or read from the cache)."""

    def _measure(self, inputs: Any, progress: Progress | None, store: FactCache | None,
                 dims: tuple[Dimension, ...], front: bool
                 ) -> tuple[dict[str, LayerFacts], list[OptionTable]]:
        """The facts of every unit and its option table, from the cache when it holds
        them. Measured here, where worker processes enumerate options, each unit's options
        are enumerated as soon as its facts but for the sensitivity are known, beside the
        sensitivity runs."""
        key = self._facts_key
        found = store.load(key) if store is not None else None
        if store is not None and found is not None and set(found) == {
                u.name for u in self.units}:
            self.from_cache = store.path(key)
            LOG.info("measured facts read from the cache (%s)", self.from_cache)
            return found, self._options(found, dims, front, store)
        job = Job(self.units, self.graph, self.coupling, self.profile, self.space, {}, dims,
                  front)
        processes = workers(len(self.units))
        with threadpool_limits(1), (  # BLAS threads collapse when cores are shared
                Beforehand(job, processes) if processes else nullcontext()) as early:
            facts = measure_facts(self.graph, self.coupling, self.units, self.space, inputs,
                                  sensitivity="measured" if self.proxy == "measured"
                                  else "uniform", seed=self.seed, progress=progress,
                                  ready=early.submit if early is not None else None)
            if store is not None:
                store.save(key, facts)
            if early is None:
                return facts, self._options(facts, dims, front, store)
            tables = early.tables(facts, self.progress)
        if store is not None:
            store.save_options(self._options_key(dims, front), tables)
        return facts, tables

    def _problem(self, tables: list[OptionTable]) -> Problem:
        outputs = set(self.graph.outputs)
        decisions = []
        for unit, options in zip(self.units, tables, strict=True):
            if not options:
                raise PlanError(_nowhere(unit, self.profile, self.space))
            broken = [k for k, v in options.floats.items() if not np.all(np.isfinite(v))]
            if broken or not math.isfinite(self.facts[unit.name].sensitivity):
                raise PlanError(f"layer {unit.name!r} ({unit.layer.op}): its options have "
                                f"non-finite {', '.join(broken) or 'sensitivity'} (a measured "
                                "proxy overflowed); plan with proxy='weights' or report it")
            decisions.append(Decision(unit.name, options, unit.groups, list(unit.consumers),
                                      bool(outputs & set(unit.members)),
                                      self.facts[unit.name].sensitivity))
        names = list(self.profile.processors)
        links = {(a, b): Link(self.profile.transfer(a, b).latency_s.value,
                              self.profile.transfer(a, b).bytes_per_s.value)
                 for a in names for b in names if a != b}
        fixed = sum(layer.output_elements * 32 for layer in self.graph
                    if layer.op == "constant")
        return Problem(decisions, self.profile.host, links, fixed)

    def _options(self, facts: dict[str, LayerFacts], dims: tuple[Dimension, ...],
                 front: bool, store: FactCache | None) -> list[OptionTable]:
        """Every unit's options under ``facts``, from the cache when it holds them."""
        key = self._options_key(dims, front)
        found = store.load_options(key) if store is not None else None
        if found is not None and [t.unit for t in found] == [u.name for u in self.units]:
            LOG.info("options read from the cache")
            return found
        tables = enumerate_options(Job(self.units, self.graph, self.coupling, self.profile,
                                       self.space, facts, dims, front), self.progress)
        if store is not None:
            store.save_options(key, tables)
        return tables

    def _options_key(self, dims: tuple[Dimension, ...], front: bool) -> str:
        return options_key(self._facts_key, self.profile, self.space, dims, front)

    # ----------------------------------------------------------- solving

    def solve(self, budgets: Budgets, objective: Objective = "accuracy", *,
              solver: Solver = "highs", time_limit_s: float | None = None,
              gap: float | None = None, deadline: Deadline | None = None) -> Plan:
        """The best plan under ``budgets``; raises InfeasibleBudgetError when none exists.

        Some option sizes are extrapolated (k-means and sparse-index rates measured on the
        unpruned weights, see ``Option.exact_size``). The chosen ones are measured exactly
        by compressing their weights (:func:`planner.compression.stored_bits`), which also
        re-prices their latency and energy. If the measured plan breaks a budget, a last
        solve prices every size not yet measured at its proven upper bound, so whatever it
        measures meets the budgets (or :class:`BudgetBrokenError` says which budget breaks
        and by how much). Ties are broken once, on the plan that is kept. The planner
        itself is not changed: every solve starts from the same problem.

        ``time_limit_s`` bounds every solve together (the safe round and the tie-break get
        what is left); when it runs out before a plan meets every budget on measured
        sizes, :class:`PlanError` says so. ``deadline``, in place of ``time_limit_s``: a
        limit already running (:func:`plan` starts it before measuring), which messages
        then name whole.
        """
        deadline = deadline or Deadline(time_limit_s)
        problem = self.problem
        for k in range(REMEASURE_ROUNDS):
            if self.progress is not None:
                self.progress(f"solving the ILP ({problem.option_count():,} options"
                              + (", measured sizes)" if k else ")"), k, REMEASURE_ROUNDS + 1)
            solution = self._solve(problem, budgets, objective, solver, deadline, gap)
            problem, solution = self._measured(problem, solution)
            if not evaluate(problem, solution.chosen).violations(budgets):
                problem, solution = self._tied(problem, solution, budgets, deadline)
                return self._plan(problem, solution, budgets, objective, solver)
        # Safe round: every size still extrapolated at its upper bound, so whatever it
        # measures cannot break a budget (latency and energy grow with the bytes read).
        broken = evaluate(problem, solution.chosen)
        over = ", ".join(
            f"{name} {format_quantity(name, broken.quantity(name))} > "
            f"{format_quantity(name, bound)}"
            + (f" (+{100 * (broken.quantity(name) / bound - 1):.2f}%)" if bound else "")
            for name, bound in budgets.given().items() if name in broken.violations(budgets))
        if deadline.expired:
            raise PlanError(f"no plan that meets every budget on measured sizes was found "
                            f"within the time limit of {deadline.seconds:g} s (the best one "
                            f"breaks {over}); raise --time-limit")
        bounded = problem.bounded()
        if self.progress is not None:
            self.progress("solving the ILP (sizes at their upper bounds)", REMEASURE_ROUNDS,
                          REMEASURE_ROUNDS + 1)
        try:
            solution = self._solve(bounded, budgets, objective, solver, deadline, gap,
                                   explain=False, seed=solution.relaxed)
        except NoPlanError:
            raise BudgetBrokenError(
                f"no plan meets the budgets on measured sizes: after {REMEASURE_ROUNDS} "
                f"rounds of measuring extrapolated sizes the best plan breaks {over}, and "
                "none fits with every extrapolated size at its upper bound; loosen the "
                "budget or plan without k-means and sparsity") from None
        problem, solution = self._tied(*self._measured(bounded, solution), budgets, deadline)
        plan = self._plan(problem, solution, budgets, objective, solver)
        note = (f"after {REMEASURE_ROUNDS} rounds of measuring extrapolated option sizes "
                "the plan was solved with every size not yet measured at its upper bound "
                "(fixed-width k-means codes, worst-case positions), so it meets the budgets "
                "but may be less accurate than the optimum")
        return plan.model_copy(update={"notes": [*plan.notes, note]})

    def _solve(self, problem: Problem, budgets: Budgets, objective: Objective,
               solver: Solver, deadline: Deadline, gap: float | None,
               explain: bool = True, seed: np.ndarray | None = None) -> Solution:
        """Solve in what is left of ``deadline`` (the relaxation from ``seed``, see
        :func:`solve`); a proven infeasibility becomes :class:`InfeasibleBudgetError`
        naming each budget's minimum (``explain``) or stays a NoPlanError."""
        try:
            return solve(problem, budgets, objective, solver=solver,
                         time_limit_s=deadline.left(), gap=gap, tie_break="later", seed=seed)
        except NoPlanError as exc:
            if exc.proven and not explain:
                raise
            if not exc.proven:
                within = f"within the time limit of {deadline.seconds:g} s ({exc})" \
                    if deadline.seconds is not None else f"({exc})"
                raise PlanError(f"no plan found {within}; raise --time-limit or loosen the "
                                "budgets") from None
            raise self.explain(budgets, solver=solver) from None

    def _tied(self, problem: Problem, solution: Solution, budgets: Budgets,
              deadline: Deadline) -> tuple[Problem, Solution]:
        """The solution after its tie-break solve (among plans as good, the least summed
        layer latency), measured; the solution itself when the tied one breaks a budget on
        measured sizes or there is no tie-break to run."""
        if solution.tie_break is None:
            return problem, solution
        if deadline.expired:
            return problem, solution
        tied_problem, tied = self._measured(problem, solution.tie_break(deadline.left()))
        if evaluate(tied_problem, tied.chosen).violations(budgets):
            return problem, solution
        return tied_problem, tied

    def assign(self, chosen: Mapping[str, Option], note: str = "") -> Plan:
        """The plan of a hand-made choice of one option per unit (what-if analysis): its
        costs come from the same model as a solved plan's; no budgets, no solver."""
        missing = [d.name for d in self.problem.decisions if d.name not in chosen]
        if missing:
            raise PlanError(f"no option chosen for {len(missing)} unit(s): "
                            f"{', '.join(missing[:5])}")
        problem, solution = self._measured(
            self.problem, Solution(dict(chosen), 0.0, 0.0, True, 0.0, 0, 0))
        plan = self._plan(problem, solution, Budgets(), "accuracy", "none (what-if)")
        return plan.model_copy(update={"notes": [*plan.notes, note]}) if note else plan

    def _measured(self, problem: Problem, solution: Solution) -> tuple[Problem, Solution]:
        """The problem and solution with every chosen option whose size was extrapolated
        replaced by its exact twin (sizes measured by compressing that unit's weights)."""
        groups = {gid: ratio for d in problem.decisions
                  for gid, ratio in zip(d.groups, solution.chosen[d.name].ratios, strict=True)}
        exact, fresh = {}, {}
        for name, option in solution.chosen.items():
            if not option.exact_size:
                unit = self._unit(name)
                ratios = tuple(groups[g] for g in unit.groups)
                key = _size_key(unit.name, option.choice, ratios)
                if key not in self._measured_bits:
                    fresh[key] = self._measured_bits[key] = stored_bits(
                        self._reference, self.coupling, unit, option.choice,
                        dict(zip(unit.groups, ratios, strict=True)))
                exact[name] = option.resized(self._measured_bits[key], True)
        if fresh and self._store is not None:
            self._store.save_sizes(self._facts_key, fresh)
        if not exact:
            return problem, solution
        swapped = problem.replacing({name: {solution.rows[name]: o}
                                     for name, o in exact.items() if name in solution.rows})
        return swapped, replace(solution, chosen={**solution.chosen, **exact})

    @cached_property
    def _reference(self) -> Graph:
        """The graph with weights (seeded when it has none) and batch norms folded."""
        graph = self.graph if self.graph.has_weights else seeded_weights(self.graph, self.seed)
        return fold_batchnorm(graph)

    def explain(self, budgets: Budgets, *, solver: Solver = "highs") -> InfeasibleBudgetError:
        """Why ``budgets`` admit no plan: each budget's minimum alone, conflicting pairs."""
        given = budgets.given()
        minimums = {name: minimum(self.problem, name, solver=solver) for name in given}
        conflicts = []
        names = [n for n in given if minimums[n] <= given[n] * (1 + 1e-6)]
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                pair = Budgets.of(**{a: given[a], b: given[b]})
                try:
                    solve(self.problem, pair, solver=solver, tie_break=False)
                except NoPlanError:
                    conflicts.append((a, b))
        return InfeasibleBudgetError(budgets, minimums, conflicts)

    def _plan(self, problem: Problem, solution: Solution, budgets: Budgets,
              objective: Objective, solver: str) -> Plan:
        totals = evaluate(problem, solution.chosen)
        layers = [self._layer_plan(d, solution.chosen[d.name]) for d in problem.decisions]
        groups = {}
        for d in problem.decisions:
            for gid, ratio in zip(d.groups, solution.chosen[d.name].ratios, strict=True):
                groups[str(gid)] = ratio
        binding = [name for name, bound in budgets.given().items()
                   if totals.quantity(name) >= BINDING * bound]
        return Plan(model=self.graph.name, profile=self.profile.name, objective=objective,
                    budgets=budgets.as_dict(), binding=binding, proxy=self.proxy,
                    totals=totals, baseline=self.baseline(), layers=layers,
                    groups=groups,
                    solver=SolverReport(solver=solver, optimal=solution.optimal,
                                        gap=solution.gap if math.isfinite(solution.gap) else None,
                                        seconds=solution.seconds,
                                        variables=solution.variables,
                                        constraints=solution.constraints,
                                        options=problem.option_count()),
                    notes=self._notes(solution, totals.error))

    def _notes(self, solution: Solution, error: float) -> list[str]:
        notes = list(self.notes)
        if not self.graph.has_weights and any(not o.exact_size
                                              for o in solution.chosen.values()):
            notes.append("the model has no weights: k-means and sparse sizes are measured "
                         "on seeded random weights")
        if error > 1:
            notes.append(f"the predicted error is {error:.3g}, more than the output's own "
                         "energy: the proxy (a sum of per-layer errors) is outside the range "
                         "where it predicts accuracy; expect the plan to break the model "
                         "(simulate it, or bound the error with --max-error)")
        return notes

    def _layer_plan(self, decision: Decision, option: Option) -> LayerPlan:
        unit = self._unit(decision.name)
        c = option.choice
        return LayerPlan(name=unit.name, op=unit.layer.op, members=unit.members,
                         processor=c.processor, dtype=c.dtype, keep_in=c.keep_in,
                         keep_out=c.keep_out, sparsity=c.sparsity, weight_format=c.fmt,
                         rank=c.rank, size_bytes=option.size_bits / 8,
                         latency_s=option.latency_s, energy_j=option.energy_j,
                         output_bytes=option.out_bytes, macs=option.macs,
                         error=decision.sensitivity * option.error,
                         sensitivity=decision.sensitivity, size_exact=option.exact_size)

    def _unit(self, name: str) -> Unit:
        return self.units[self.problem.index[name]]

    def baseline(self) -> PlanTotals:
        """The uncompressed model, fp32, on the host processor (activations at fp32)."""
        host = self.profile.host
        dtype = "fp32" if "fp32" in self.profile.processors[host].dtypes \
            else self.profile.processors[host].dtypes[0]
        cost = placement_cost(self.graph, self.profile,
                              single_processor_placement(self.graph, self.profile, host,
                                                         dtype)).total
        work = self.graph.total_work()
        peak = _peak_fp32(self.problem, self.units)
        return PlanTotals(size_bytes=work.weight_bytes, latency_s=cost.latency_s,
                          memory_bytes=peak, energy_j=cost.energy_j, error=0.0,
                          transfer_s=cost.transfer_s, macs=work.macs)


def _peak_fp32(problem: Problem, units: list[Unit]) -> float:
    sizes = [u.layer.output_elements * 4 for u in units]
    return float(max((sum(sizes[j] for j in live) for live in problem.live_sets()),
                     default=0))


def _size_key(unit: str, choice: Choice, ratios: tuple[float, ...]) -> str:
    """The name of a measured size: the unit, its choice and its groups' keep ratios (a
    size is a pure function of them and the weights, so solves stay independent)."""
    return f"{unit}|{choice!r}|{ratios!r}"


def _nowhere(unit: Unit, profile: HardwareProfile, space: OptionSpace) -> str:
    ops = sorted({unit.layer.op})
    allowed = space.processors or tuple(profile.processors)
    return (f"layer {unit.name!r} ({', '.join(ops)}) runs on none of {', '.join(allowed)} of "
            f"{profile.name} at the allowed dtypes {space.dtypes or 'any'}")


def relevant_dims(budgets: Budgets, objective: Objective) -> tuple[Dimension, ...]:
    """The quantities a solve reads: the objective's and every budget's."""
    wanted = {QUANTITY_OF[objective], *budgets.given()}
    return tuple(d for d in ALL_DIMENSIONS if d in wanted)


# ---------------------------------------------------------------- the API


def plan(graph: Graph, profile: HardwareProfile, *, max_size_bytes: float | None = None,
         max_latency_s: float | None = None, max_memory_bytes: float | None = None,
         max_energy_j: float | None = None, max_error: float | None = None,
         objective: Objective = "accuracy", space: OptionSpace | None = None,
         proxy: Proxy = "measured", inputs: Any = None, solver: Solver = "highs",
         time_limit_s: float | None = None, gap: float | None = None, seed: int = 0,
         progress: Progress | None = None, cache: bool = True) -> Plan:
    """The plan that minimises ``objective`` (accuracy proxy, latency, size, energy or
    memory) within the budgets (bytes, seconds, bytes, joules, proxy error).

    ``proxy``: "measured" (weight errors and measured sensitivities, the default),
    "weights" (weight errors, every sensitivity 1) or "uniform" (no measurements).
    ``time_limit_s`` bounds the whole call: measuring proxies, building the options and
    every solve. Raises :class:`InfeasibleBudgetError` naming each budget's smallest
    achievable value.
    """
    budgets = Budgets(size_bytes=max_size_bytes, latency_s=max_latency_s,
                      memory_bytes=max_memory_bytes, energy_j=max_energy_j, error=max_error)
    deadline = Deadline(time_limit_s)  # covers measuring and building too, not only solving
    planner = Planner(graph, profile, space=space, proxy=proxy, inputs=inputs,
                      dims=relevant_dims(budgets, objective), seed=seed, progress=progress,
                      cache=cache, deadline=deadline)
    return planner.solve(budgets, objective, solver=solver, gap=gap, deadline=deadline)


def _checking(deadline: Deadline, progress: Progress | None) -> Progress:
    """``progress`` that first stops the work with PlanError once ``deadline`` passed."""
    def check(label: str, done: int, total: int) -> None:
        if deadline.expired:
            raise PlanError(
                f"the time limit of {deadline.seconds:g} s ran out before any solve, at "
                f"{label} ({done} of {total}); measured facts are cached only once all are "
                "measured: give a longer time limit, use the weights proxy, or plan once "
                "without a limit to fill the cache")
        if progress is not None:
            progress(label, done, total)
    return check


def pareto(graph: Graph, profile: HardwareProfile, over: str = "size", points: int = 8, *,
           objective: Objective = "accuracy", space: OptionSpace | None = None,
           proxy: Proxy = "measured", solver: Solver = "highs", seed: int = 0,
           planner: Planner | None = None, max_size_bytes: float | None = None,
           max_latency_s: float | None = None, max_memory_bytes: float | None = None,
           max_energy_j: float | None = None, max_error: float | None = None,
           progress: Progress | None = None, cache: bool = True,
           processes: int | None = None) -> list[Plan]:
    """Plans along the frontier of ``objective`` against the budget on ``over`` (size,
    latency, memory, energy): ``points`` budgets spaced geometrically from the smallest
    achievable value to the value the unconstrained optimum uses. Other ``budgets``
    (``max_latency_s=…``) hold at every point; ``planner`` reuses measured proxies;
    ``progress(label, done, total)`` hears about proxies and each point. The points are
    solved by ``processes`` worker processes (None: one per core where processes can be
    forked; 0: here, one after another), each plan the same as a solve here gives."""
    fixed = Budgets(size_bytes=max_size_bytes, latency_s=max_latency_s,
                    memory_bytes=max_memory_bytes, energy_j=max_energy_j, error=max_error)
    if over not in ("size", "latency", "memory", "energy"):
        raise ValueError(f"over must be size, latency, memory or energy, not {over!r}")
    dims = tuple(d for d in ALL_DIMENSIONS
                 if d in {over, *relevant_dims(fixed, objective)})
    planner = planner or Planner(graph, profile, space=space, proxy=proxy, dims=dims,
                                 seed=seed, progress=progress, cache=cache)
    def one(budgets: Budgets) -> Plan | None:
        try:
            return planner.solve(budgets, objective, solver=solver)
        except (InfeasibleBudgetError, BudgetBrokenError):
            return None

    def quiet() -> None:  # a worker reports nothing: the progress bar is this process's
        planner.progress = None

    with Points(one, processes if points > 1 else 0, quiet) as solving:
        low = minimum(planner.problem, over, solver=solver)
        high = max(low, planner.solve(fixed, objective, solver=solver).totals.model_dump()[
            total_field(over)])
        values = np.geomspace(max(low, 1e-30), max(high, 1e-30), points) if points > 1 \
            else np.array([high])
        found = solving.solve([fixed.replace(**{over: float(v)}) for v in values], progress)
    return [p for p in found if p is not None]


__all__ = [
    "PLAN_VERSION",
    "BudgetBrokenError",
    "InfeasibleBudgetError",
    "LayerPlan",
    "Plan",
    "PlanError",
    "PlanTotals",
    "Planner",
    "format_quantity",
    "load_plan",
    "pareto",
    "plan",
    "relevant_dims",
    "total_field",
]
