"""Stacked perturbation runs: the sensitivities they measure equal one run per unit."""

from __future__ import annotations

import pytest

import planner.search.sensitivity as sensitivity
from graphs import Graph, GraphBuilder, seeded_weights
from planner.compression import build_units
from planner.compression.coupling import couple
from planner.search.options import OptionSpace
from planner.search.proxies import measure_facts
from planner.search.sensitivity import perturbation_groups

SPACE = OptionSpace(keep_ratios=(1.0,), sparsities=(0.0,), formats=("int8",), ranks=(1.0,))


def _chain(depth: int) -> Graph:
    b = GraphBuilder("chain")
    x = b.input((1, 8, 6, 6))
    for k in range(depth):
        x = b.relu(b.conv(x, 8, 3, padding=1, name=f"conv{k}"))
    return seeded_weights(b.build([x]), 0)


def _branches() -> Graph:
    """Residual blocks, a concat of two branches, a pool and a classifier with two
    outputs: layers whose downstream sets are not nested."""
    b = GraphBuilder("branches")
    x = b.relu(b.conv(b.input((1, 4, 8, 8)), 8, 3, padding=1, name="stem"))
    for k in range(3):
        y = b.relu(b.conv(x, 8, 3, padding=1, name=f"body{k}a"))
        x = b.relu(b.add_(x, b.conv(y, 8, 3, padding=1, name=f"body{k}b")))
    left = b.conv(x, 4, 1, name="left")
    right = b.conv(b.max_pool(x, 3, 1, padding=1), 4, 1, name="right")
    x = b.flatten(b.adaptive_avg_pool(b.concat([left, right])))
    return seeded_weights(b.build([b.linear(x, 5, name="head"), left]), 1)


def _sensitivities(graph: Graph) -> dict[str, float]:
    units, _ = build_units(graph, couple(graph))
    facts = measure_facts(graph, couple(graph), units, SPACE)
    return {name: f.sensitivity for name, f in facts.items()}


@pytest.mark.parametrize("graph", [_chain(6), _branches()], ids=["chain", "branches"])
def test_stacked_runs_measure_what_one_run_per_unit_measures(
        graph: Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    units, _ = build_units(graph, couple(graph))
    names = [u.name for u in units if u.kind != "input"]
    assert max(len(g) for g in perturbation_groups(graph, names, 2)) > 1  # it stacks
    stacked = _sensitivities(graph)
    monkeypatch.setattr(sensitivity, "MAX_STACKED", 1)
    single = _sensitivities(graph)
    assert stacked.keys() == single.keys()
    for name, value in single.items():
        assert stacked[name] == pytest.approx(value, rel=1e-5, abs=1e-12), name
    assert sum(v > 0 for v in single.values()) >= 5  # the runs measured something


def test_a_stacked_run_that_disagrees_with_a_single_one_is_not_trusted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    graph = _chain(5)

    def wrong(self: object, names: list[str], *_: object) -> list[float]:
        return [123.0 for _ in names]

    monkeypatch.setattr(sensitivity.Perturbations, "_stacked", wrong)
    measured = _sensitivities(graph)
    monkeypatch.setattr(sensitivity, "MAX_STACKED", 1)
    assert measured == _sensitivities(graph)
    assert 123.0 not in measured.values()


def test_large_layers_and_fixed_batches_run_one_unit_at_a_time() -> None:
    b = GraphBuilder("wide")
    x = b.input((1, 64, 56, 56))
    for k in range(3):
        x = b.relu(b.conv(x, 64, 3, padding=1, name=f"conv{k}"))
    wide = b.build([x])
    assert perturbation_groups(wide, ["conv0", "conv1", "conv2"], 2) == [
        ["conv0"], ["conv1"], ["conv2"]]
    b = GraphBuilder("fixed")
    x = b.input((2, 8, 4, 4))
    for k in range(3):
        x = b.relu(b.conv(x, 8, 3, padding=1, name=f"conv{k}"))
    fixed = b.build([b.reshape(x, (1, 256))])  # the two samples become one row
    assert perturbation_groups(fixed, ["conv0", "conv1", "conv2"], 2) == [
        ["conv0"], ["conv1"], ["conv2"]]
