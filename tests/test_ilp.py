"""The ILP against brute force on random small problems, and its guarantees."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from planner.compression.transforms import Choice
from planner.search import ilp
from planner.search.column_generation import relax
from planner.search.ilp import FLOOR_GAP, NoPlanError, _highs_run, solve
from planner.search.milp import build
from planner.search.option_table import Option
from planner.search.problem import (
    Budgets,
    Decision,
    Link,
    Problem,
    brute_force,
    consistent,
    evaluate,
)

PROCESSORS = ("cpu", "gpu")
LINKS = {("cpu", "gpu"): Link(1e-4, 1e9), ("gpu", "cpu"): Link(1e-4, 1e9)}
RATIOS = (1.0, 0.5)
THREE = ("cpu", "gpu", "dsp")
LINKS3 = {(a, b): Link(latency, bandwidth) for (a, b), (latency, bandwidth) in {
    ("cpu", "gpu"): (1e-4, 1e9), ("gpu", "cpu"): (1e-4, 1e9), ("cpu", "dsp"): (5e-5, 2e9),
    ("dsp", "cpu"): (5e-5, 2e9), ("gpu", "dsp"): (2e-4, 5e8), ("dsp", "gpu"): (2e-4, 5e8),
}.items()}


@st.composite
def problems(draw: st.DrawFn, processors: tuple[str, ...] = PROCESSORS) -> Problem:
    """2–4 decisions in order; each reads 0–2 earlier ones; 0–2 channel groups each
    (from 2 shared groups); 1–3 options with random costs, processors and ratios."""
    n = draw(st.integers(2, 4))
    names = [f"u{k}" for k in range(n)]
    readers: dict[str, list[str]] = {name: [] for name in names}
    for k in range(1, n):
        for src in draw(st.sets(st.sampled_from(names[:k]), max_size=2)):
            readers[src].append(names[k])
    decisions = []
    for k, name in enumerate(names):
        groups = tuple(draw(st.sets(st.sampled_from((0, 1)), max_size=2)))
        options = []
        for _ in range(draw(st.integers(1, 3))):
            processor = draw(st.sampled_from(processors))
            ratios = tuple(draw(st.sampled_from(RATIOS)) for _ in groups)
            options.append(Option(
                name, Choice(processor=processor), ratios,
                size_bits=draw(st.integers(0, 1000)) * 8,
                latency_s=draw(st.integers(1, 100)) * 1e-5,
                energy_j=draw(st.integers(0, 100)) * 1e-6,
                out_bytes=draw(st.integers(1, 100)) * 1000,
                macs=0, weight_error=draw(st.integers(0, 100)) / 100, act_error=0.0,
                exact_size=True))
        decisions.append(Decision(name, options, groups, readers[name],
                                  is_output=k == n - 1 or not readers[name],
                                  sensitivity=draw(st.sampled_from((0.5, 1.0, 2.0)))))
    return Problem(decisions, "cpu", LINKS if processors == PROCESSORS else LINKS3)


@st.composite
def budgets(draw: st.DrawFn) -> Budgets:
    def maybe(low: float, high: float) -> float | None:
        return draw(st.none() | st.floats(low, high))
    return Budgets(size_bytes=maybe(0, 4000), latency_s=maybe(1e-5, 4e-3),
                   memory_bytes=maybe(1000, 4e5), energy_j=maybe(0, 4e-4), error=maybe(0, 8))


OBJECTIVE = st.sampled_from(("accuracy", "latency", "size", "energy", "memory"))
QUANTITY = {"accuracy": "error", "latency": "latency", "size": "size", "energy": "energy",
            "memory": "memory"}
FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(problems(), budgets(), OBJECTIVE)
def test_ilp_optimum_equals_brute_force(problem: Problem, limits: Budgets,
                                        objective: str) -> None:
    best = brute_force(problem, limits, objective)  # type: ignore[arg-type]
    try:
        solution = solve(problem, limits, objective)  # type: ignore[arg-type]
    except NoPlanError:
        assert best is None
        return
    assert best is not None
    chosen = [solution.chosen[d.name] for d in problem.decisions]
    assert consistent(problem, chosen)
    totals = evaluate(problem, chosen)
    assert not totals.violations(limits)  # every budget holds by the cost model
    assert totals.quantity(QUANTITY[objective]) == pytest.approx(best[0], rel=1e-6,
                                                                 abs=1e-9)


@FAST
@given(problems(THREE), budgets(), st.floats(1.2e-4, 2e-3), OBJECTIVE,
       st.sampled_from(("highs", "cbc")))
def test_latency_budgets_on_three_processors_equal_brute_force(
        problem: Problem, limits: Budgets, latency: float, objective: str,
        solver: str) -> None:
    """Transfers between three processors priced exactly: the ILP (both solvers) finds the
    brute-force optimum under a latency budget."""
    limits = limits.replace(latency=latency)
    best = brute_force(problem, limits, objective)  # type: ignore[arg-type]
    try:
        solution = solve(problem, limits, objective, solver=solver)  # type: ignore[arg-type]
    except NoPlanError:
        assert best is None
        return
    assert best is not None
    totals = evaluate(problem, solution.chosen)
    assert not totals.violations(limits)
    assert totals.quantity(QUANTITY[objective]) == pytest.approx(best[0], rel=1e-6,
                                                                 abs=1e-9)


@FAST
@given(problems(), budgets(), st.sampled_from(("size", "latency", "memory", "energy")),
       st.floats(0.3, 0.95))
def test_tightening_a_budget_never_improves_the_objective(
        problem: Problem, limits: Budgets, which: str, factor: float) -> None:
    try:
        loose = solve(problem, limits, "accuracy")
    except NoPlanError:
        return
    used = evaluate(problem, loose.chosen).quantity(which)
    tighter = Budgets(**{**_fields(limits), _field(which): used * factor})
    try:
        tight = solve(problem, tighter, "accuracy")
    except NoPlanError:
        return
    assert tight.objective >= loose.objective - 1e-9


def _field(name: str) -> str:
    return {"size": "size_bytes", "latency": "latency_s", "memory": "memory_bytes",
            "energy": "energy_j", "error": "error"}[name]


def _fields(b: Budgets) -> dict[str, float | None]:
    return {_field(k): v for k, v in b.as_dict().items()}


@FAST
@given(problems(THREE), budgets(), budgets(), OBJECTIVE)
def test_a_program_built_from_the_memoised_structure_equals_a_fresh_one(
        problem: Problem, first: Budgets, second: Budgets, objective: str) -> None:
    # builds under other budgets and objectives leave the kept structure as it was
    build(problem, first, "latency", read=("memory",))
    build(problem, second, objective)  # type: ignore[arg-type]
    reused = build(problem, first, objective).matrix  # type: ignore[arg-type]
    fresh = build(Problem(problem.decisions, problem.host, problem.links), first,
                  objective).matrix  # type: ignore[arg-type]
    for name in ("cost", "col_lower", "col_upper", "integral", "row_start", "col_index",
                 "value", "row_lower", "row_upper"):
        assert (getattr(reused, name) == getattr(fresh, name)).all(), name
    assert reused.blocks == fresh.blocks


def test_transfer_is_charged_once_per_destination_processor() -> None:
    # u0 on cpu feeds u1 and u2, both forced onto gpu: one move of u0's 1000 bytes
    # (1e-4 s + 1000 B / 1e9 B/s); then u1's and u2's outputs (graph outputs) come back:
    # 2 × (1e-4 + 1e-6)
    def only(name: str, processor: str) -> Option:
        return Option(name, Choice(processor=processor), (), 0, 1e-3, 0.0, 1000, 0, 0.0,
                      0.0, True)
    problem = Problem([Decision("u0", [only("u0", "cpu")], consumers=["u1", "u2"]),
                       Decision("u1", [only("u1", "gpu")], is_output=True),
                       Decision("u2", [only("u2", "gpu")], is_output=True)], "cpu", LINKS)
    solution = solve(problem, Budgets(), "latency")
    assert solution.objective == pytest.approx(3e-3 + 3 * (1e-4 + 1e-6))


@pytest.mark.parametrize(("error", "more_on_gpu", "without_program"), [
    (0.3, 2e-7, True),  # fp16 activations: a few 1e-7 less accurate
    (3e-4, 2e-10, True),  # a near-lossless optimum, far below 1 in the program's units
    (3e-4, 6e-10, False),  # 2e-6 more in all: past FLOOR_GAP, the program decides
    (3e-4, 3e-5, False),  # 10% less accurate on the GPU
])
def test_a_latency_budget_met_by_moving_the_same_weights_is_solved_without_the_program(
        monkeypatch: pytest.MonkeyPatch, error: float, more_on_gpu: float,
        without_program: bool) -> None:
    """The size-only optimum runs on the CPU and breaks the latency budget; the same
    weights on the GPU meet it. When they cost at most FLOOR_GAP more in all (as
    ResNet-50's optimum at half its latency does) that plan is found among the size-only
    optimum's twins and the budgeted program is never built; when they cost more, the
    budgeted program finds it. Either way it is the brute-force optimum."""
    def option(name: str, processor: str, error: float, latency: float) -> Option:
        return Option(name, Choice(processor=processor), (), 800, latency, 0.0, 100, 0,
                      error, 0.0, True)
    names = ("u0", "u1", "u2")
    problem = Problem([Decision(name, [option(name, "cpu", error, 1e-3),
                                       option(name, "gpu", error + more_on_gpu, 1e-4),
                                       option(name, "gpu", 1.0, 5e-5)],
                                consumers=list(names[k + 1:k + 2]), is_output=k == 2)
                       for k, name in enumerate(names)], "cpu", LINKS)
    limits = Budgets(latency_s=1e-3)
    budgeted = []
    solve_program = ilp._solve

    def counting(problem: Problem, budgets: Budgets, *args: Any) -> Any:
        budgeted.append(budgets.latency_s is not None)
        return solve_program(problem, budgets, *args)

    monkeypatch.setattr(ilp, "_solve", counting)
    solution = solve(problem, limits, "accuracy")
    assert budgeted == ([False] if without_program else [False, True])
    assert {o.choice.processor for o in solution.chosen.values()} == {"gpu"}
    assert not evaluate(problem, solution.chosen).violations(limits)
    best = brute_force(problem, limits, "accuracy")
    assert best is not None and solution.objective == pytest.approx(best[0], rel=1e-12)
    assert solution.gap <= FLOOR_GAP


def test_coupled_decisions_take_one_ratio() -> None:
    # two decisions share group 0; the cheapest options disagree (0.5 vs 1.0), so the
    # ILP must pay for agreement: best consistent size is min(10 + 30, 20 + 15) = 35 bytes
    def opt(name: str, ratio: float, size: int) -> Option:
        return Option(name, Choice(), (ratio,), size * 8, 1e-3, 0.0, 10, 0, 0.0, 0.0, True)
    problem = Problem([Decision("a", [opt("a", 0.5, 10), opt("a", 1.0, 20)], (0,), ["b"]),
                       Decision("b", [opt("b", 0.5, 30), opt("b", 1.0, 15)], (0,),
                                is_output=True)], "cpu", LINKS)
    solution = solve(problem, Budgets(), "size")
    assert solution.objective == pytest.approx(35)
    assert math.isclose(solution.chosen["a"].ratios[0], solution.chosen["b"].ratios[0])


@FAST
@given(problems(THREE), budgets(), OBJECTIVE, st.data())
def test_column_generation_bound_and_reduced_costs_are_the_full_relaxations(
        problem: Problem, limits: Budgets, objective: str, data: st.DataObject) -> None:
    """Column generation reaches the full LP's optimum, and every option's reduced cost is
    a valid bound: the relaxation with that option forced in costs at least LB + d_j."""
    model = build(problem, limits, objective)  # type: ignore[arg-type]
    matrix, n = model.matrix, len(model.arrays.owner)
    full, _ = _highs_run(matrix, None, 0.0, relax=True, presolve="off")
    lp = relax(matrix, n, model.arrays.owner, model.arrays.unpruned)
    if full.status == "infeasible":
        assert lp.status != "optimal"
        return
    assume(lp.status == "optimal")  # the seed may leave a decision without options
    assert lp.bound == pytest.approx(float(matrix.cost @ full.values), rel=1e-7, abs=1e-7)
    j = data.draw(st.integers(0, n - 1))
    lower = matrix.col_lower.copy()
    lower[j] = 1.0
    forced, _ = _highs_run(replace(matrix, col_lower=lower), None, 0.0, relax=True,
                           presolve="off")
    if forced.status == "optimal":
        assert float(matrix.cost @ forced.values) >= lp.bound + lp.reduced[j] - 1e-6


def test_ctrl_c_stops_a_running_solve() -> None:
    """SIGINT during a long branch and bound: the solve is cancelled at once and raises
    KeyboardInterrupt (HiGHS alone would only notice when its run returns)."""
    import os
    import signal
    import threading
    import time

    import numpy as np

    from planner.search.milp import Matrix

    rng = np.random.default_rng(0)  # a 400-item, 40-row knapsack: minutes to prove
    n, k = 400, 40
    a = rng.integers(1, 100, size=(k, n)).astype(float)
    hard = Matrix(-rng.integers(1, 100, size=n).astype(float), np.zeros(n), np.ones(n),
                  np.ones(n, bool), np.arange(0, k * n + 1, n), np.tile(np.arange(n), k),
                  a.ravel(), np.full(k, -np.inf), a.sum(axis=1) / 2)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        _highs_run(hard, 60, 1e-9)
    assert time.perf_counter() - start < 5


def test_ctrl_c_stops_cbc_and_leaves_nothing_behind() -> None:
    """SIGINT while PuLP waits on CBC: KeyboardInterrupt within 2 s, the CBC process
    terminated and its temporary folder removed."""
    import glob
    import os
    import signal
    import subprocess
    import tempfile
    import threading
    import time

    import numpy as np

    from planner.search.ilp import _cbc
    from planner.search.milp import Matrix

    rng = np.random.default_rng(0)
    n, k = 400, 40
    a = rng.integers(1, 100, size=(k, n)).astype(float)
    hard = Matrix(-rng.integers(1, 100, size=n).astype(float), np.zeros(n), np.ones(n),
                  np.ones(n, bool), np.arange(0, k * n + 1, n), np.tile(np.arange(n), k),
                  a.ravel(), np.full(k, -np.inf), a.sum(axis=1) / 2)
    sent: list[float] = []

    def interrupt() -> None:
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Timer(3, interrupt).start()
    with pytest.raises(KeyboardInterrupt):
        _cbc(hard, 120, 1e-9)
    assert time.perf_counter() - sent[0] < 2
    time.sleep(0.5)
    children = subprocess.run(["pgrep", "-x", "-P", str(os.getpid()), "cbc"],
                              capture_output=True, text=True).stdout
    assert children == ""
    assert glob.glob(os.path.join(tempfile.gettempdir(), "planner-cbc-*")) == []
