"""Plans of real graphs: budgets met, coupling respected, files round-trip, errors explain."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from graphs import build_zoo_model
from hardware_profiles import load
from planner.compression.coupling import couple
from planner.planning.plan import (
    InfeasibleBudgetError,
    PlanError,
    Planner,
    load_plan,
    pareto,
    plan,
    relevant_dims,
)
from planner.search.options import ALL_DIMENSIONS, OptionSpace
from planner.search.problem import Budgets, evaluate

SMALL = OptionSpace(keep_ratios=(1.0, 0.5), sparsities=(0.0, 0.75),
                    formats=("fp32", "int8", "kmeans4"), ranks=(1.0, 0.5))


@pytest.fixture(scope="module")
def lenet_planner() -> Planner:
    graph = build_zoo_model("lenet5", weights=True)
    return Planner(graph, load("snapdragon_855"), space=SMALL, proxy="weights")


def test_plan_meets_every_budget_by_the_cost_model(lenet_planner: Planner) -> None:
    budgets = Budgets(size_bytes=30_000, latency_s=1e-4, memory_bytes=30_000)
    result = lenet_planner.solve(budgets)
    assert result.totals.size_bytes <= 30_000
    assert result.totals.latency_s <= 1e-4
    assert result.totals.memory_bytes <= 30_000
    # the plan's totals are the independent evaluation of its choices
    chosen = {d.name: next(o for o in d.options if o.choice.processor == entry.processor
                           and o.choice.fmt == entry.weight_format
                           and o.size_bits == entry.size_bytes * 8
                           and o.latency_s == entry.latency_s)
              for d, entry in zip(lenet_planner.problem.decisions, result.layers, strict=True)}
    assert evaluate(lenet_planner.problem, chosen).size_bytes == result.totals.size_bytes


def test_smaller_budget_costs_accuracy(lenet_planner: Planner) -> None:
    # 246,824 fp32 bytes; 1/10 of that forces lossy choices, 1/2 does not need as many
    loose = lenet_planner.solve(Budgets(size_bytes=120_000))
    tight = lenet_planner.solve(Budgets(size_bytes=25_000))
    assert tight.totals.error > loose.totals.error >= 0
    assert "size" in tight.binding or tight.totals.size_bytes < 25_000


def test_infeasible_budget_names_each_minimum(lenet_planner: Planner) -> None:
    with pytest.raises(InfeasibleBudgetError) as info:
        lenet_planner.solve(Budgets(size_bytes=10, latency_s=1.0))
    err = info.value
    assert err.minimums["size"] > 10  # unreachable on its own
    assert "size <= 10" in str(err) and "smallest achievable" in str(err)


def test_conflicting_budgets_are_named(lenet_planner: Planner) -> None:
    # each budget alone is reachable: size at 5% above its minimum, error 1e-6 (the fp32
    # plan has error 0); the smallest plans are lossy, so together they conflict
    size_min = lenet_planner.explain(Budgets(size_bytes=1)).minimums["size"]
    budgets = Budgets(size_bytes=size_min * 1.05, error=1e-6, latency_s=1.0)
    with pytest.raises(InfeasibleBudgetError) as info:
        lenet_planner.solve(budgets)
    assert info.value.conflicts == [("size", "error")]


def test_coupled_layers_share_keep_ratios() -> None:
    graph = build_zoo_model("resnet18", (1, 3, 64, 64), weights=True)
    space = OptionSpace(keep_ratios=(1.0, 0.5), sparsities=(0.0,), formats=("fp32", "int8"),
                        ranks=(1.0,), processors=("cpu",))
    budgets = Budgets(size_bytes=6e6)
    planner = Planner(graph, load("snapdragon_855"), space=space, proxy="weights",
                      dims=relevant_dims(budgets, "accuracy"))
    result = planner.solve(budgets)
    coupling = couple(graph)
    ratios: dict[int, set[float]] = {}
    for entry in result.layers:
        gid = coupling.output_group(entry.name)
        if gid is not None and not coupling.group(gid).locked and entry.op == "conv2d":
            ratios.setdefault(coupling.find(gid), set()).add(entry.keep_out)
    assert ratios and all(len(r) == 1 for r in ratios.values())
    # the residual stream of layer1 is one group: its three producers agree
    stream = coupling.output_group("layer1.0.conv2")
    assert coupling.output_group("layer1.1.conv2") == stream


def test_plan_file_round_trip(lenet_planner: Planner, tmp_path: Path) -> None:
    result = lenet_planner.solve(Budgets(size_bytes=50_000))
    path = tmp_path / "plan.json"
    result.save(path)
    assert load_plan(path) == result


def test_bad_plan_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text('{"version": 1, "model": "x"}')
    with pytest.raises(PlanError, match=r"plan\.json: field"):
        load_plan(path)
    path.write_text('{"version": 7}')
    with pytest.raises(PlanError, match="expected 1"):
        load_plan(path)
    path.write_text('{"version": true}')
    with pytest.raises(PlanError, match="'version' is True, expected 1"):
        load_plan(path)


def test_pareto_frontier_never_gets_worse_with_more_budget(lenet_planner: Planner) -> None:
    plans = pareto(lenet_planner.graph, lenet_planner.profile, over="size", points=5,
                   planner=lenet_planner)
    assert len(plans) == 5
    sizes = [p.totals.size_bytes for p in plans]
    errors = [p.totals.error for p in plans]
    assert sizes == sorted(sizes)
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(errors))


def test_pareto_points_solved_by_worker_processes_equal_those_solved_here(
        lenet_planner: Planner) -> None:
    def dumped(processes: int) -> list[dict[str, object]]:
        plans = pareto(lenet_planner.graph, lenet_planner.profile, over="size", points=4,
                       planner=lenet_planner, processes=processes)
        return [p.model_dump(exclude={"solver"}) for p in plans]

    serial, forked = dumped(0), dumped(2)
    assert len(serial) == 4
    assert forked == serial


def test_plan_api_on_a_model_without_weights_notes_seeded_proxies() -> None:
    result = plan(build_zoo_model("lenet5"), load("raspberry_pi_5"), max_size_bytes=60_000,
                  space=SMALL, proxy="weights")
    assert result.totals.size_bytes <= 60_000
    assert any("seeded" in note for note in result.notes)
    # the uniform proxy reads no weights; only extrapolated sizes are measured on seeded ones
    uniform = plan(build_zoo_model("lenet5"), load("raspberry_pi_5"), max_size_bytes=60_000,
                   space=SMALL, proxy="uniform")
    assert not any("proxies use seeded" in note for note in uniform.notes)
    assert all(e.size_exact for e in uniform.layers)


def test_solving_leaves_the_planner_unchanged(lenet_planner: Planner) -> None:
    """A solve works on a copy of the problem: the same budgets give the same plan before
    and after other solves, and the planner's options are untouched."""
    before = [list(d.options) for d in lenet_planner.problem.decisions]
    first = lenet_planner.solve(Budgets(size_bytes=20_000))
    lenet_planner.solve(Budgets(size_bytes=12_000))
    again = lenet_planner.solve(Budgets(size_bytes=20_000))
    assert first.layers == again.layers and first.totals == again.totals
    after = [list(d.options) for d in lenet_planner.problem.decisions]
    assert before == after


