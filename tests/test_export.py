"""Export: every option kind becomes an ONNX model that onnxruntime runs, whose outputs are
the simulation's, whose MACs (counted from the ONNX graph) are the plan's, and whose file
holds the plan's bytes in the forms ONNX carries.

Tolerances: where the simulation computes in the same arithmetic (every weight format
with fp32 or fp16 activations), onnxruntime's outputs match it within 1e-4 relative L2.
With integer activations both round every activation to its int8 grid; a value within a
few ulps of a rounding boundary can round the other way (the two runtimes sum in a
different order), and a deep network amplifies such flips. There the exported model's
error against the uncompressed model must equal the simulated error within 25%.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from graphs import Graph, build_zoo_model, digits_split
from hardware_profiles import load
from planner.compression import compress
from planner.contracts.plan_file import Plan
from planner.execution import KERNELS, calibration_inputs, execute
from planner.export import ExportError, export, measure, run_onnx
from planner.export.onnx_ops import WRITERS
from planner.planning.whatif import Override, fixed_plan
from planner.validate import run_compressed, simulate

BOARD = load("raspberry_pi_5")
SHAPE = (1, 3, 64, 64)

# zoo model: (input shape, a glob of prunable layers, a glob of layers that factorise)
MODELS: dict[str, tuple[tuple[int, ...] | None, str, str]] = {
    "digits_cnn": (None, "conv[12]", "conv3"),  # its trained weights, at its own shape
    "resnet18": (SHAPE, "layer*.conv1", "layer*.conv2"),
    "mobilenet_v2": (SHAPE, "features.*.conv.0.0", "features.*.conv.2"),
    "shufflenet_v2_x0_5": (SHAPE, "stage*.branch2.0", "stage*.branch2.5"),
}

KINDS: dict[str, list[Override]] = {
    "structured": [Override("{prune}", keep=0.5)],
    "sparse": [Override("*", sparsity=0.6)],
    "low rank": [Override("{rank}", rank=0.4)],
    "fp16": [Override("*", bits=16)],
    "int8": [Override("*", bits=8, dtype="fp32")],
    "int4": [Override("*", bits=4, dtype="fp32")],
    "binary": [Override("*", bits=1, dtype="fp32")],
    "kmeans": [Override("*", weight_format="kmeans5")],
    "int8 activations": [Override("*", bits=8)],
    "all together": [Override("*", weight_format="kmeans3", sparsity=0.5),
                     Override("{prune}", keep=0.5, weight_format="int4", dtype="int8"),
                     Override("{rank}", rank=0.25, weight_format="fp16", sparsity=0.0)],
}


def _plan(graph: Graph, kind: str, prune: str = "", rank: str = "") -> Plan:
    overrides = [Override(o.layer.format(prune=prune, rank=rank), o.bits, o.weight_format,
                          o.keep, o.sparsity, o.rank, o.processor, o.dtype)
                 for o in KINDS[kind]]
    return fixed_plan(graph, BOARD, overrides)


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a.astype(np.float64) - b) / np.linalg.norm(b))


def _check(graph: Graph, plan: Plan, path: Path) -> None:
    feeds = calibration_inputs(graph, batch=3, seed=1)
    result = export(graph, plan, path, feeds)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert result.macs == plan.totals.macs  # counted from the ONNX graph
    assert result.file_bytes == path.stat().st_size >= result.initializer_bytes
    built = compress(graph, plan)
    simulated = simulate(graph, plan, feeds)
    exported = run_onnx(path, feeds)
    clean = execute(built.reference, feeds).outputs
    integer = any(d in ("int8", "int4") for d in built.dtypes.values())
    for out in simulated.outputs:
        name = out.name
        if integer:
            error = _relative(exported[name], clean[name]) ** 2
            assert error == pytest.approx(out.error, rel=0.25), name
        else:
            ran = run_compressed(built, feeds).outputs[name]
            assert _relative(exported[name], ran) < 1e-4, name


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("model", list(MODELS))
def test_every_option_kind_exports_and_runs_as_simulated(model: str, kind: str,
                                                         tmp_path: Path) -> None:
    shape, prune, rank = MODELS[model]
    graph = build_zoo_model(model, shape, weights=True)
    _check(graph, _plan(graph, kind, prune, rank), tmp_path / "m.onnx")


@pytest.mark.parametrize("kind", ["fp16", "int8", "all together"])
def test_the_bert_encoder_exports(kind: str, tmp_path: Path) -> None:
    graph = build_zoo_model("bert_encoder", weights=True, seq_len=16, layers=1)
    _check(graph, _plan(graph, kind, prune="*intermediate*", rank="*output.dense"),
           tmp_path / "bert.onnx")


def test_the_digits_cnn_int8_plan_keeps_its_accuracy(tmp_path: Path) -> None:
    graph = build_zoo_model("digits_cnn", weights=True)
    plan = fixed_plan(graph, BOARD, [Override("*", bits=8)])  # int8 weights and activations
    _, _, images, labels = digits_split()
    export(graph, plan, tmp_path / "digits.onnx", images[:200])  # calibration
    logits = run_onnx(tmp_path / "digits.onnx", images)
    accuracy = float(np.mean(next(iter(logits.values())).argmax(1) == labels))
    simulated = simulate(graph, plan, images, labels=labels).outputs[0].accuracy
    assert simulated is not None and simulated > 0.9
    assert abs(accuracy - simulated) <= 0.005


def test_the_file_holds_what_the_format_can_carry(tmp_path: Path) -> None:
    graph = build_zoo_model("resnet18", SHAPE, weights=True)
    sizes = {}
    for kind in ("int8", "int4", "kmeans", "sparse", "binary"):
        plan = _plan(graph, kind)
        result = export(graph, plan, tmp_path / f"{kind}.onnx")
        sizes[kind] = result.file_bytes / plan.totals.size_bytes
        if kind in ("kmeans", "sparse", "binary"):
            assert result.notes, kind  # the container's difference is said
    # int8 and int4 codes are stored at their width: the file is the plan plus the graph
    assert 1 <= sizes["int8"] < 1.02 and 1 <= sizes["int4"] < 1.03
    # sparse weights are stored dense, binary ones as int4: larger than planned, and said
    assert sizes["sparse"] > 1.5 and sizes["binary"] > 3


def test_every_op_the_simulator_runs_has_an_onnx_writer_or_is_named() -> None:
    assert set(KERNELS) - set(WRITERS) == {
        "multihead_attention", "gather", "group_norm", "l2_norm", "cast", "where", "equal",
        "greater", "greater_equal", "less", "less_equal", "logical_and", "logical_or",
        "logical_not", "isnan"}


def test_a_plan_for_another_model_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    lenet = build_zoo_model("lenet5", weights=True)
    digits = build_zoo_model("digits_cnn", weights=True)
    plan = fixed_plan(lenet, BOARD, [Override("*", bits=8)])
    target = tmp_path / "m.onnx"
    with pytest.raises(ExportError, match="the plan is for 'lenet5', the graph is 'digits_cnn'"):
        export(digits, plan, target)
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"kept")
    with pytest.raises(ExportError):
        export(digits, plan, target)
    assert target.read_bytes() == b"kept"


def test_measure_times_the_model_and_its_layers(tmp_path: Path) -> None:
    graph = build_zoo_model("lenet5", weights=True)
    plan = fixed_plan(graph, BOARD, [Override("*", bits=8)])
    export(graph, plan, tmp_path / "m.onnx")
    timing = measure(tmp_path / "m.onnx", threads=1, repeat=5, warmup=1)
    assert timing.threads == 1 and timing.repeat == 5
    assert 0 < timing.p10_s <= timing.median_s <= timing.p90_s
    layers = {t.layer for t in timing.layers}
    assert {"conv1", "fc1"} <= layers, layers


def test_the_report_holds_the_exported_model_against_its_plan(tmp_path: Path) -> None:
    import json

    import jsonschema

    from planner.export import check_export
    from planner.report.document import SCHEMA, build_report, report_json
    from planner.report.output import render_report

    graph = build_zoo_model("digits_cnn", weights=True)
    plan = fixed_plan(graph, BOARD, [Override("conv*", keep=0.5, bits=8)])
    export(graph, plan, tmp_path / "d.onnx")
    check = check_export(graph, plan, tmp_path / "d.onnx", repeat=5)
    assert check.file_bytes == (tmp_path / "d.onnx").stat().st_size
    assert all(o.relative_l2 < 0.2 for o in check.outputs)
    assert {layer.name for layer in check.layers if layer.measured_s > 0} >= {"conv2", "fc1"}
    report = build_report(graph, BOARD, plan, exported=check)
    doc = report_json(report)
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    assert doc["tables"]["exported"]["totals"]["measured_s"] == check.measurement.median_s
    assert "exported: digits_cnn as ONNX" in render_report(report, "html")


@pytest.mark.parametrize("kind", ["int4", "kmeans", "all together"])
def test_an_exported_model_imports_back_with_the_plans_macs(kind: str, tmp_path: Path) -> None:
    """The ONNX importer reads QDQ weights, fp16 casts and codebook lookups as the weights
    they decode to: the exported file plans again, at the plan's MACs and the compressed
    graph's parameters, and the numpy executor runs it as onnxruntime does."""
    from graphs import from_onnx

    graph = build_zoo_model("resnet18", SHAPE, weights=True)
    plan = _plan(graph, kind, *MODELS["resnet18"][1:])
    export(graph, plan, tmp_path / "m.onnx")
    back = from_onnx(tmp_path / "m.onnx")
    assert back.total_work().macs == plan.totals.macs
    assert back.total_work().params == compress(graph, plan).graph.total_work().params
    if kind == "all together":
        return  # its int8 activations are read back as fp32: onnxruntime rounds, numpy not
    feeds = calibration_inputs(back, batch=2)
    (numpy_out,) = execute(back, feeds).outputs.values()
    (onnx_out,) = run_onnx(tmp_path / "m.onnx", next(iter(feeds.values()))).values()
    assert _relative(numpy_out, onnx_out) < 1e-4


