"""Executing plans: the identity plan is the baseline, predicted bytes and MACs are the
executed ones for every option kind, factorisations and int8 behave as theory says, and a
trained network's real accuracy is measured."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphs import Graph, GraphBuilder, build_zoo_model, seeded_weights
from hardware_profiles import load
from planner.compression import compress
from planner.compression.storage import encode, quantize_int
from planner.compression.transforms import factorize, reconstruct
from planner.execution.executor import execute
from planner.planning.plan import Plan, Planner
from planner.search.milp import OptionArrays
from planner.search.options import OptionSpace
from planner.search.problem import Budgets
from planner.validate.simulate import SimulationError, simulate

PROFILE = load("raspberry_pi_5")


def small_mobilenet() -> Graph:
    """Residual adds, depthwise convs, folded batch norms and a linear head."""
    return build_zoo_model("mobilenet_v2", weights=True, input_shape=(1, 3, 32, 32),
                           width_multiplier=0.25, num_classes=10)


def small_encoder() -> Graph:
    """Embeddings, linears, layer norms and attention written out."""
    return build_zoo_model("bert_encoder", weights=True, layers=1, seq_len=8, hidden=64,
                           heads=4, intermediate=128, vocab=100, max_positions=16)


@pytest.fixture(scope="module")
def mobilenet() -> Graph:
    return small_mobilenet()


def planned(graph: Graph, space: OptionSpace, fraction: float | None) -> Plan:
    planner = Planner(graph, PROFILE, space=space, proxy="weights", dims=("size", "error"))
    budget = None if fraction is None else graph.total_work().weight_bytes * fraction
    return planner.solve(Budgets(size_bytes=budget))


def test_identity_plan_reproduces_the_baseline_exactly(mobilenet: Graph) -> None:
    plan = planned(mobilenet, OptionSpace(formats=("fp32",)), None)
    assert all(e.weight_format == "fp32" and e.keep_out == 1 and e.rank == 1
               and e.sparsity == 0 for e in plan.layers)
    built = compress(mobilenet, plan)
    x = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    out = mobilenet.outputs[0]
    same = execute(built.graph, x).outputs[out]
    assert np.array_equal(same, execute(built.reference, x).outputs[out])
    np.testing.assert_allclose(same, execute(mobilenet, x).outputs[out], rtol=1e-4,
                               atol=1e-5)  # batch norm folding only reorders arithmetic
    result = simulate(mobilenet, plan, x)
    assert result.error == 0 and result.outputs[0].top1_agreement == 1
    assert result.stored_bytes == result.predicted_bytes


SPACES = {
    "structured": (OptionSpace(keep_ratios=(1.0, 0.5), sparsities=(0.0,), formats=("fp32",),
                               ranks=(1.0,)), 0.6),
    "sparse": (OptionSpace(keep_ratios=(1.0,), sparsities=(0.0, 0.5, 0.9),
                           formats=("fp32", "int8"), ranks=(1.0,)), 0.08),
    "low_rank": (OptionSpace(keep_ratios=(1.0,), sparsities=(0.0,), formats=("fp32",),
                             ranks=(1.0, 0.5, 0.25)), 0.7),
    "fp16": (OptionSpace(formats=("fp16",), keep_ratios=(1.0,), sparsities=(0.0,),
                         ranks=(1.0,)), None),
    "int4": (OptionSpace(formats=("int4",), keep_ratios=(1.0,), sparsities=(0.0,),
                         ranks=(1.0,)), None),
    "binary": (OptionSpace(formats=("binary",), keep_ratios=(1.0,), sparsities=(0.0,),
                           ranks=(1.0,)), None),
    "kmeans": (OptionSpace(formats=("kmeans4",), keep_ratios=(1.0,), sparsities=(0.0,),
                           ranks=(1.0,)), None),
    "everything": (OptionSpace(), 0.1),
}


@pytest.mark.parametrize("kind", list(SPACES))
def test_predicted_bytes_and_macs_are_the_executed_ones(mobilenet: Graph, kind: str) -> None:
    space, fraction = SPACES[kind]
    plan = planned(mobilenet, space, fraction)
    result = simulate(mobilenet, plan, batch=2)
    layers = {e.name: e for e in plan.layers}
    # the planner measures every chosen size that it had extrapolated (k-means and sparse
    # index rates of pruned or factorised weights), so all of them are exact
    assert all(e.size_exact for e in plan.layers)
    for r in result.layers:
        assert r.executed_macs == r.predicted_macs, r.name
        assert r.stored_bytes == r.predicted_bytes, r.name
    assert result.stored_bytes == result.predicted_bytes
    if fraction is not None:
        assert result.stored_bytes <= mobilenet.total_work().weight_bytes * fraction
    assert result.executed_macs == result.predicted_macs
    if kind != "everything":  # the plan really uses the option kind it was given
        used = {"structured": any(e.keep_out < 1 for e in plan.layers),
                "sparse": any(e.sparsity > 0 for e in plan.layers),
                "low_rank": any(e.rank < 1 for e in plan.layers)}
        assert used.get(kind, True)
        assert all(r.nonzero_macs < r.executed_macs for r in result.layers
                   if layers[r.name].sparsity > 0)


def test_encoder_plans_execute_with_their_predicted_costs() -> None:
    graph = small_encoder()
    plan = planned(graph, OptionSpace(), 0.15)
    result = simulate(graph, plan, batch=2)
    assert result.executed_macs == result.predicted_macs
    assert result.stored_bytes == result.predicted_bytes  # chosen sizes are measured
    assert 0 < result.error < 1 and result.outputs[0].top1_agreement is None


def test_structured_pruning_removes_channels(mobilenet: Graph) -> None:
    space, fraction = SPACES["structured"]
    plan = planned(mobilenet, space, fraction)
    built = compress(mobilenet, plan)
    pruned = [e for e in plan.layers if e.op == "conv2d" and e.keep_out < 1]
    assert pruned
    for entry in pruned:
        full = mobilenet[entry.name].attrs["out_channels"]
        weight = built.graph[entry.name].weights["weight"]
        assert weight.shape[0] < full  # a smaller tensor, not zeros


@pytest.mark.parametrize("kernel", [1, 3])
def test_full_rank_factorisation_reproduces_the_layer(kernel: int) -> None:
    b = GraphBuilder("one")
    x = b.input((2, 6, 9, 9))
    graph = b.build([b.conv(x, 10, kernel, padding=kernel // 2, stride=2, name="conv")])
    conv = seeded_weights(graph)["conv"]
    factors = factorize(conv, conv.weights, 1.0, require_savings=False)
    assert len(factors) == (2 if kernel == 1 else 3)
    np.testing.assert_allclose(reconstruct(factors).reshape(conv.weights["weight"].shape),
                               conv.weights["weight"], atol=1e-5)
    # executing the factors gives the layer's output
    b2 = GraphBuilder("factored")
    y = b2.input((2, 6, 9, 9))
    for i, f in enumerate(factors):
        y = b2.add(f.op, [y], f"f{i}", weights=f.weights, **f.attrs)
    x_in = np.random.default_rng(1).standard_normal((2, 6, 9, 9)).astype(np.float32)
    expected = execute(seeded_weights(graph), x_in).outputs["conv"]
    got = execute(b2.build([y]), x_in).outputs[y]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_full_rank_svd_of_a_linear_layer() -> None:
    w = np.random.default_rng(2).standard_normal((12, 20)).astype(np.float32)
    b = GraphBuilder("fc")
    x = b.input((1, 20))
    layer = b.build([b.linear(x, 12, bias=False, name="fc")])["fc"]
    factors = factorize(layer, {"weight": w}, 1.0, require_savings=False)
    np.testing.assert_allclose(reconstruct(factors), w, atol=1e-5)


def test_int8_error_is_within_half_a_step_per_channel() -> None:
    rng = np.random.default_rng(3)
    w = (rng.standard_normal((16, 8, 3, 3)) * rng.uniform(0.01, 2, (16, 1, 1, 1))
         ).astype(np.float32)
    encoded = encode(w, "int8")
    _, scale = quantize_int(w, 8)
    step = scale[:, None, None, None].astype(np.float64)
    assert np.all(np.abs(encoded.decoded - w) <= step / 2 * (1 + 1e-6))
    # the per-channel max is exact, and the relative energy error stays below the
    # uniform-rounding bound Σ n·(s/2)² / ‖w‖²
    assert np.allclose(np.abs(encoded.decoded).reshape(16, -1).max(1),
                       np.abs(w).reshape(16, -1).max(1), rtol=1e-6)
    bound = float(np.sum(72 * (scale.astype(np.float64) / 2) ** 2) / np.sum(np.square(w)))
    error = float(np.sum((encoded.decoded - w) ** 2) / np.sum(np.square(w)))
    assert error <= bound
    assert encoded.bits == w.size * 8 + 16 * 32


def test_digits_accuracy_of_a_compressed_network() -> None:
    pytest.importorskip("sklearn")
    from graphs.zoo.digits import digits_split

    graph = build_zoo_model("digits_cnn", weights=True)
    _, _, images, labels = digits_split()
    plan = Planner(graph, PROFILE, proxy="measured", inputs=images[:64],
                   dims=("size", "error")).solve(
        Budgets(size_bytes=graph.total_work().weight_bytes / 10))
    result = simulate(graph, plan, images, labels=labels)
    out = result.outputs[0]
    assert out.baseline_accuracy is not None and out.accuracy is not None
    assert out.baseline_accuracy > 0.97  # the committed weights are trained
    assert result.stored_bytes <= graph.total_work().weight_bytes / 8
    assert out.accuracy > 0.9  # 10x smaller, and still a digit classifier


def test_a_plan_for_another_model_is_refused(mobilenet: Graph) -> None:
    plan = planned(mobilenet, OptionSpace(formats=("fp32",)), None)
    with pytest.raises(SimulationError, match="the plan is for"):
        simulate(build_zoo_model("lenet5", weights=True), plan)
    with pytest.raises(SimulationError, match="no weights"):
        simulate(build_zoo_model("mobilenet_v2", input_shape=(1, 3, 32, 32),
                                 width_multiplier=0.25, num_classes=10), plan)


@pytest.mark.parametrize("fraction", [0.03, 0.05, 0.08])
def test_extrapolated_sizes_are_measured_before_a_plan_is_returned(mobilenet: Graph,
                                                                   fraction: float) -> None:
    # k-means and sparse-index rates of pruned weights are extrapolated from the unpruned
    # ones; the planner compresses the chosen ones, and re-solves while the measured plan
    # breaks the budget
    space = OptionSpace(keep_ratios=(1.0, 0.75, 0.5), sparsities=(0.0, 0.5, 0.75),
                        formats=("int8", "kmeans4", "kmeans2"), ranks=(1.0,))
    planner = Planner(mobilenet, PROFILE, space=space, proxy="weights",
                      dims=("size", "error"))
    extrapolated = sum(not o.exact_size for d in planner.problem.decisions for o in d.options)
    assert extrapolated > 0
    budget = mobilenet.total_work().weight_bytes * fraction
    plan = planner.solve(Budgets(size_bytes=budget))
    assert all(e.size_exact for e in plan.layers)
    stored = compress(mobilenet, plan)
    stored_bytes = (sum(u.stored_bits for u in stored.units.values()) + stored.fixed_bits) / 8
    assert stored_bytes == plan.totals.size_bytes <= budget


@pytest.mark.parametrize("fraction", [0.03, 0.05])
def test_the_safe_round_meets_the_budget_on_measured_sizes(
        mobilenet: Graph, fraction: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a single measuring round, a plan whose measured size breaks the budget is
    solved again with every extrapolated size at its upper bound: what it stores (and the
    latency it predicts from those bytes) still meets every budget."""
    import planner.planning.plan as planning

    monkeypatch.setattr(planning, "REMEASURE_ROUNDS", 1)
    space = OptionSpace(keep_ratios=(1.0, 0.75, 0.5), sparsities=(0.0, 0.5, 0.75),
                        formats=("int8", "kmeans4", "kmeans2"), ranks=(1.0,))
    planner = Planner(mobilenet, PROFILE, space=space, proxy="weights",
                      dims=("size", "latency", "error"))
    budget = mobilenet.total_work().weight_bytes * fraction
    free = planner.solve(Budgets(size_bytes=budget))
    latency = free.totals.latency_s * 0.98
    plan = planner.solve(Budgets(size_bytes=budget, latency_s=latency))
    assert all(e.size_exact for e in plan.layers)
    stored = compress(mobilenet, plan)
    stored_bytes = (sum(u.stored_bits for u in stored.units.values()) + stored.fixed_bits) / 8
    assert stored_bytes == plan.totals.size_bytes <= budget
    assert plan.totals.latency_s <= latency * (1 + 1e-9)


