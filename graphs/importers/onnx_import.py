"""ONNX import: a ``.onnx`` file becomes an annotated graph, initializers as weights.

Shape arithmetic that exporters leave in the graph (Shape → Gather → Concat → Reshape) is
folded to constants with numpy, so every layer has static shapes. Every other node maps to a
layer through the handler table below; a node with no handler becomes an ``opaque`` layer,
listed by op type and count (or an ``UnsupportedOpsError`` naming the file with
``strict=True``). Output shapes are inferred with the op table and checked against ONNX
shape inference where it has an answer.

This module imports onnx; :func:`graphs.from_onnx` imports it only when called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from graphs.builder import GraphBuilder
from graphs.errors import GraphError, GraphFileError, UnsupportedOpsError
from graphs.importers.onnx_observed import example_feeds, observed_shapes
from graphs.ir import Graph, Layer
from graphs.ops import Shape, numel
from graphs.ops.recurrent import ONNX_GATE_ORDER, onnx_rows
from graphs.ops.recurrent import weight_name as recurrent_weight_name


class Unsupported(Exception):
    """Raised by a handler: the node stays opaque (with the reason recorded)."""


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _initializer(init: onnx.TensorProto, path: str) -> np.ndarray:
    """An initializer as an array; one whose data does not fit its dims is named."""
    try:
        return numpy_helper.to_array(init)
    except (ValueError, TypeError) as exc:
        raise GraphFileError(path, f"initializer {init.name!r} (dims {list(init.dims)}) does "
                             f"not hold data of that shape: {exc}") from None


class OnnxImporter:
    """Walks the nodes of one ONNX graph in order, emitting layers."""

    def __init__(self, model: onnx.ModelProto, path: str, name: str, root_scope: str = "",
                 examples: Mapping[str, np.ndarray] | None = None) -> None:
        self.path = path
        self.root_scope = root_scope
        self.examples = examples
        self.observed: dict[str, Shape] | None = None
        self.unobserved = ""
        self.model = model
        self.builder = GraphBuilder(name)
        self.consts: dict[str, np.ndarray] = {
            init.name: _initializer(init, path) for init in model.graph.initializer
        }
        # parameters: every initializer but 0-d ones (an exporter's scalar constants: the
        # −1e9 of a mask, a GELU's √2), which other exporters store as initializers too
        self.trainable = {k for k, v in self.consts.items() if v.ndim > 0}
        self.tensors: dict[str, str] = {}  # onnx tensor name -> layer name
        self.inferred: dict[str, Shape] = _inferred_shapes(model)
        self.readers: dict[str, list[onnx.NodeProto]] = {}
        for node in model.graph.node:
            for name in set(node.input):
                self.readers.setdefault(name, []).append(node)
        self.skip: set[str] = set()  # outputs of nodes folded into an earlier layer
        self.warnings: list[str] = []
        self.constant_layers: dict[str, str] = {}

    # ----------------------------------------------------------- access

    def _unscoped(self, name: str) -> str:
        """``name`` without the root scope (``/module/…``, ``module.…``)."""
        root = self.root_scope
        if root and name.startswith(f"/{root}/"):
            return name[len(root) + 1:]
        if root and name.startswith(f"{root}."):
            return name[len(root) + 1:]
        return name

    def layer_name(self, name: str) -> str:
        """A layer name for an ONNX node, tensor or initializer name (see :func:`_clean`)."""
        return _clean(self._unscoped(name))

    def is_const(self, name: str) -> bool:
        """True when tensor ``name`` is known at import time."""
        return name in self.consts

    def const(self, name: str) -> np.ndarray:
        """The value of a constant tensor; Unsupported when it is computed at run time."""
        if name not in self.consts:
            raise Unsupported(f"{name!r} is not a constant")
        return self.consts[name]

    def optional_const(self, node: onnx.NodeProto, index: int) -> np.ndarray | None:
        """Constant input ``index`` of ``node``, or None when absent or empty."""
        if len(node.input) <= index or not node.input[index]:
            return None
        return self.const(node.input[index])

    def tensor(self, name: str) -> str:
        """The layer that holds tensor ``name`` (constants become constant layers)."""
        if name in self.tensors:
            return self.tensors[name]
        if name in self.consts:
            return self._constant_layer(name)
        raise Unsupported(f"input {name!r} is produced by nothing the importer mapped")

    def shape(self, name: str) -> Shape:
        """Static shape of a tensor."""
        if name in self.consts:
            return tuple(self.consts[name].shape)
        return self.builder.shape(self.tensor(name))

    def _constant_layer(self, name: str) -> str:
        if name not in self.constant_layers:
            value = self.consts[name]
            layer = self.builder.unique_name(self.layer_name(name))
            trainable = name in self.trainable and value.dtype.kind == "f"
            self.constant_layers[name] = self.builder.append(Layer.create(
                layer, "constant", [], [], {"shape": tuple(value.shape), "trainable": trainable,
                                            "dtype": str(value.dtype)}, {"value": value}))
        return self.constant_layers[name]

    # ----------------------------------------------------------- emitting

    def emit(self, node: onnx.NodeProto, op: str, inputs: Sequence[str],
             weights: dict[str, np.ndarray] | None = None, output: str | None = None,
             **attrs: Any) -> str:
        """Add a layer for ``node`` (or for one ``output`` of it) reading tensor names."""
        out = output or node.output[0]
        layers = [self.tensor(i) for i in inputs]
        scope = _module_path(self._unscoped(node.name))
        if scope and weights and scope not in self.builder:
            name = scope  # the layer holding a module's weights takes the module's name
        else:
            name = self.builder.unique_name(self.layer_name(node.name) or self.layer_name(out))
        layer = Layer.create(name, op, layers, [self.builder.shape(i) for i in layers], attrs,
                             weights)
        want = self.inferred.get(out)
        if want is not None and want != layer.output_shape:
            raise Unsupported(f"op table gives {layer.output_shape}, ONNX infers {want}")
        self.tensors[out] = self.builder.append(layer)
        return name

    def alias(self, node: onnx.NodeProto) -> None:
        """The node returns its first input unchanged."""
        source = node.input[0]
        if source in self.consts:
            self.consts[node.output[0]] = self.consts[source]
        else:
            self.tensors[node.output[0]] = self.tensor(source)

    def opaque(self, node: onnx.NodeProto, reason: str) -> None:
        """Keep the node as an opaque layer per output whose shape ONNX inferred."""
        inputs = [i for i in node.input if i and (i in self.tensors or i in self.consts)]
        self.warnings.append(f"{node.name or node.output[0]}: onnx::{node.op_type} kept opaque "
                             f"({reason})")
        for out in node.output:
            if out and out not in self.inferred:
                self._observe(node, out)
            if out:
                self.emit(node, "opaque", inputs, output=out, target=f"onnx::{node.op_type}",
                          output_shape=self.inferred[out])

    def _observe(self, node: onnx.NodeProto, out: str) -> None:
        """Shapes that inference left out, from one onnxruntime run (once per model)."""
        if self.observed is None:
            self.observed, why = observed_shapes(self.model, self.feeds())
            self.unobserved = why
            self.inferred.update(self.observed)
            if self.observed:
                self.warnings.append("shapes ONNX inference cannot give (data-dependent ops) "
                                     "observed by onnxruntime at the example input")
        if out not in self.observed:
            raise GraphFileError(
                self.path,
                f"node {node.name!r} (onnx::{node.op_type}) is not supported and its output "
                f"{out!r} has no static shape: ONNX shape inference gives none"
                + (f", and {self.unobserved}" if self.unobserved else "")
                + ". Export the model with static shapes, or without the data-dependent part "
                "(a detector's post-processing: import its backbone and head)")

    def feeds(self) -> dict[str, np.ndarray]:
        """The example inputs, or seeded ones at the graph's input shapes."""
        if self.examples is not None:
            return dict(self.examples)
        return example_feeds({
            value.name: (self.builder.shape(self.tensors[value.name]),
                         np.dtype(onnx.helper.tensor_dtype_to_np_dtype(
                             value.type.tensor_type.elem_type)))
            for value in self.model.graph.input if value.name in self.tensors})

    # ----------------------------------------------------------- the walk

    def run(self, input_shape: Sequence[int] | None) -> Graph:
        """Map inputs, fold constants, map nodes; outputs are the graph's outputs."""
        self._inputs(input_shape)
        for node in self.model.graph.node:
            if node.output[0] in self.skip:
                continue
            if self._foldable(node):
                self._fold(node)
                continue
            handler = HANDLERS.get(node.op_type)
            try:
                if handler is None:
                    raise Unsupported("no handler")
                handler(self, node)
            except Unsupported as exc:
                self.opaque(node, str(exc))
            except (ValueError, IndexError, KeyError, TypeError) as exc:
                if isinstance(exc, GraphError):
                    raise
                raise GraphFileError(self.path, f"node {node.name or node.output[0]!r} "
                                     f"(onnx::{node.op_type}) cannot be read: "
                                     f"{type(exc).__name__}: {exc}") from None
        outputs = [self.tensor(o.name) for o in self.model.graph.output]
        return self.builder.build(outputs)

    def _inputs(self, input_shape: Sequence[int] | None) -> None:
        graph_inputs = [i for i in self.model.graph.input if i.name not in self.consts]
        for index, value in enumerate(graph_inputs):
            dims = value.type.tensor_type.shape.dim
            shape = [d.dim_value if d.HasField("dim_value") else None for d in dims]
            if input_shape is not None and index == 0:
                if len(input_shape) != len(shape):
                    raise GraphFileError(self.path, f"input {value.name!r} has rank {len(shape)}, "
                                         f"input_shape {tuple(input_shape)} has {len(input_shape)}")
                shape = list(input_shape)
            if shape and shape[0] is None:
                shape[0] = 1  # a symbolic batch dimension: plan for batch 1
            if any(d is None for d in shape):
                raise GraphFileError(
                    self.path,
                    f"input {value.name!r} has symbolic dimensions {shape}; pass input_shape",
                )
            if any(d is not None and d < 1 for d in shape):
                raise GraphFileError(self.path, f"input {value.name!r} has shape {shape}; "
                                                "every dimension must be at least 1")
            elem = value.type.tensor_type.elem_type
            dtype = "int64" if elem in (onnx.TensorProto.INT64, onnx.TensorProto.INT32) else (
                "float32")
            layer = self.builder.input([int(d or 1) for d in shape],
                                       self.layer_name(value.name), dtype)
            self.tensors[value.name] = layer

    def _foldable(self, node: onnx.NodeProto) -> bool:
        """Constant inputs only, and no parameter among them (a parameter stays a layer so
        that it is counted once, whatever the batch), except through an Identity or a weight
        decoder. Ops without a numpy rule here fold through onnx's reference evaluator."""
        if any(i and i not in self.consts for i in node.input):
            return False
        if node.op_type not in CONST_EVAL:  # random ops and subgraphs never fold
            return bool(node.input) and node.domain in ("", "ai.onnx") and not (
                node.op_type.startswith("Random") or node.op_type in ("Bernoulli",
                                                                      "Multinomial")) and not any(
                attr.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                for attr in node.attribute) and not any(
                i in self.trainable and self.consts[i].dtype.kind == "f" for i in node.input)
        if node.op_type in WEIGHT_DECODERS and (
                node.op_type != "Gather" or self.consts[node.input[0]].ndim == 1):
            return True  # a codebook lookup reads a 1-D table; an embedding stays a layer
        return node.op_type == "Identity" or not any(
            i in self.trainable and self.consts[i].dtype.kind == "f" for i in node.input)

    def _fold(self, node: onnx.NodeProto) -> None:
        values = [self.consts[i] if i else None for i in node.input]
        try:
            rule = CONST_EVAL.get(node.op_type)
            results = (rule(values, _attrs(node)) if rule is not None
                       else self._reference_eval(node))
        except Exception as exc:
            raise GraphFileError(self.path, f"node {node.name!r} (onnx::{node.op_type}) on "
                                 f"constants fails: {exc}") from None
        for out, value in zip(node.output, results, strict=False):
            self.consts[out] = np.asarray(value)
        decoded = node.op_type == "Identity" or node.op_type in WEIGHT_DECODERS
        if decoded and any(i in self.trainable for i in node.input if i):
            self.trainable.add(node.output[0])

    def _reference_eval(self, node: onnx.NodeProto) -> list[Any]:
        """One node on constants, run by onnx's reference evaluator."""
        from onnx.reference import ReferenceEvaluator

        feeds = {i: self.consts[i] for i in node.input if i}
        graph = onnx.helper.make_graph(
            [node], "fold", [onnx.helper.make_tensor_value_info(
                i, onnx.helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                for i, v in feeds.items()],
            [onnx.helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None)
             for o in node.output if o])
        model = onnx.helper.make_model(graph, opset_imports=list(self.model.opset_import))
        return list(ReferenceEvaluator(model).run(None, feeds))

    def bias_add(self, node: onnx.NodeProto, out_features: int) -> onnx.NodeProto | None:
        """The Add that only adds a constant (out_features,) bias to ``node``'s output."""
        readers = self.readers.get(node.output[0], [])
        if len(readers) != 1 or readers[0].op_type != "Add":
            return None
        add = readers[0]
        other = [i for i in add.input if i != node.output[0]]
        if len(other) == 1 and self.consts.get(other[0], np.empty(0)).shape == (out_features,):
            return add
        return None


