"""The graph IR: construction, order, validation errors, annotation, weights."""

from __future__ import annotations

import numpy as np
import pytest

from graphs import (
    CycleError,
    Graph,
    GraphBuilder,
    Layer,
    ShapeError,
    Work,
    build_zoo_model,
    fold_batchnorm,
    seeded_weights,
)


def small_residual() -> Graph:
    b = GraphBuilder("residual")
    x = b.input((1, 8, 16, 16))
    y = b.relu(b.batch_norm(b.conv(x, 8, 3, padding=1, bias=False, name="conv"), name="bn"))
    return b.build([b.add_(x, y, name="add")])


def test_nodes_are_annotated_with_work() -> None:
    g = small_residual()
    assert g.dag.nodes["conv"]["macs"] == 8 * 16 * 16 * 8 * 9  # Cout·H·W · Cin·3·3
    assert g.dag.edges["input", "conv"]["bytes"] == 4 * 8 * 16 * 16
    assert g.dag.edges["input", "add"]["slots"] == [0]
    assert g.total_work() == sum((g.work(n) for n in g.order), Work())
    assert g.consumers("input") == ["conv", "add"]
    assert g.inputs == ("input",)


def test_order_is_the_given_topological_order() -> None:
    g = build_zoo_model("resnet18")
    assert g.order[0] == "input"
    assert g.order[-1] == "fc"
    position = {n: i for i, n in enumerate(g.order)}
    assert all(position[u] < position[v] for u, v in g.dag.edges)


def test_same_tensor_twice_is_one_edge_with_two_slots() -> None:
    b = GraphBuilder("square")
    x = b.input((2, 3))
    g = b.build([b.mul(x, x, name="square")])
    assert g.dag.edges["input", "square"]["slots"] == [0, 1]


def test_cycle_is_named() -> None:
    a = Layer.create("a", "relu", ["b"], [(1, 4)])
    b = Layer.create("b", "relu", ["a"], [(1, 4)])
    with pytest.raises(CycleError, match=r"a -> b -> a|b -> a -> b"):
        Graph([a, b], ["b"])


def test_wrong_input_shape_names_layer_and_producer() -> None:
    x = Layer.create("x", "input", [], [], {"shape": (1, 4)})
    bad = Layer.create("fc", "linear", ["x"], [(1, 5)], {"out_features": 2})
    with pytest.raises(ShapeError, match=r"layer 'fc': input 0 from 'x' has shape \(1, 4\)"):
        Graph([x, bad], ["fc"])


def test_missing_producer_duplicate_name_and_missing_output() -> None:
    x = Layer.create("x", "input", [], [], {"shape": (1, 4)})
    orphan = Layer.create("r", "relu", ["nowhere"], [(1, 4)])
    with pytest.raises(ShapeError, match="'nowhere', which is not a layer"):
        Graph([x, orphan], ["r"])
    with pytest.raises(ShapeError, match="names must be unique"):
        Graph([x, x], ["x"])
    with pytest.raises(ShapeError, match="graph output"):
        Graph([x], ["y"])


def test_weights_are_checked_and_read_only() -> None:
    fc = Layer.create("fc", "linear", ["x"], [(1, 4)], {"out_features": 2})
    with pytest.raises(ShapeError, match=r"weight 'weight' has shape \(4, 2\), expected \(2, 4\)"):
        fc.with_weights({"weight": np.zeros((4, 2)), "bias": np.zeros(2)})
    with pytest.raises(ShapeError, match="missing \\['bias'\\]"):
        fc.with_weights({"weight": np.zeros((2, 4))})
    source = np.ones((2, 4))
    held = fc.with_weights({"weight": source, "bias": np.zeros(2)})
    assert held.weights is not None
    assert held.weights["weight"].dtype == np.float32
    assert not held.weights["weight"].flags.writeable
    source[0, 0] = 5.0  # the caller's array is not shared
    assert held.weights["weight"][0, 0] == 1.0


def test_seeded_weights_are_deterministic_per_layer() -> None:
    g1 = seeded_weights(build_zoo_model("lenet5"), seed=3)
    g2 = seeded_weights(build_zoo_model("lenet5"), seed=3)
    g3 = seeded_weights(build_zoo_model("lenet5"), seed=4)
    assert g1.has_weights
    w1, w2, w3 = (g["conv1"].weights["weight"] for g in (g1, g2, g3))  # type: ignore[index]
    np.testing.assert_array_equal(w1, w2)
    assert not np.array_equal(w1, w3)
    # a layer's weights do not depend on the rest of the graph
    other = seeded_weights(build_zoo_model("lenet5", num_classes=5), seed=3)
    np.testing.assert_array_equal(other["conv1"].weights["weight"], w1)  # type: ignore[index]


def test_fold_batchnorm_keeps_the_function() -> None:
    g = seeded_weights(small_residual(), seed=0)
    folded = fold_batchnorm(g)
    assert "bn" not in folded
    assert folded["conv"].attrs["bias"] is True
    assert folded.consumers("conv") == ["relu"]
    # params: conv 8·8·9 + bias 8 instead of conv + BN's γ, β (16)
    assert folded.total_work().params == g.total_work().params - 8
    x = np.random.default_rng(0).normal(size=(8, 18, 18)).astype(np.float32)
    conv, bn = g["conv"].weights, g["bn"].weights
    assert conv is not None and bn is not None
    ref = np.einsum("oikl,iyxkl->oyx", conv["weight"],
                    np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2)))
    ref = (ref - bn["running_mean"][:, None, None]) / np.sqrt(
        bn["running_var"][:, None, None] + 1e-5) * bn["weight"][:, None, None] + bn["bias"][
        :, None, None]
    fw = folded["conv"].weights
    assert fw is not None
    out = np.einsum("oikl,iyxkl->oyx", fw["weight"],
                    np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2)))
    np.testing.assert_allclose(out + fw["bias"][:, None, None], ref, rtol=1e-4, atol=1e-4)