def _recurrent_model(cell: str, batch_first: bool) -> Graph:
    torch = pytest.importorskip("torch")
    from graphs import from_torch

    class Tagger(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            kind = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
            self.rnn = kind(6, 8, num_layers=2, bidirectional=True, batch_first=batch_first)
            self.head = torch.nn.Linear(16, 3)

        def forward(self, x: object) -> object:
            y, _ = self.rnn(x)
            return self.head(y)

    torch.manual_seed(0)
    shape = (2, 5, 6) if batch_first else (5, 2, 6)
    return from_torch(Tagger(), input_shape=shape, cross_check=False)


@pytest.mark.parametrize("kind", ["fp16", "int8", "kmeans"])
@pytest.mark.parametrize(("cell", "batch_first"), [("lstm", True), ("gru", False)])
def test_recurrent_layers_export_and_run_as_simulated(cell: str, batch_first: bool, kind: str,
                                                      tmp_path: Path) -> None:
    """LSTM/GRU weights compressed in every format export as ONNX LSTM/GRU nodes (gate rows
    reordered in the graph) that onnxruntime runs as the simulation does."""
    graph = _recurrent_model(cell, batch_first)
    override = Override("rnn", weight_format="kmeans4") if kind == "kmeans" else Override(
        "*", bits=16 if kind == "fp16" else 8)
    _check(graph, fixed_plan(graph, BOARD, [override]), tmp_path / f"{cell}.onnx")


def _optimized(path: Path, folder: Path) -> onnx.ModelProto:
    """The graph onnxruntime runs for the model at ``path`` (its optimisations applied)."""
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(folder / "optimized.onnx")
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return onnx.load(str(folder / "optimized.onnx"))


@pytest.mark.parametrize(("model", "first"), [("resnet18", "conv1"),
                                              ("mobilenet_v2", "features.0.0")])
def test_onnxruntime_runs_int8_layers_on_integer_kernels_and_folds_float_ones(
        model: str, first: str, tmp_path: Path) -> None:
    """Every conv of an all-int8 plan (ReLU and ReLU6 after most) runs as a QLinearConv;
    with int8 weights computing in fp32 beside one int8 layer, every conv's weights are
    constants after loading (decoded once, not on every run)."""
    graph = build_zoo_model(model, SHAPE, weights=True)
    convs = sum(layer.op == "conv2d" for layer in graph)
    export(graph, fixed_plan(graph, BOARD, [Override("*", bits=8)]), tmp_path / "int8.onnx")
    ops = [n.op_type for n in _optimized(tmp_path / "int8.onnx", tmp_path).graph.node]
    assert ops.count("QLinearConv") == convs
    mixed = fixed_plan(graph, BOARD, [Override("*", bits=8, dtype="fp32"),
                                      Override(first, bits=8)])
    export(graph, mixed, tmp_path / "mixed.onnx")
    optimized = _optimized(tmp_path / "mixed.onnx", tmp_path)
    constants = {t.name for t in optimized.graph.initializer}
    weights = [n.input[1] for n in optimized.graph.node if n.op_type in ("Conv", "FusedConv")]
    assert len(weights) == convs and all(w in constants for w in weights)