def _clean(name: str) -> str:
    """A node name as a layer name: scopes joined by dots, as PyTorch names modules
    (``/layer1/layer1.0/conv1/Conv`` → ``layer1.0.conv1.Conv``)."""
    path = _module_path(name)
    return f"{path}.{name.rsplit('/', 1)[-1]}" if path else name.strip("/").replace("/", ".")


def _module_path(name: str) -> str:
    """The module path of a scoped node name, as torch's exporter writes them, each scope
    repeating its parent's name (``/layer1/layer1.0/conv1/Conv`` → ``layer1.0.conv1``);
    empty for a name without scopes."""
    scopes = [s for s in name.split("/")[:-1] if s]
    parts: list[str] = []
    for index, scope in enumerate(scopes):
        parent = scopes[index - 1] if index else ""
        parts.append(scope[len(parent) + 1:] if parent and scope.startswith(parent + ".")
                     else scope)
    return ".".join(parts)


def _inferred_shapes(model: onnx.ModelProto) -> dict[str, Shape]:
    shapes: dict[str, Shape] = {}
    for value in [*model.graph.value_info, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = tuple(int(d.dim_value) for d in dims)
    return shapes


# ---------------------------------------------------------------- constant folding


def _shape_op(values: list[Any], attrs: dict[str, Any]) -> list[Any]:
    raise Unsupported("Shape of a run-time tensor is folded by the importer")


def _slice_const(values: list[Any], attrs: dict[str, Any]) -> list[Any]:
    data, starts, ends = values[:3]
    axes = values[3] if len(values) > 3 and values[3] is not None else range(len(starts))
    steps = values[4] if len(values) > 4 and values[4] is not None else [1] * len(starts)
    index = [slice(None)] * data.ndim
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        index[int(a)] = slice(int(s), int(e), int(st))
    return [data[tuple(index)]]


def _int_div(values: list[Any], attrs: dict[str, Any]) -> list[Any]:
    a, b = values
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        return [np.trunc(a / b).astype(a.dtype)]
    return [a / b]


def _unsqueeze_const(values: list[Any], attrs: dict[str, Any]) -> list[Any]:
    axes: Any = attrs.get("axes", values[1] if len(values) > 1 else None)
    if axes is None:
        raise Unsupported("Unsqueeze without axes")
    out = values[0]
    rank = out.ndim + len(axes)
    for axis in sorted(int(a) % rank for a in axes):
        out = np.expand_dims(out, axis)
    return [out]


def _squeeze_const(values: list[Any], attrs: dict[str, Any]) -> list[Any]:
    axes = attrs.get("axes", values[1] if len(values) > 1 else None)
    return [np.squeeze(values[0], axis=None if axes is None else tuple(int(a) for a in axes))]


def _dequantize(values: list[Any], attrs: dict[str, Any]) -> list[Any]:
    """``DequantizeLinear`` of a constant: (x − zero point) · scale, per tensor or per axis
    (a quantized weight as QDQ exporters write it)."""
    if attrs.get("block_size"):
        raise ValueError("blocked quantization (block_size) is not supported")
    x = np.asarray(values[0]).astype(np.float32)
    scale = np.asarray(values[1], dtype=np.float32)
    zero = (np.asarray(values[2]).astype(np.float32) if len(values) > 2
            and values[2] is not None else np.zeros_like(scale))
    if scale.ndim == 1 and x.ndim > 0:  # per axis
        shape = [1] * x.ndim
        shape[attrs.get("axis", 1) % x.ndim] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return [((x - zero) * scale).astype(np.float32)]


def _gather_elements(values: list[Any], attrs: dict[str, Any]) -> list[Any]:
    data, indices = values
    axis = int(attrs.get("axis", 0)) % data.ndim
    return [np.take_along_axis(data, np.where(indices < 0, indices + data.shape[axis],
                                              indices), axis=axis)]


WEIGHT_DECODERS = {"DequantizeLinear", "Cast", "Gather"}
"""Ops that decode a stored weight (QDQ, fp16 casts, a codebook lookup): on constants they
fold, and their output is a parameter when an input is."""

CONST_EVAL: dict[str, Callable[[list[Any], dict[str, Any]], list[Any]]] = {
    "DequantizeLinear": _dequantize,
    "Constant": lambda v, a: [numpy_helper.to_array(a["value"]) if "value" in a else np.array(
        a.get("value_float", a.get("value_int", a.get("value_ints"))))],
    "Identity": lambda v, a: [v[0]],
    "Cast": lambda v, a: [v[0].astype(onnx.helper.tensor_dtype_to_np_dtype(a["to"]))],
    "Gather": lambda v, a: [np.take(v[0], v[1], axis=a.get("axis", 0))],
    "Unsqueeze": _unsqueeze_const,
    "Squeeze": _squeeze_const,
    "Concat": lambda v, a: [np.concatenate([np.atleast_1d(x) for x in v], axis=a["axis"])],
    "Slice": _slice_const,
    "Reshape": lambda v, a: [v[0].reshape([int(d) if d != 0 else v[0].shape[i]
                                           for i, d in enumerate(v[1])])],
    "Add": lambda v, a: [v[0] + v[1]],
    "Sub": lambda v, a: [v[0] - v[1]],
    "Mul": lambda v, a: [v[0] * v[1]],
    "Div": _int_div,
    "Mod": lambda v, a: [np.fmod(v[0], v[1]) if a.get("fmod") else np.mod(v[0], v[1])],
    "Equal": lambda v, a: [np.equal(v[0], v[1])],
    "Where": lambda v, a: [np.where(v[0], v[1], v[2])],
    "Sqrt": lambda v, a: [np.sqrt(v[0])],
    "Neg": lambda v, a: [-v[0]],
    "Min": lambda v, a: [np.minimum.reduce(v)],
    "Max": lambda v, a: [np.maximum.reduce(v)],
    "Range": lambda v, a: [np.arange(v[0], v[1], v[2])],
    "ConstantOfShape": lambda v, a: [np.full(tuple(int(d) for d in v[0]), numpy_helper.to_array(
        a["value"]).item() if "value" in a else 0.0)],
    "Expand": lambda v, a: [v[0] * np.ones(tuple(int(d) for d in v[1]), dtype=v[0].dtype)],
    "Transpose": lambda v, a: [np.transpose(v[0], a.get("perm"))],
    "GatherElements": _gather_elements,
}


# ---------------------------------------------------------------- node handlers

Handler = Callable[[OnnxImporter, onnx.NodeProto], None]


def _same_pads(size: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
               dilation: Sequence[int], upper: bool) -> tuple[int, int, int, int]:
    begins, ends = [], []
    for n, k, s, d in zip(size, kernel, stride, dilation, strict=True):
        out = -(-n // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        begin = total // 2 if upper else total - total // 2
        begins.append(begin)
        ends.append(total - begin)
    return (begins[0], begins[1], ends[0], ends[1])


def _window(imp: OnnxImporter, node: onnx.NodeProto, kernel: Sequence[int]) -> dict[str, Any]:
    a = _attrs(node)
    stride = tuple(a.get("strides", (1, 1)))
    dilation = tuple(a.get("dilations", (1, 1)))
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = _same_pads(imp.shape(node.input[0])[2:], kernel, stride, dilation,
                          auto == "SAME_UPPER")
    else:
        pads = tuple(a.get("pads", (0, 0, 0, 0)))
    if len(kernel) != 2:
        raise Unsupported(f"{len(kernel)}-D window")
    return {"kernel_size": tuple(kernel), "stride": stride, "padding": pads,
            "dilation": dilation}


def _invalid(imp: OnnxImporter, node: onnx.NodeProto, problem: str) -> GraphFileError:
    """The error for a node whose attributes contradict the ONNX spec or its weights."""
    return GraphFileError(imp.path, f"node {node.name or node.output[0]!r} "
                                    f"(onnx::{node.op_type}): {problem}")


def _kernel_of(imp: OnnxImporter, node: onnx.NodeProto, weight: np.ndarray) -> None:
    """A convolution's ``kernel_shape``, where given, must be its weight's."""
    kernel = _attrs(node).get("kernel_shape")
    if kernel is not None and tuple(kernel) != tuple(weight.shape[2:]):
        raise _invalid(imp, node, f"kernel_shape {list(kernel)} is not the weight's "
                                  f"{list(weight.shape[2:])}")


def _switch(imp: OnnxImporter, node: onnx.NodeProto, name: str) -> bool:
    """An ONNX 0/1 attribute (``transB``) as a bool."""
    value = _attrs(node).get(name, 0)
    if value not in (0, 1):
        raise _invalid(imp, node, f"attribute {name} is {value}; expected 0 or 1")
    return bool(value)


def _conv(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    weight = imp.const(node.input[1])
    bias = imp.optional_const(node, 2)
    if weight.ndim != 4:
        raise Unsupported(f"{weight.ndim - 2}-D convolution")
    _kernel_of(imp, node, weight)
    window = _window(imp, node, weight.shape[2:])
    weights = {"weight": weight} | ({"bias": bias} if bias is not None else {})
    imp.emit(node, "conv2d", [node.input[0]], weights, out_channels=weight.shape[0],
             groups=int(_attrs(node).get("group", 1)), bias=bias is not None, **window)


def _pad(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    pads = a.get("pads")  # opset < 11: an attribute; later a constant input
    if pads is None:
        pads = imp.const(node.input[1]).tolist()
    if len(node.input) > 3 and node.input[3]:
        raise Unsupported("pads on a subset of axes")
    value = imp.optional_const(node, 2)
    mode = a.get("mode", b"constant")
    imp.emit(node, "pad", [node.input[0]], pads=tuple(int(p) for p in pads),
             mode=mode.decode() if isinstance(mode, bytes) else mode,
             value=float(value.reshape(())) if value is not None and value.size else 0.0)


def _conv_transpose(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    weight = imp.const(node.input[1])
    bias = imp.optional_const(node, 2)
    a = _attrs(node)
    if weight.ndim != 4:
        raise Unsupported(f"{weight.ndim - 2}-D transposed convolution")
    _kernel_of(imp, node, weight)
    auto = a.get("auto_pad", b"NOTSET")
    if "output_shape" in a or (auto.decode() if isinstance(auto, bytes) else auto) != "NOTSET":
        raise Unsupported("output_shape or auto_pad (give explicit pads)")
    groups = int(a.get("group", 1))
    weights = {"weight": weight} | ({"bias": bias} if bias is not None else {})
    imp.emit(node, "conv_transpose2d", [node.input[0]], weights,
             out_channels=weight.shape[1] * groups, kernel_size=tuple(weight.shape[2:]),
             stride=tuple(a.get("strides", (1, 1))), padding=tuple(a.get("pads", (0,) * 4)),
             dilation=tuple(a.get("dilations", (1, 1))),
             output_padding=tuple(a.get("output_padding", (0, 0))), groups=groups,
             bias=bias is not None)


def _linear(imp: OnnxImporter, node: onnx.NodeProto, weight: np.ndarray,
            bias: np.ndarray | None, output: str | None = None) -> None:
    weights = {"weight": weight} | ({"bias": bias} if bias is not None else {})
    imp.emit(node, "linear", [node.input[0]], weights, output=output,
             out_features=weight.shape[0], bias=bias is not None)


def _gemm(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    if _switch(imp, node, "transA") or not imp.is_const(node.input[1]):
        raise Unsupported("Gemm with transA or a run-time B")
    b = imp.const(node.input[1])
    weight = (b if _switch(imp, node, "transB") else b.T) * a.get("alpha", 1.0)
    bias = imp.optional_const(node, 2)
    if bias is not None:
        bias = np.broadcast_to(bias * a.get("beta", 1.0), (weight.shape[0],)).copy()
    _linear(imp, node, weight, bias)


def _matmul(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    if imp.is_const(node.input[1]) and imp.const(node.input[1]).ndim == 2:
        weight = imp.const(node.input[1]).T
        add = imp.bias_add(node, weight.shape[0])
        if add is None:
            _linear(imp, node, weight, None)
            return
        bias = next(i for i in add.input if i != node.output[0])
        imp.skip.add(add.output[0])
        _linear(imp, node, weight, imp.const(bias), output=add.output[0])
        return
    imp.emit(node, "matmul", [node.input[0], node.input[1]])


def _batch_norm(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    names = ("weight", "bias", "running_mean", "running_var")
    weights = {k: imp.const(i) for k, i in zip(names, node.input[1:5], strict=True)}
    imp.emit(node, "batch_norm", [node.input[0]], weights,
             eps=float(_attrs(node).get("epsilon", 1e-5)))


def _layer_norm(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    shape = imp.shape(node.input[0])
    axis = int(a.get("axis", -1)) % len(shape)
    bias = imp.optional_const(node, 2)
    weights = {"weight": imp.const(node.input[1])} | ({"bias": bias} if bias is not None else {})
    imp.emit(node, "layer_norm", [node.input[0]], weights, normalized_shape=shape[axis:],
             eps=float(a.get("epsilon", 1e-5)), bias=bias is not None)


def _unary(op: str) -> Handler:
    def handle(imp: OnnxImporter, node: onnx.NodeProto) -> None:
        imp.emit(node, op, [node.input[0]])

    return handle


def _gelu(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    approximate = _attrs(node).get("approximate", b"none")
    imp.emit(node, "gelu", [node.input[0]],
             approximate=approximate.decode() if isinstance(approximate, bytes) else approximate)


def _hard_sigmoid(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
    if np.isclose(alpha, 1 / 6) and np.isclose(beta, 0.5):
        alpha = 1 / 6  # exactly relu6(x + 3)/6, which runtimes fuse as hard-sigmoid
    imp.emit(node, "hardsigmoid", [node.input[0]], alpha=alpha, beta=beta)


def _clip(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    low = imp.optional_const(node, 1)
    high = imp.optional_const(node, 2)
    lo = float(low) if low is not None else a.get("min")
    hi = float(high) if high is not None else a.get("max")
    if lo == 0 and hi == 6:
        imp.emit(node, "relu6", [node.input[0]])
    else:
        imp.emit(node, "clamp", [node.input[0]], min=lo, max=hi)


def _binary(op: str) -> Handler:
    def handle(imp: OnnxImporter, node: onnx.NodeProto) -> None:
        a, b = node.input
        for tensor_side, other, reverse in ((a, b, False), (b, a, True)):
            if tensor_side not in imp.consts and other in imp.consts \
                    and imp.consts[other].size == 1:
                imp.emit(node, op, [tensor_side], scalar=float(imp.consts[other].reshape(())),
                         reverse=reverse)
                return
        imp.emit(node, op, [a, b])

    return handle


def _variadic(op: str) -> Handler:
    """Max/Min of two inputs (more stay opaque) as the elementwise binary op."""
    binary = _binary(op)

    def handle(imp: OnnxImporter, node: onnx.NodeProto) -> None:
        if len(node.input) == 1:
            imp.alias(node)
        elif len(node.input) == 2:
            binary(imp, node)
        else:
            raise Unsupported(f"{node.op_type} of {len(node.input)} inputs")

    return handle


def _max_pool(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    if len(node.output) > 1 and node.output[1]:
        raise Unsupported("MaxPool with indices")
    imp.emit(node, "max_pool2d", [node.input[0]], ceil_mode=bool(a.get("ceil_mode", 0)),
             **_window(imp, node, a["kernel_shape"]))


def _avg_pool(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    window = _window(imp, node, a["kernel_shape"])
    window.pop("dilation")
    imp.emit(node, "avg_pool2d", [node.input[0]], ceil_mode=bool(a.get("ceil_mode", 0)),
             count_include_pad=bool(a.get("count_include_pad", 0)), **window)


def _global_pool(op: str) -> Handler:
    def handle(imp: OnnxImporter, node: onnx.NodeProto) -> None:
        imp.emit(node, op, [node.input[0]], output_size=(1, 1))

    return handle


def _reduce(op: str) -> Handler:
    """ReduceMean/Sum/Max/Min: axes as an attribute (old opsets) or a constant input."""
    def handle(imp: OnnxImporter, node: onnx.NodeProto) -> None:
        a = _attrs(node)
        axes = a.get("axes")
        if axes is None:
            given = imp.optional_const(node, 1)
            if given is not None and given.size == 0 and a.get("noop_with_empty_axes", 0):
                imp.alias(node)
                return
            axes = (list(range(len(imp.shape(node.input[0])))) if given is None or not given.size
                    else [int(x) for x in given])
        imp.emit(node, op, [node.input[0]], axes=tuple(axes),
                 keepdim=bool(a.get("keepdims", 1)))

    return handle


def _flatten(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    axis = int(_attrs(node).get("axis", 1))
    shape = imp.shape(node.input[0])
    if axis < 0:  # axis is in [-rank, rank]: rank itself flattens to (numel, 1)
        axis += len(shape)
    if axis == 1:
        imp.emit(node, "flatten", [node.input[0]], start_dim=1)
    else:
        imp.emit(node, "reshape", [node.input[0]],
                 shape=(numel(shape[:axis]), numel(shape[axis:])))


def _reshape(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    source = imp.shape(node.input[0])
    target = [int(d) for d in imp.const(node.input[1])]
    if not _attrs(node).get("allowzero", 0):
        target = [source[i] if d == 0 else d for i, d in enumerate(target)]
    imp.emit(node, "reshape", [node.input[0]], shape=tuple(target))


def _squeeze_like(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    dummy = np.empty(imp.shape(node.input[0]), dtype=np.int8)
    values = [dummy, *(imp.const(i) if i else None for i in node.input[1:])]
    evaluate = _unsqueeze_const if node.op_type == "Unsqueeze" else _squeeze_const
    imp.emit(node, "reshape", [node.input[0]], shape=evaluate(values, _attrs(node))[0].shape)


def _transpose(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    rank = len(imp.shape(node.input[0]))
    perm = _attrs(node).get("perm", list(range(rank))[::-1])
    imp.emit(node, "permute", [node.input[0]], dims=tuple(perm))


def _concat(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    imp.emit(node, "concat", list(node.input), axis=int(_attrs(node)["axis"]))


def _split(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    shape = imp.shape(node.input[0])
    axis = int(a.get("axis", 0)) % len(shape)
    sizes = a.get("split")
    if sizes is None and len(node.input) > 1 and node.input[1]:
        sizes = [int(s) for s in imp.const(node.input[1])]
    if sizes is None:
        parts = len(node.output)
        chunk = -(-shape[axis] // parts)
        sizes = [min(chunk, shape[axis] - i * chunk) for i in range(parts)]
    start = 0
    for out, size in zip(node.output, sizes, strict=True):
        index = (*((None, None, None),) * axis, (start, start + int(size), 1))
        imp.emit(node, "slice", [node.input[0]], output=out, index=index)
        start += int(size)


def _slice(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    starts, ends = imp.const(node.input[1]), imp.const(node.input[2])
    rank = len(imp.shape(node.input[0]))
    axes = imp.optional_const(node, 3)
    steps = imp.optional_const(node, 4)
    axes_list = [int(a) % rank for a in (axes if axes is not None else range(len(starts)))]
    entries: list[Any] = [(None, None, None)] * (max(axes_list) + 1)
    for i, axis in enumerate(axes_list):
        step = int(steps[i]) if steps is not None else 1
        entries[axis] = (int(starts[i]), int(ends[i]), step)
    imp.emit(node, "slice", [node.input[0]], index=tuple(entries))


def _gather(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    """A lookup in a stored 2-D table is an embedding; anything else a gather."""
    axis = int(_attrs(node).get("axis", 0))
    data, indices = node.input
    if imp.is_const(data) and imp.const(data).ndim == 2 and axis == 0:
        table = imp.const(data)
        imp.emit(node, "embedding", [indices], {"weight": table}, num_embeddings=table.shape[0],
                 embedding_dim=table.shape[1])
        return
    if imp.is_const(indices) and imp.const(indices).ndim == 0:
        rank = len(imp.shape(data))
        imp.emit(node, "slice", [data],
                 index=(*((None, None, None),) * (axis % rank), int(imp.const(indices))))
        return
    imp.emit(node, "gather", [data, indices], axis=axis)


def _softmax(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    imp.emit(node, "softmax", [node.input[0]], axis=int(_attrs(node).get("axis", -1)))


def _resize(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    mode = _attrs(node).get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode not in ("nearest", "linear"):
        raise Unsupported(f"Resize mode {mode!r}")
    shape = imp.shape(node.input[0])
    sizes = imp.optional_const(node, 3)
    scales = imp.optional_const(node, 2)
    if sizes is not None and sizes.size:
        out = tuple(int(s) for s in sizes)
    elif scales is not None and scales.size:
        out = tuple(int(d * s) for d, s in zip(shape, scales, strict=True))
    else:
        raise Unsupported("Resize without constant scales or sizes")
    imp.emit(node, "upsample", [node.input[0]], size=out[2:],
             mode="nearest" if mode == "nearest" else "bilinear")


def _expand(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    target = np.broadcast_shapes(imp.shape(node.input[0]),
                                 tuple(int(d) for d in imp.const(node.input[1])))
    imp.emit(node, "expand", [node.input[0]], shape=tuple(target))


def _einsum(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    equation = _attrs(node)["equation"]
    imp.emit(node, "einsum", list(node.input),
             equation=equation.decode() if isinstance(equation, bytes) else equation)


def _shape(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    shape = imp.shape(node.input[0])
    imp.consts[node.output[0]] = np.array(shape[a.get("start", 0):a.get("end", len(shape))],
                                          dtype=np.int64)


def _alias(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    imp.alias(node)


def _fake_quant(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    """A QuantizeLinear/DequantizeLinear on activations: read as the identity (the planner
    chooses activation dtypes itself), said once per model."""
    note = ("QuantizeLinear/DequantizeLinear on activations read as the identity: the graph "
            "is planned from fp32")
    if note not in imp.warnings:
        imp.warnings.append(note)
    imp.alias(node)


def _instance_norm(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    """InstanceNormalization (what exporters write for GroupNorm, between two reshapes) is
    a group norm with one channel per group."""
    channels = imp.shape(node.input[0])[1]
    scale, bias = imp.const(node.input[1]), imp.const(node.input[2])
    stored = {node.input[1], node.input[2]} & imp.trainable
    identity = np.all(scale == 1) and not np.any(bias)  # the exporter's, not the model's
    weights = None if identity and not stored else {"weight": scale, "bias": bias}
    imp.emit(node, "group_norm", [node.input[0]], weights, num_groups=channels,
             eps=float(_attrs(node).get("epsilon", 1e-5)), affine=weights is not None)


def _cast(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    """A cast between float widths is the identity here (the planner picks dtypes); to an
    integer or boolean dtype it is a layer (masks)."""
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(_attrs(node)["to"]))
    if dtype.kind == "f":
        imp.alias(node)
        return
    imp.emit(node, "cast", [node.input[0]], dtype=str(dtype))


def _where(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    imp.emit(node, "where", list(node.input))


def _recurrent(imp: OnnxImporter, node: onnx.NodeProto) -> None:
    """One ONNX LSTM/GRU layer (zero initial state, full sequences) as an lstm/gru layer
    with PyTorch's gate order, reshaped to ONNX's Y (T, D, N, H)."""
    a = _attrs(node)
    op = node.op_type.lower()
    if a.get("layout", 0) or a.get("activations") or a.get("clip") \
            or (op == "lstm" and (a.get("input_forget", 0) or (len(node.input) > 7
                                                              and node.input[7]))):
        raise Unsupported("layout=1, custom activations, clip, coupled gates or peepholes")
    if op == "gru" and not a.get("linear_before_reset", 0):
        raise Unsupported("GRU with linear_before_reset=0 (PyTorch computes it with 1)")
    for index in (4, 5, 6)[: 3 if op == "lstm" else 2]:  # sequence_lens, initial states
        if len(node.input) > index and node.input[index]:
            given = imp.optional_const(node, index)
            if given is None or (index > 4 and np.any(given)) or index == 4:
                raise Unsupported("sequence lengths or a non-zero initial state")
    w, r = imp.const(node.input[1]), imp.const(node.input[2])
    b = imp.optional_const(node, 3)
    dirs, rows, width = w.shape
    hidden = rows // len(ONNX_GATE_ORDER[op])
    order = np.argsort(onnx_rows(op, hidden))  # ONNX's rows in PyTorch's gate order
    weights: dict[str, np.ndarray] = {}
    for d in range(dirs):
        weights[recurrent_weight_name("weight_ih", 0, d == 1)] = w[d][order]
        weights[recurrent_weight_name("weight_hh", 0, d == 1)] = r[d][order]
        if b is not None:
            weights[recurrent_weight_name("bias_ih", 0, d == 1)] = b[d][:rows][order]
            weights[recurrent_weight_name("bias_hh", 0, d == 1)] = b[d][rows:][order]
    steps, batch = imp.shape(node.input[0])[:2]
    imp.emit(node, op, [node.input[0]], weights, output=f"{node.output[0]}/sequence",
             input_size=width, hidden_size=hidden, bidirectional=dirs == 2, bias=b is not None)
    imp.emit(node, "reshape", [f"{node.output[0]}/sequence"], output=f"{node.output[0]}/split",
             shape=(steps, batch, dirs, hidden))
    imp.emit(node, "permute", [f"{node.output[0]}/split"], dims=(0, 2, 1, 3))
    for out in node.output[1:]:
        if out and imp.readers.get(out):
            imp.warnings.append(f"{node.name or node.output[0]}: the final states of "
                                f"onnx::{node.op_type} are not mapped")


HANDLERS: dict[str, Handler] = {
    "Conv": _conv, "ConvTranspose": _conv_transpose, "Gemm": _gemm, "MatMul": _matmul,
    "BatchNormalization": _batch_norm, "LayerNormalization": _layer_norm,
    "Relu": _unary("relu"), "Sigmoid": _unary("sigmoid"), "Tanh": _unary("tanh"),
    "HardSwish": _unary("hardswish"), "HardSigmoid": _hard_sigmoid, "Erf": _unary("erf"),
    "Sqrt": _unary("sqrt"), "Gelu": _gelu, "Clip": _clip,
    "Add": _binary("add"), "Sub": _binary("sub"), "Mul": _binary("mul"), "Div": _binary("div"),
    "Pow": _binary("pow"), "Exp": _unary("exp"), "Log": _unary("log"), "Neg": _unary("neg"),
    "Abs": _unary("abs"),
    "MaxPool": _max_pool, "AveragePool": _avg_pool,
    "GlobalAveragePool": _global_pool("adaptive_avg_pool2d"),
    "GlobalMaxPool": _global_pool("adaptive_max_pool2d"),
    "ReduceMean": _reduce("mean"), "ReduceSum": _reduce("sum"), "ReduceMax": _reduce("amax"),
    "ReduceMin": _reduce("amin"), "Softmax": _softmax,
    "Flatten": _flatten, "Reshape": _reshape, "Squeeze": _squeeze_like,
    "Unsqueeze": _squeeze_like, "Transpose": _transpose, "Concat": _concat, "Split": _split,
    "Pad": _pad, "Slice": _slice, "Gather": _gather, "Resize": _resize, "Expand": _expand,
    "Einsum": _einsum, "Shape": _shape,
    "Identity": _alias, "Dropout": _alias, "Cast": _cast,
    "InstanceNormalization": _instance_norm, "ReduceL2": _reduce("l2_norm"),
    "LSTM": _recurrent, "GRU": _recurrent, "Where": _where,
    "Equal": _binary("equal"), "Greater": _binary("greater"),
    "GreaterOrEqual": _binary("greater_equal"), "Less": _binary("less"),
    "LessOrEqual": _binary("less_equal"), "And": _binary("logical_and"),
    "Or": _binary("logical_or"), "Not": _unary("logical_not"), "IsNaN": _unary("isnan"),
    "Reciprocal": _unary("reciprocal"), "Sin": _unary("sin"), "Cos": _unary("cos"),
    "Floor": _unary("floor"), "Ceil": _unary("ceil"), "Max": _variadic("maximum"),
    "Min": _variadic("minimum"),
    "QuantizeLinear": _fake_quant, "DequantizeLinear": _fake_quant,
}


# ---------------------------------------------------------------- entry point


def from_onnx(path: str | Path, input_shape: Sequence[int] | None = None,
              strict: bool = False, name: str | None = None, *, root_scope: str = "",
              examples: Mapping[str, np.ndarray] | None = None) -> Graph:
    """Import an ONNX model file. ``input_shape`` fixes the first input's shape (required
    when it has symbolic dimensions other than the batch, which defaults to 1).

    ``root_scope``: a scope to drop from node and initializer names (the wrapper module an
    exporter saw). ``examples``: input arrays by name, run by onnxruntime to observe the
    shapes of data-dependent ops that shape inference leaves open (seeded random inputs
    otherwise).

    Raises ``GraphFileError`` naming the file for unreadable or malformed models, and
    ``UnsupportedOpsError`` with ``strict=True`` when some node cannot be mapped.
    """
    path = Path(path)
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except FileNotFoundError:
        raise GraphFileError(str(path), "no such file") from None
    except Exception as exc:  # protobuf and the checker raise several types
        raise GraphFileError(str(path), f"not a valid ONNX model: {exc}") from None
    try:
        model = _with_shapes(model, input_shape)
        importer = OnnxImporter(model, str(path), name or path.stem, root_scope, examples)
        graph = importer.run(input_shape)
    except GraphFileError:
        raise
    except GraphError as exc:
        raise GraphFileError(str(path), str(exc)) from exc
    unmapped = graph.unmapped_ops()
    if strict and unmapped:
        raise UnsupportedOpsError(str(path), unmapped)
    graph.metadata.update({
        "source": f"onnx:{path.name}",
        "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                     default=0),
        "import_warnings": importer.warnings,
    })
    return graph


def _with_shapes(model: onnx.ModelProto, input_shape: Sequence[int] | None) -> onnx.ModelProto:
    """Fix the first input's dims (when given) and run ONNX shape inference."""
    if input_shape is not None:
        inits = {i.name for i in model.graph.initializer}
        first = next(i for i in model.graph.input if i.name not in inits)
        dims = first.type.tensor_type.shape.dim
        if len(dims) == len(input_shape):
            for dim, size in zip(dims, input_shape, strict=True):
                dim.Clear()
                dim.dim_value = int(size)
    try:
        return onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # inference is a cross-check only; the op table infers shapes anyway
        return model