def test_a_resized_option_is_priced_by_the_roofline(mobilenet: Graph) -> None:
    """Re-pricing an option at its own size reproduces its latency and energy, and more
    stored bytes never make it faster."""
    planner = Planner(mobilenet, PROFILE, proxy="weights", dims=("size", "latency", "error"))
    inexact = [o for d in planner.problem.decisions for o in d.options if not o.exact_size]
    assert inexact
    for option in inexact[::97]:
        same = option.resized(option.size_bits, False)
        assert same.latency_s == pytest.approx(option.latency_s, rel=1e-12)
        assert same.energy_j == pytest.approx(option.energy_j, rel=1e-12)
        bigger = option.resized(option.size_bits + 8 * 4096, False)
        assert bigger.latency_s >= option.latency_s and bigger.energy_j > option.energy_j


def test_a_problem_at_bounds_prices_every_extrapolated_option_as_resized(
        mobilenet: Graph) -> None:
    """The vectorised pricing of a problem at its bounds equals re-pricing each option."""
    planner = Planner(mobilenet, PROFILE, proxy="weights", dims=("size", "latency", "error"))
    bounded = planner.problem.bounded()
    arrays = OptionArrays.of(bounded)
    options = [o for d in bounded.decisions for o in d.options]
    loose = [k for k, o in enumerate(options) if not o.exact_size]
    assert loose
    for k in loose[::53]:
        resized = options[k].resized(options[k].bound_bits, False)
        assert bounded.priced(options[k]) == resized
        assert arrays.values["size"][k] == resized.size_bits / 8
        assert arrays.values["latency"][k] == pytest.approx(resized.latency_s, rel=1e-12)
        assert arrays.values["energy"][k] == pytest.approx(resized.energy_j, rel=1e-12)


