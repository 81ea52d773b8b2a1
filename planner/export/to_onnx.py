"""A plan as an ONNX model that onnxruntime runs: :func:`export`.

The plan is applied by :func:`planner.compression.compress`, exactly as ``simulate``
applies it: batch norms folded, pruned channels physically removed (every tensor and
consumer shrunk, coupled groups consistent), low-rank layers replaced by their factors
(SVD: two Gemm/MatMul or 1×1 convs; Tucker-2: 1×1, k×k, 1×1 convs), every weight in its
format (:mod:`planner.export.onnx_builder`). Activations the plan stores below fp32 are
written as the runtime stores them: fp16 as a ``Cast`` pair, int8 (and int4 compute, whose
activations are int8) as static QDQ, ``QuantizeLinear``/``DequantizeLinear`` with one
per-tensor scale calibrated on the given inputs (the same max-over-127 rule the simulation
applies per batch, so on the calibration inputs the two agree). The symmetric int8 grid is
written as uint8 with zero point 128, the same 255 levels in the form onnxruntime's x86
integer kernels take (u8 activations, s8 weights) and that its QDQ rewrites keep valid.
A conv or linear followed by a ReLU or ReLU6 that the plan stores as int8 is quantized at
the activation's scale before it (:func:`quantized_before_activation`: the same values), so
onnxruntime sees ``DequantizeLinear → Conv → QuantizeLinear`` and runs a ``QLinearConv``;
int8 weights of a layer that computes in floating point are decoded by ops it folds at
load time (:meth:`~planner.export.onnx_builder.OnnxBuilder.encoded`).

Nodes are named after the layers they compute (``layer`` or ``layer/part``) and carry the
layer's name in ``doc_string``, so onnxruntime's profiler maps back to the plan. The batch
axis is symbolic. The file is written to a temporary name and moved into place, so a
failed export never leaves a partial file.

>>> from graphs import build_zoo_model
>>> from hardware_profiles import load
>>> from planner.planning.whatif import fixed_plan
>>> from planner.planning.whatif import Override
>>> import tempfile, pathlib
>>> g = build_zoo_model("lenet5", weights=True)
>>> p = fixed_plan(g, load("raspberry_pi_5"), [Override("*", bits=8)])
>>> out = pathlib.Path(tempfile.mkdtemp()) / "lenet5.onnx"
>>> result = export(g, p, out)
>>> result.macs == p.totals.macs, result.file_bytes < 1.2 * p.totals.size_bytes + 4000
(True, True)
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from graphs import Graph, Layer
from hardware_profiles import DTYPE_BITS
from planner.compression import Compressed, CompressionError, compress
from planner.compression.transforms import plain_bits
from planner.contracts.plan_file import Plan
from planner.execution import KernelError, calibration_inputs, input_arrays
from planner.export.onnx_builder import OPSET, OnnxBuilder, onnx_modules
from planner.export.onnx_macs import onnx_macs
from planner.export.onnx_ops import Site, UnexportableError, write_layer
from planner.validate import run_compressed

ACTIVATION_ZERO = 128
"""The uint8 zero point of quantized activations: symmetric int8 shifted by 128."""

PROTOBUF_LIMIT = 2**31
"""Bytes one serialised ONNX file may hold (protobuf's limit)."""


class ExportError(ValueError):
    """A plan that cannot be exported: it does not fit the model, or an op has no ONNX
    form. Nothing is written."""


class ExportResult(BaseModel):
    """What :func:`export` wrote: the file's size against the plan's stored bytes (the
    container cannot hold Huffman codes or sparse positions, see ``notes``), MACs per
    batch counted from the exported ONNX graph against the plan's, and what was written
    in another form than the plan's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    model: str
    profile: str
    opset: int
    file_bytes: int
    initializer_bytes: int
    planned_bytes: float
    macs: int
    planned_macs: int
    nodes: int
    quantized_activations: int
    notes: list[str]


def export(graph: Graph, plan: Plan, path: str | Path,
           inputs: np.ndarray | Mapping[str, np.ndarray] | None = None, *, batch: int = 8,
           seed: int = 0) -> ExportResult:
    """Write ``plan`` applied to ``graph`` (with weights) as an ONNX model at ``path``.

    ``inputs`` calibrate the static activation scales (default: ``batch`` seeded
    calibration inputs, as ``simulate`` uses). Raises :class:`ExportError` naming the
    layer, op or field that does not fit; nothing is written then.
    """
    onnx, helper, _ = onnx_modules()
    try:
        built = compress(graph, plan)
        feeds = dict(input_arrays(graph, inputs if inputs is not None
                                  else calibration_inputs(graph, batch=batch, seed=seed)))
        scales = activation_scales(built, feeds)
    except (CompressionError, KernelError) as exc:
        raise ExportError(str(exc)) from None
    b = OnnxBuilder(used={layer.name for layer in built.graph})
    try:
        tensors = _write_layers(b, built, plan, scales)
    except UnexportableError as exc:
        raise ExportError(str(exc)) from None
    outputs = []
    for name in built.graph.outputs:
        if tensors[name] != name:
            b.node("Identity", [tensors[name]], name, name=f"{name}/output")
        outputs.append(helper.make_tensor_value_info(
            name, _elem(built.graph[name]), [None, *built.graph[name].output_shape[1:]]))
    sources = [helper.make_tensor_value_info(
        name, _elem(built.graph[name]), ["batch", *built.graph[name].output_shape[1:]])
        for name in built.graph.inputs]
    model = helper.make_model(
        helper.make_graph(b.nodes, graph.name, sources, outputs, b.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="edge-compression-planner", doc_string=(
            f"{plan.model} compressed by a plan for {plan.profile} ({plan.objective})"))
    helper.set_model_props(model, {"planner.model": plan.model,
                                   "planner.profile": plan.profile,
                                   "planner.planned_bytes": str(plan.totals.size_bytes)})
    if model.ByteSize() >= PROTOBUF_LIMIT:
        raise ExportError(f"the exported model of {graph.name} takes {model.ByteSize():,} "
                          "bytes, over protobuf's 2 GiB limit for one ONNX file (external "
                          "data files are not written yet)")
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"the exported model of {graph.name} does not validate: {exc}"
                          ) from None
    try:
        macs = onnx_macs(model, graph[graph.inputs[0]].output_shape[0])  # the planned batch
    except ValueError as exc:
        raise ExportError(f"the exported model of {graph.name}: {exc}") from None
    data = model.SerializeToString()
    target = Path(path)
    _write_atomically(target, data)
    return ExportResult(
        path=str(target), model=plan.model, profile=plan.profile, opset=OPSET,
        file_bytes=len(data),
        initializer_bytes=sum(len(t.raw_data) or t.ByteSize() for t in b.initializers),
        planned_bytes=plan.totals.size_bytes, macs=macs,
        planned_macs=plan.totals.macs, nodes=len(b.nodes),
        quantized_activations=len(scales), notes=_notes(built, plan))


def activation_scales(built: Compressed, feeds: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Per-tensor scale of every activation the plan stores as integers, from one run of
    the compressed graph on ``feeds`` with the simulation's fake quantization."""
    scales: dict[str, float] = {}
    run_compressed(built, feeds, scales=scales)
    return scales


def _write_layers(b: OnnxBuilder, built: Compressed, plan: Plan,
                  scales: Mapping[str, float]) -> dict[str, str]:
    """Write every layer of the compressed graph; returns the tensor consumers read for
    each layer. Every node records its layer's name in ``doc_string``."""
    unit_of = {name: unit.name for unit in built.units.values() for name in unit.layers}
    before = quantized_before_activation(built, unit_of, scales)
    tensors: dict[str, str] = {}
    for layer in built.graph:
        first = len(b.nodes)
        tensors[layer.name] = _write_one(b, built, plan, scales, layer, tensors,
                                         unit_of.get(layer.name), before.get(layer.name))
        for node in b.nodes[first:]:
            node.doc_string = layer.name
    return tensors


QUANTIZES_EXACTLY = ("relu", "relu6")
"""Activations that commute with rounding to a symmetric int8 grid of the scale of their
own output: zero is on the grid and relu6's 6 is its top (the scale is max/127 of the
clipped output), so quantizing before them gives the values quantizing after them
gives."""
MATMUL_OPS = ("conv2d", "linear")
"""Ops onnxruntime runs as integer kernels (``QLinearConv``, ``QLinearMatMul``) when
their input, weights and output are quantized."""


def quantized_before_activation(built: Compressed, unit_of: Mapping[str, str],
                                scales: Mapping[str, float]) -> dict[str, str]:
    """Convs and linears whose output is quantized at the scale of the activation after
    them (mapped to that activation): the unit's output is that activation, stored as
    integers, it is one of :data:`QUANTIZES_EXACTLY`, and the conv's input is quantized
    too (else onnxruntime computes it in fp32 anyway, and the extra rounding pass costs
    time). Written so, the conv sits
    between a ``DequantizeLinear`` and a ``QuantizeLinear`` and onnxruntime runs it as an
    integer kernel (with the activation after the quantization it cannot: its CPU
    provider then dequantizes the weights on every run and computes in fp32, slower
    than the fp32 model)."""
    found = {}
    for name, dtype in built.dtypes.items():
        layer = built.graph[name]
        if (dtype not in ("int8", "int4") or name not in scales
                or layer.op not in QUANTIZES_EXACTLY or len(layer.inputs) != 1):
            continue
        source = built.graph[layer.inputs[0]]
        if (unit_of.get(source.name) == unit_of.get(name)
                and source.name not in built.dtypes
                and source.name not in built.graph.outputs
                and built.graph.consumers(source.name) == [name]
                and _integer_kernel(built, source, name)):
            found[source.name] = name
    return found


def _write_one(b: OnnxBuilder, built: Compressed, plan: Plan, scales: Mapping[str, float],
               layer: Layer, tensors: Mapping[str, str], unit: str | None,
               activation: str | None = None) -> str:
    """Write ``layer``; ``activation``: the activation whose scale quantizes its output
    (:func:`quantized_before_activation`)."""
    dtype = built.dtypes.get(layer.name)
    if layer.op == "input":
        return _stored(b, layer.name, dtype, scales, raw=layer.name, final=None)
    if layer.op == "constant":
        if layer.weights is None:
            raise UnexportableError(f"layer {layer.name!r}: a constant without a value")
        value = layer.weights["value"]
        return b.const(f"{layer.name}/value",
                       value.astype(np.float32) if value.dtype.kind == "f" else value)
    if unit is None:
        raise UnexportableError(f"layer {layer.name!r} belongs to no planned unit")
    entry = plan.layer(unit)
    encoded = built.units[unit].encodings.get(layer.name)
    weights = {}
    folded = not _integer_kernel(built, layer, activation)
    for key, value in (layer.weights or {}).items():
        base = f"{layer.name}/{key}"
        if encoded is not None and key in encoded:
            weights[key] = b.encoded(base, encoded[key], folded=folded)
        else:  # a compressed layer's bias, or the weights of a layer kept as it is
            fmt = entry.weight_format if encoded is not None else None
            weights[key] = b.plain(base, value, plain_bits(key, fmt, DTYPE_BITS[entry.dtype]))
    if activation is not None:
        raw = b.fresh(f"{layer.name}/raw")
        write_layer(b, Site(layer, [tensors[i] for i in layer.inputs], weights, raw))
        return _quantized(b, layer.name, scales[activation], raw=raw, final=layer.name)
    stores = dtype not in (None, "fp32")
    raw = b.fresh(f"{layer.name}/raw") if stores else layer.name
    write_layer(b, Site(layer, [tensors[i] for i in layer.inputs], weights, raw))
    return _stored(b, layer.name, dtype, scales, raw=raw, final=layer.name if stores else None)


def _integer_kernel(built: Compressed, layer: Layer, activation: str | None) -> bool:
    """Whether onnxruntime can run ``layer`` as an integer kernel: a conv or linear whose
    input and output are both quantized (else it computes in fp32, and its weights are
    best decoded where onnxruntime folds them, :meth:`OnnxBuilder.encoded`)."""
    quantized = ("int8", "int4")
    return (layer.op in MATMUL_OPS and len(layer.inputs) == 1
            and built.dtypes.get(layer.inputs[0]) in quantized
            and (activation is not None or built.dtypes.get(layer.name) in quantized))


def _stored(b: OnnxBuilder, name: str, dtype: str | None, scales: Mapping[str, float], *,
            raw: str, final: str | None) -> str:
    """The tensor consumers read: ``raw`` as stored at ``dtype`` (a Cast pair for fp16,
    static QDQ for integers), named ``final`` when given."""
    _, _, tp = onnx_modules()
    if dtype in (None, "fp32"):
        return raw
    if dtype == "fp16":
        half = b.node("Cast", [raw], name=f"{name}/to_fp16", to=tp.FLOAT16)
        return b.node("Cast", [half], final, name=f"{name}/from_fp16", to=tp.FLOAT)
    if name not in scales:  # an integer tensor (token ids): stored as it is
        return raw
    return _quantized(b, name, scales[name], raw=raw, final=final)


def _quantized(b: OnnxBuilder, name: str, scale: float, *, raw: str, final: str | None
               ) -> str:
    """``raw`` rounded to the symmetric int8 grid of ``scale`` (static QDQ), named
    ``final`` when given."""
    scale_name = b.const(f"{name}/act_scale", np.float32(scale))
    zero = b.const(f"{name}/act_zero", np.uint8(ACTIVATION_ZERO))
    q = b.node("QuantizeLinear", [raw, scale_name, zero], name=f"{name}/quantize")
    return b.node("DequantizeLinear", [q, scale_name, zero], final, name=f"{name}/dequantize")


def _elem(layer: Layer) -> int:
    _, _, tp = onnx_modules()
    floating = layer.op != "input" or layer.attrs.get("dtype", "float32") == "float32"
    return int(tp.FLOAT if floating else tp.INT64)


def _write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file in the same folder."""
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise ExportError(f"{target}: cannot write there ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, target)
    except BaseException as exc:
        Path(temp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ExportError(f"{target}: cannot write it ({exc.strerror})") from None
        raise


def _notes(built: Compressed, plan: Plan) -> list[str]:
    """What the file holds in another form than the plan stores."""
    formats: Counter[str] = Counter()
    sparse = 0
    for unit in built.units.values():
        for tensors in unit.encodings.values():
            for enc in tensors.values():
                formats[enc.fmt] += 1
                sparse += enc.encoding != "dense"
    notes = []
    kmeans = sorted(f for f in formats if f.startswith("kmeans"))
    if kmeans:
        notes.append(f"{sum(formats[f] for f in kmeans)} weight tensor(s) in "
                     f"{', '.join(kmeans)}: fixed-width centroid indices and a codebook "
                     "(ONNX has no Huffman coding)")
    if formats["binary"]:
        notes.append(f"{formats['binary']} binary weight tensor(s): int4 sign codes (ONNX "
                     "has no 1-bit type)")
    if sparse:
        notes.append(f"{sparse} sparse weight tensor(s) stored dense with zeros in place "
                     "(onnxruntime has no sparse convolution)")
    placed: Counter[str] = Counter(e.processor for e in plan.layers)
    if len(placed) > 1:
        notes.append("onnxruntime's CPU provider runs every layer; the plan places "
                     + ", ".join(f"{n} on {p}" for p, n in sorted(placed.items())))
    return notes


__all__ = ["ExportError", "ExportResult", "activation_scales", "export"]