def test_measured_facts_are_cached_by_content(tmp_path: Path) -> None:
    """The second planner reads the facts the first measured (same graph, space, proxy);
    other weights are a different key; a corrupt entry is measured again."""
    from planner.search.fact_cache import FactCache

    cache = FactCache(tmp_path)
    graph = build_zoo_model("lenet5", weights=True)
    first = Planner(graph, load("raspberry_pi_5"), space=SMALL, cache=cache)
    assert len(list(tmp_path.glob("*.json"))) == 1
    second = Planner(graph, load("raspberry_pi_5"), space=SMALL, cache=cache)
    assert second.facts == first.facts
    assert second.from_cache is not None and second.from_cache.parent == tmp_path
    assert first.from_cache is None
    other = Planner(build_zoo_model("lenet5", weights=True, seed=7), load("raspberry_pi_5"),
                    space=SMALL, cache=cache)
    assert len(list(tmp_path.glob("*.json"))) == 2
    assert other.facts != first.facts
    for entry in tmp_path.glob("*.json"):
        entry.write_text("{not json")
    fresh = Planner(graph, load("raspberry_pi_5"), space=SMALL, cache=cache)
    assert fresh.facts == first.facts
    assert fresh.from_cache is None


def test_options_are_cached_beside_the_facts(tmp_path: Path) -> None:
    """A second planner of the same model, device, space and quantities reads the options
    the first enumerated, identical to the last row; another device or other quantities
    are other entries; a corrupt entry is enumerated again."""
    from planner.search.fact_cache import FactCache

    cache = FactCache(tmp_path)
    graph = build_zoo_model("lenet5", weights=True)
    dims = ("size", "latency", "error")
    first = Planner(graph, load("snapdragon_855"), space=SMALL, cache=cache, dims=dims)
    assert len(list(tmp_path.glob("*.options.npz"))) == 1
    second = Planner(graph, load("snapdragon_855"), space=SMALL, cache=cache, dims=dims)
    for a, b in zip(first.problem.decisions, second.problem.decisions, strict=True):
        assert list(a.options) == list(b.options) and len(a.options) > 0
    Planner(graph, load("raspberry_pi_5"), space=SMALL, cache=cache, dims=dims)
    Planner(graph, load("snapdragon_855"), space=SMALL, cache=cache, dims=("size", "error"))
    assert len(list(tmp_path.glob("*.options.npz"))) == 3
    for entry in tmp_path.glob("*.options.npz"):
        entry.write_bytes(b"not an archive")
    fresh = Planner(graph, load("snapdragon_855"), space=SMALL, cache=cache, dims=dims)
    assert [list(d.options) for d in fresh.problem.decisions] == [
        list(d.options) for d in first.problem.decisions]