def test_the_time_limit_is_shared_by_every_solve_of_a_plan(
        mobilenet: Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each solve gets what the earlier ones left of ``time_limit_s``; when nothing is
    left before a plan meets its budgets on measured sizes, the planner says so."""
    import itertools
    import time

    import planner.planning.plan as planning
    from planner.contracts.plan_file import PlanError

    space = OptionSpace(keep_ratios=(1.0, 0.75, 0.5), sparsities=(0.0, 0.5, 0.75),
                        formats=("int8", "kmeans4", "kmeans2"), ranks=(1.0,))
    planner = Planner(mobilenet, PROFILE, space=space, proxy="weights",
                      dims=("size", "error"))
    budget = Budgets(size_bytes=mobilenet.total_work().weight_bytes * 0.03)
    limits: list[float | None] = []
    real = planning.solve

    def slow(*args: object, **kwargs: object) -> object:
        limits.append(kwargs["time_limit_s"])  # type: ignore[arg-type]
        time.sleep(0.3)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(planning, "solve", slow)
    plan = planner.solve(budget, time_limit_s=60)
    assert plan.totals.size_bytes <= budget.size_bytes  # type: ignore[operator]
    assert limits[0] == pytest.approx(60, abs=0.5)
    assert all(b is not None and a is not None and b <= a - 0.3
               for a, b in itertools.pairwise(limits))
    assert len(limits) == 2  # the first plan broke the budget once measured: a safe round
    limits.clear()
    try:  # the first solve outlasts the limit: no other solve starts after it
        quick = planner.solve(budget, time_limit_s=0.2)
    except PlanError as exc:  # no plan in time at all, or none that meets every budget
        assert "within the time limit of 0.2 s" in str(exc) or "found no plan within" in str(
            exc)
    else:
        assert quick.totals.size_bytes <= budget.size_bytes  # type: ignore[operator]
    assert len(limits) == 1


@cache
def _budget_planner(model: str, profile: str) -> tuple[Graph, Planner]:
    graph = build_zoo_model(model, weights=True)
    return graph, Planner(graph, load(profile), proxy="weights", cache=False)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(setup=st.sampled_from([("lenet5", "raspberry_pi_5"), ("lenet5", "snapdragon_855"),
                              ("digits_cnn", "snapdragon_855")]),
       size=st.floats(0.02, 1.2), latency=st.one_of(st.none(), st.floats(0.2, 1.5)),
       memory=st.one_of(st.none(), st.floats(0.3, 1.5)))
def test_every_returned_plan_meets_every_budget_on_measured_sizes(
        setup: tuple[str, str], size: float, latency: float | None,
        memory: float | None) -> None:
    """Random budgets (fractions of the fp32 baseline) on several models and devices: a
    plan comes back only when its predicted totals and the bytes it really stores meet
    every budget; otherwise the planner says it cannot."""
    from planner.planning.plan import BudgetBrokenError, InfeasibleBudgetError

    graph, planner = _budget_planner(*setup)
    base = planner.baseline()
    budgets = Budgets(size_bytes=base.size_bytes * size,
                      latency_s=None if latency is None else base.latency_s * latency,
                      memory_bytes=None if memory is None else base.memory_bytes * memory)
    try:
        plan = planner.solve(budgets)
    except (InfeasibleBudgetError, BudgetBrokenError):
        return
    assert plan.totals.violations(budgets) == []
    stored = compress(graph, plan)
    stored_bytes = (sum(u.stored_bits for u in stored.units.values()) + stored.fixed_bits) / 8
    assert stored_bytes <= budgets.size_bytes


def test_every_plan_of_a_sweep_meets_its_budgets() -> None:
    """A Pareto sweep under a latency budget: every point's plan meets the budgets it was
    solved for, the swept one included."""
    from planner.planning.plan import pareto

    graph, planner = _budget_planner("lenet5", "snapdragon_855")
    latency = planner.baseline().latency_s * 0.8
    plans = pareto(graph, load("snapdragon_855"), "size", 4, proxy="weights",
                   max_latency_s=latency, cache=False)
    assert len(plans) >= 2
    for plan in plans:
        assert plan.totals.violations(Budgets.of(**plan.budgets)) == []
        assert plan.budgets["latency"] == pytest.approx(latency)
