"""ONNX import of models exported here from torch, agreeing with the torch import."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
onnx = pytest.importorskip("onnx")

from graphs import (  # noqa: E402
    Graph,
    GraphFileError,
    UnsupportedOpsError,
    fold_batchnorm,
    from_onnx,
    from_torch,
)

warnings.filterwarnings("ignore")


def model_with_trained_looking_bn(name: str) -> Any:
    """Fresh BatchNorm statistics fold into all-zero biases, which exporters may drop;
    seeded random statistics keep every parameter in the exported file."""
    torch.manual_seed(0)
    model = torchvision.models.get_model(name).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    return model


def export(model: Any, x: Any, path: Path, dynamo: bool = False) -> Path:
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(sink), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(model, (x,), dynamo=True).save(str(path))
        else:
            torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17)
    return path


def dense_macs(graph: Graph) -> Counter[int]:
    return Counter(graph.work(layer.name).macs for layer in graph
                   if layer.op in ("conv2d", "linear", "matmul"))


MODELS = ["resnet18", "mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1",
          "shufflenet_v2_x0_5", "densenet121", "efficientnet_b0", "googlenet",
          "regnet_y_400mf", "convnext_tiny", "inception_v3"]


@pytest.mark.parametrize("name", MODELS)
def test_onnx_import_agrees_with_torch_import(name: str, tmp_path: Path) -> None:
    model = model_with_trained_looking_bn(name)
    size = 299 if name == "inception_v3" else 224
    x = torch.randn(1, 3, size, size)
    from_file = from_onnx(export(model, x, tmp_path / f"{name}.onnx"))
    # ONNX exporters fold each conv's batch norm into it, so compare with the folded import
    from_module = fold_batchnorm(from_torch(model, x, cross_check=False))
    assert from_file.unmapped_ops() == Counter()
    assert from_file.total_work().macs == from_module.total_work().macs
    assert from_file.total_work().params == from_module.total_work().params
    assert dense_macs(from_file) == dense_macs(from_module)  # layer by layer, as multisets


def test_dynamo_export_with_split_and_reduce_mean(tmp_path: Path) -> None:
    model = model_with_trained_looking_bn("shufflenet_v2_x0_5")
    x = torch.randn(1, 3, 224, 224)
    graph = from_onnx(export(model, x, tmp_path / "shufflenet.onnx", dynamo=True))
    folded = fold_batchnorm(from_torch(model, x, cross_check=False))
    assert graph.total_work().macs == folded.total_work().macs == 40_476_448
    assert graph.total_work().params == folded.total_work().params
    assert Counter(layer.op for layer in graph)["slice"] == 2 * 13  # 13 Split nodes, 2 halves


def test_onnx_weights_equal_folded_torch_weights(tmp_path: Path) -> None:
    model = model_with_trained_looking_bn("resnet18")
    x = torch.randn(1, 3, 224, 224)
    graph = from_onnx(export(model, x, tmp_path / "r18.onnx"))
    folded = fold_batchnorm(from_torch(model, x, cross_check=False))
    first_conv = next(layer for layer in graph if layer.op == "conv2d")
    fc = next(layer for layer in graph if layer.op == "linear")
    assert first_conv.weights is not None and fc.weights is not None
    np.testing.assert_allclose(first_conv.weights["weight"],
                               folded["conv1"].weights["weight"],  # type: ignore[index]
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(first_conv.weights["bias"],
                               folded["conv1"].weights["bias"],  # type: ignore[index]
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(fc.weights["weight"], model.fc.weight.detach().numpy())


def tiny_model(op_type: str = "Relu", dims: tuple[Any, ...] = (1, 4)) -> Any:
    helper = onnx.helper
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, list(dims))
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, list(dims))
    node = helper.make_node(op_type, ["x"], ["y"], name="the_node")
    return helper.make_model(helper.make_graph([node], "tiny", [x], [y]),
                             opset_imports=[helper.make_opsetid("", 17)])


def test_unsupported_op_is_listed_or_raised(tmp_path: Path) -> None:
    path = tmp_path / "hardmax.onnx"
    onnx.save(tiny_model("Hardmax"), str(path))
    graph = from_onnx(path)
    assert graph.unmapped_ops() == Counter({"onnx::Hardmax": 1})
    assert graph.metadata["import_warnings"] == [
        "the_node: onnx::Hardmax kept opaque (no handler)"]
    with pytest.raises(UnsupportedOpsError, match=r"hardmax.onnx.*onnx::Hardmax ×1"):
        from_onnx(path, strict=True)


def test_symbolic_dimensions_need_an_input_shape(tmp_path: Path) -> None:
    path = tmp_path / "dynamic.onnx"
    onnx.save(tiny_model("Relu", ("N", "features")), str(path))
    with pytest.raises(GraphFileError, match=r"dynamic.onnx: input 'x' has symbolic.*input_shape"):
        from_onnx(path)
    graph = from_onnx(path, input_shape=(2, 16))
    assert graph[graph.outputs[0]].output_shape == (2, 16)


def test_malformed_and_missing_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01 this is not protobuf " * 10)
    with pytest.raises(GraphFileError, match=r"garbage.onnx: not a valid ONNX model"):
        from_onnx(garbage)
    with pytest.raises(GraphFileError, match=r"absent.onnx: no such file"):
        from_onnx(tmp_path / "absent.onnx")
    broken = tiny_model("Conv")  # a Conv without weights fails the checker
    path = tmp_path / "broken.onnx"
    onnx.save(broken, str(path))
    with pytest.raises(GraphFileError, match=r"broken.onnx"):
        from_onnx(path)


def test_an_initializer_whose_data_does_not_fit_its_dims_is_named(tmp_path: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((4, 3), np.float32), "W")
    weight.dims[:] = [3, 3]  # 12 values under dims of 9: the checker lets it through
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], [weight])
    path = tmp_path / "dims.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(GraphFileError, match=r"dims\.onnx: initializer 'W' \(dims \[3, 3\]\)"):
        from_onnx(path)


def test_load_model_dispatches_on_suffix(tmp_path: Path) -> None:
    from planner import load_model

    path = tmp_path / "relu.onnx"
    onnx.save(tiny_model("Relu", (1, 8)), str(path))
    assert load_model(path).total_work().flops == 8  # one relu FLOP per element


def test_elementwise_ops_and_reductions_import_execute_and_export(tmp_path: Path) -> None:
    """Exporters write LayerNorm, GELU and softmax out with Pow, Exp, Log, Neg, Abs and
    ReduceSum/Max/Min: each imports as a layer the numpy executor runs as onnxruntime does,
    and exports again."""
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    from hardware_profiles import load
    from planner.execution import execute
    from planner.export import export
    from planner.planning.whatif import fixed_plan

    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    nodes = [helper.make_node("Pow", ["x", "two"], ["p"], name="square"),
             helper.make_node("Abs", ["x"], ["a"], name="abs"),
             helper.make_node("Log", ["a"], ["l"], name="log"),
             helper.make_node("Neg", ["p"], ["n"], name="neg"),
             helper.make_node("Exp", ["n"], ["e"], name="exp"),
             helper.make_node("Pow", ["e", "l"], ["y"], name="power"),  # tensor ** tensor
             helper.make_node("ReduceMax", ["y", "last"], ["m"], name="amax"),
             helper.make_node("Sub", ["y", "m"], ["d"], name="centred"),
             helper.make_node("ReduceSum", ["d", "first"], ["s"], name="sum"),
             helper.make_node("ReduceMin", ["s", "last"], ["out"], name="amin", keepdims=0)]
    axes = [numpy_helper.from_array(np.array([a], np.int64), n)
            for n, a in (("first", 1), ("last", 2))]
    graph = helper.make_graph(
        nodes, "elementwise", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1])], [two, *axes])
    path = tmp_path / "elementwise.onnx"  # opset 18: reductions take axes as an input
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    imported = from_onnx(path)
    assert not imported.unmapped_ops()
    assert {layer.op for layer in imported} >= {"pow", "abs", "log", "neg", "exp", "amax",
                                                "sum", "amin"}
    x = np.random.default_rng(0).uniform(0.2, 2.0, (1, 4, 8)).astype(np.float32)
    ours = execute(imported, x).outputs["amin"]
    (theirs,) = ort.InferenceSession(str(path)).run(None, {"x": x})
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    back = tmp_path / "back.onnx"
    export(imported, fixed_plan(imported, load("raspberry_pi_5"), []), back, x)
    (again,) = ort.InferenceSession(str(back)).run(None, {"x": x})
    np.testing.assert_allclose(again, theirs, rtol=1e-5)


def test_pad_in_every_mode_imports_executes_and_exports(tmp_path: Path) -> None:
    """TensorFlow and Paddle exporters write explicit Pad nodes (constant, reflect, edge;
    negative pads crop): numpy runs them as onnxruntime does, and they export again."""
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    from hardware_profiles import load
    from planner.execution import execute
    from planner.export import export
    from planner.planning.whatif import fixed_plan

    rng = np.random.default_rng(0)
    init = [numpy_helper.from_array(rng.standard_normal((6, 3, 3, 3)).astype(np.float32), "w"),
            numpy_helper.from_array(np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64), "p1"),
            numpy_helper.from_array(np.array(0.5, np.float32), "half"),
            numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "p2"),
            numpy_helper.from_array(np.array([0, 0, -1, 2, 0, 0, 0, -1], np.int64), "p3")]
    nodes = [helper.make_node("Pad", ["x", "p1", "half"], ["a"], name="pad_constant"),
             helper.make_node("Conv", ["a", "w"], ["c"], name="conv"),
             helper.make_node("Pad", ["c", "p2"], ["r"], name="pad_reflect", mode="reflect"),
             helper.make_node("Pad", ["r", "p3"], ["y"], name="pad_edge", mode="edge")]
    graph = helper.make_graph(
        nodes, "pads", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 10, 12])], init)
    path = tmp_path / "pads.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    imported = from_onnx(path)
    assert [layer.op for layer in imported].count("pad") == 3
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    (ours,) = execute(imported, x).outputs.values()
    (theirs,) = ort.InferenceSession(str(path)).run(None, {"x": x})
    assert ours.shape == theirs.shape == (1, 6, 10, 12)  # conv 9×9, reflect 11×11, crop
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    back = tmp_path / "back.onnx"
    export(imported, fixed_plan(imported, load("raspberry_pi_5"), []), back, x)
    (again,) = ort.InferenceSession(str(back)).run(None, {"x": x})
    np.testing.assert_allclose(again, theirs, rtol=1e-5, atol=1e-5)


def test_constant_subgraphs_of_any_op_fold(tmp_path: Path) -> None:
    """A constant computed by an op the importer has no rule for (here Cos of a Constant
    node) folds through onnx's reference evaluator instead of becoming an opaque layer."""
    from onnx import TensorProto, helper, numpy_helper

    from planner.execution import execute

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    angle = np.array([0.3, 0.7, 1.1, 1.5], np.float32).reshape(4, 1, 1)
    nodes = [helper.make_node("Constant", [], ["angle"], value=numpy_helper.from_array(angle)),
             helper.make_node("Cos", ["angle"], ["c"], name="cos"),
             helper.make_node("Conv", ["x", "w"], ["y0"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Mul", ["y0", "c"], ["y"], name="scale")]
    graph = helper.make_graph(
        nodes, "fold", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [weight])
    path = tmp_path / "fold.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    imported = from_onnx(path)
    assert not imported.unmapped_ops() and not imported.metadata["import_warnings"]
    (folded,) = [layer for layer in imported if layer.op == "constant"]
    assert folded.weights is not None
    np.testing.assert_allclose(folded.weights["value"], np.cos(angle), rtol=1e-6)
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    assert execute(imported, x).outputs["scale"].shape == (1, 4, 8, 8)