def test_measured_sizes_are_cached_beside_the_facts(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A second planner's solve reads the exact sizes of the compressed layers the first
    solve measured, and returns the same plan without compressing anything; a corrupt
    entry is measured again."""
    import planner.planning.plan as planning
    from planner.search.fact_cache import FactCache

    cache = FactCache(tmp_path)
    graph = build_zoo_model("lenet5", weights=True)
    budgets = Budgets(size_bytes=12_000)
    first = Planner(graph, load("raspberry_pi_5"), space=SMALL, cache=cache).solve(budgets)
    assert any(layer.weight_format == "kmeans4" or layer.sparsity > 0
               for layer in first.layers)  # sizes that had to be measured
    (sizes,) = tmp_path.glob("*.sizes.json")

    def refuse(*args: object) -> int:
        raise AssertionError("a size was measured again")

    with monkeypatch.context() as patch:
        patch.setattr(planning, "stored_bits", refuse)
        again = Planner(graph, load("raspberry_pi_5"), space=SMALL, cache=cache).solve(budgets)
    assert again.layers == first.layers and again.totals == first.totals
    sizes.write_text("{not json")
    fresh = Planner(graph, load("raspberry_pi_5"), space=SMALL, cache=cache).solve(budgets)
    assert fresh.layers == first.layers


@pytest.mark.parametrize("budgets", [
    Budgets(size_bytes=40_000, latency_s=4e-5),
    Budgets(size_bytes=60_000, latency_s=3e-4, memory_bytes=9_000),
    Budgets(size_bytes=40_000, energy_j=5e-6),
])
def test_dropping_dominated_options_keeps_the_optimum(budgets: Budgets) -> None:
    """Pareto fronts per cell (one processor, every activation dtype, output bytes compared
    like a cost) leave the optimum of every objective as it is over every option: three
    processors, so transfers count."""
    graph = build_zoo_model("lenet5", weights=True)
    dims = relevant_dims(budgets, "accuracy")
    front = Planner(graph, load("snapdragon_855"), space=SMALL, proxy="weights", dims=dims,
                    cache=False)
    every = Planner(graph, load("snapdragon_855"), space=SMALL, proxy="weights", dims=dims,
                    cache=False, front=False)
    assert front.problem.option_count() < every.problem.option_count()
    from planner.search.ilp import solve

    for objective in ("accuracy", "latency", "size"):
        best = solve(front.problem, budgets, objective, tie_break=False).objective
        full = solve(every.problem, budgets, objective, tie_break=False).objective
        assert best == pytest.approx(full, rel=1e-6, abs=1e-12)


def test_the_cache_folder_follows_xdg_cache_home(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from planner.search.fact_cache import cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "edge-compression-planner" / "facts"


def test_a_predicted_error_above_one_is_flagged() -> None:
    """Squeezed to 1% of its weights, lenet5's predicted error passes 1 (the output's own
    energy): the plan says the proxy is out of range; at 20% it says nothing."""
    graph = build_zoo_model("lenet5", weights=True)
    planner = Planner(graph, load("raspberry_pi_5"), proxy="weights", dims=("size", "error"))
    squeezed = planner.solve(Budgets(size_bytes=graph.total_work().weight_bytes * 0.01))
    assert squeezed.totals.error > 1
    assert any("predicted error is" in note for note in squeezed.notes)
    loose = planner.solve(Budgets(size_bytes=graph.total_work().weight_bytes * 0.2))
    assert loose.totals.error < 1
    assert not any("predicted error is" in note for note in loose.notes)


def test_a_graph_the_simulator_cannot_run_still_plans_and_says_so(tmp_path: Path) -> None:
    """conv → Sinh (no handler: an opaque layer) → conv: the measured proxy runs what it can,
    the plan meets its budget, and the simulation measures at the runnable layer that feeds
    the opaque one, saying so."""
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from planner import load_model, simulate

    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
               for n, s in (("w1", (8, 3, 3, 3)), ("w2", (8, 8, 3, 3)))]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Sinh", ["a"], ["b"], name="sinh"),
             helper.make_node("Conv", ["b", "w2"], ["y"], name="conv2", pads=[1, 1, 1, 1])]
    graph = helper.make_graph(
        nodes, "sinhtest", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])], weights)
    path = tmp_path / "sinh.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    model = load_model(path)
    planner = Planner(model, load("raspberry_pi_5"), cache=False)
    assert any("cannot execute sinh (onnx::Sinh), nor the 1 layer(s)" in n for n in planner.notes)
    plan = planner.solve(Budgets(size_bytes=1500))
    assert plan.totals.size_bytes <= 1500
    assert planner.facts["conv1"].sensitivity == 1.0  # its path to the output is opaque
    result = simulate(model, plan, batch=2)
    assert [o.name for o in result.outputs] == ["conv1"]  # what feeds the opaque layer
    assert "1 layer(s) cannot be executed (onnx::Sinh ×1), nor the 1 after" in result.notes[0]
    assert result.stored_bytes == plan.totals.size_bytes
    assert [r.name for r in result.layers] == ["x", "conv1"]  # conv2 stands unmeasured


def test_the_time_limit_covers_measuring_before_any_solve() -> None:
    from planner.planning.plan import plan

    graph = build_zoo_model("lenet5", weights=True)
    with pytest.raises(PlanError, match=r"time limit of 1e-06 s ran out before any solve, at "
                                        r"activations \(\d+ of 16\)"):
        plan(graph, load("raspberry_pi_5"), max_size_bytes=30_000, time_limit_s=1e-6,
             cache=False)


def test_a_deep_chain_is_solved_to_the_floor_gap() -> None:
    """Measured sensitivities of a deep chain are tiny, so the optimum's summed error is
    ~1e-5 of the largest possible: the solver's absolute tolerances once stopped with a
    gap of 7e-4 and called it optimal."""
    from graphs import GraphBuilder, seeded_weights
    from planner.search.ilp import FLOOR_GAP

    b = GraphBuilder("chain")
    x = b.input((1, 16, 8, 8))
    for k in range(100):
        x = b.relu(b.conv(x, 16, 3, padding=1, name=f"conv{k}"))
    graph = seeded_weights(b.build([x]), 0)
    planner = Planner(graph, load("raspberry_pi_5"), dims=("size", "error"), cache=False)
    result = planner.solve(Budgets(size_bytes=graph.total_work().weight_bytes / 4))
    assert result.totals.error < 1e-4  # the regime in question
    assert result.solver.optimal and result.solver.gap <= FLOOR_GAP


def test_options_enumerated_by_worker_processes_equal_a_serial_enumeration() -> None:
    import numpy as np

    from planner.search.enumeration import Job, enumerate_options

    graph = build_zoo_model("lenet5", weights=True)
    planner = Planner(graph, load("snapdragon_855"), space=SMALL, proxy="weights")
    job = Job(planner.units, planner.graph, planner.coupling, planner.profile, planner.space,
              planner.facts, relevant_dims(Budgets(latency_s=1.0), "accuracy"), True)
    serial, forked = enumerate_options(job, processes=0), enumerate_options(job, processes=2)
    assert [t.unit for t in forked] == [u.name for u in planner.units]
    for a, b in zip(serial, forked, strict=True):
        for column in ("size_bits", "latency_s", "energy_j", "weight_error"):
            assert np.array_equal(a.column(column), b.column(column))
        assert np.array_equal(a.ratios, b.ratios)

def test_options_taken_from_workers_or_enumerated_here_from_the_back_equal_serial_ones(
        ) -> None:
    import numpy as np

    from planner.search.enumeration import Beforehand, Job, enumerate_options

    graph = build_zoo_model("lenet5", weights=True)
    planner = Planner(graph, load("snapdragon_855"), space=SMALL, proxy="weights")
    job = Job(planner.units, planner.graph, planner.coupling, planner.profile, planner.space,
              planner.facts, ALL_DIMENSIONS, True)
    serial = enumerate_options(job, processes=0)
    seen: list[int] = []
    with Beforehand(job, 2) as early:
        for unit in planner.units[::2]:  # the rest never reach a worker
            early.submit(unit.name, planner.facts[unit.name])
        tables = early.tables(planner.facts, lambda _, done, total: seen.append(done))
    assert seen == list(range(1, len(serial) + 1))
    for a, b in zip(serial, tables, strict=True):
        assert a.unit == b.unit
        for column in ("size_bits", "latency_s", "energy_j", "weight_error"):
            assert np.array_equal(a.column(column), b.column(column))


def test_options_enumerated_beside_the_sensitivity_runs_equal_those_of_the_final_facts(
        ) -> None:
    import numpy as np

    from graphs import GraphBuilder, seeded_weights
    from planner.search.enumeration import Job, enumerate_options, workers

    b = GraphBuilder("chain")
    x = b.input((1, 8, 6, 6))
    for k in range(20):
        x = b.relu(b.conv(x, 8, 3, padding=1, name=f"conv{k}"))
    graph = seeded_weights(b.build([x]), 0)
    planner = Planner(graph, load("snapdragon_855"), space=SMALL, cache=False)
    if workers(len(planner.units)) < 2:
        pytest.skip("one core: nothing is enumerated beside the runs")
    assert len({d.sensitivity for d in planner.problem.decisions}) > 2  # measured
    job = Job(planner.units, planner.graph, planner.coupling, planner.profile, planner.space,
              planner.facts, ALL_DIMENSIONS, True)
    serial = enumerate_options(job, processes=0)
    for a, d in zip(serial, planner.problem.decisions, strict=True):
        for column in ("size_bits", "latency_s", "energy_j", "weight_error", "act_error"):
            assert np.array_equal(a.column(column), d.options.column(column)), (a.unit, column)
        assert np.array_equal(a.ratios, d.options.ratios)



def test_work_beside_propagates_its_error_and_stops_with_the_block() -> None:
    import threading

    from planner.search.beside import Beside

    def fail(item: int) -> None:
        if item == 2:
            raise ValueError("item 2")

    with pytest.raises(ValueError, match="item 2"), Beside(fail, range(5)):
        pass
    started = threading.Event()
    seen: list[int] = []

    def slow(item: int) -> None:
        started.set()
        seen.append(item)
        threading.Event().wait(0.05)

    with pytest.raises(KeyError), Beside(slow, range(100)):
        started.wait(5)
        raise KeyError("the block fails")
    assert len(seen) < 100  # stopped before its next item, not run to the end
