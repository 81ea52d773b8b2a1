"""One ONNX writer per op kind of the graph IR (a table of handlers, as the op table and
the numpy kernels are). Each writer reproduces the numpy kernel of
:mod:`planner.execution.kernels` for the same layer, so the exported model computes what
the simulation computed.

A writer gets the layer, its input tensors and its weights (each already written, see
:class:`planner.export.onnx_builder.OnnxBuilder`), and writes nodes whose last output is
``site.out``. The batch axis stays symbolic: reshapes keep it with ``0``/``-1``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphs import Layer, recurrent_onnx_rows, recurrent_weight_name, slice_entries
from planner.export.onnx_builder import OnnxBuilder


class UnexportableError(ValueError):
    """A layer whose op has no ONNX writer, or whose attributes ONNX cannot express."""


@dataclass(frozen=True)
class Site:
    """Where one layer is written: the layer, its input tensors, its written weights (by
    weight name) and the tensor its output must be called."""

    layer: Layer
    inputs: list[str]
    weights: Mapping[str, str]
    out: str

    @property
    def name(self) -> str:
        """The node name (the layer's: onnxruntime's profiler reports per node)."""
        return self.layer.name


Writer = Callable[[OnnxBuilder, Site], object]
"""Writes one layer's nodes (whatever it returns is ignored)."""


def _one(op: str, **fixed: Any) -> Writer:
    """A writer of one ONNX node over the layer's inputs with fixed attributes."""
    def write(b: OnnxBuilder, s: Site) -> None:
        b.node(op, s.inputs, s.out, name=s.name, **fixed)
    return write


def _hard_sigmoid(b: OnnxBuilder, s: Site) -> None:
    b.node("HardSigmoid", s.inputs, s.out, name=s.name, alpha=float(s.layer.attrs["alpha"]),
           beta=float(s.layer.attrs["beta"]))


def _recurrent(b: OnnxBuilder, s: Site) -> None:
    """An LSTM/GRU stack as one ONNX node per layer (its weight rows put in ONNX's gate
    order by a Gather, so QDQ weights stay as written), directions merged between layers."""
    a, op = s.layer.attrs, s.layer.op
    hidden, dirs = a["hidden_size"], 2 if a["bidirectional"] else 1
    order = b.ints(f"{s.name}/gate_order", recurrent_onnx_rows(op, hidden))
    x = s.inputs[0]
    if a["batch_first"]:
        x = b.node("Transpose", [x], name=f"{s.name}/time_first", perm=[1, 0, 2])
    for layer in range(a["num_layers"]):
        def stacked(kind: str, layer: int = layer) -> str:
            parts = []
            for reverse in (False, True)[:dirs]:
                w = s.weights[recurrent_weight_name(kind, layer, reverse)]
                rows = b.node("Gather", [w, order], name=f"{s.name}/{kind}{layer}", axis=0)
                parts.append(b.node("Unsqueeze", [rows, b.ints(f"{s.name}/axis0", [0])],
                                    name=f"{s.name}/{kind}{layer}/dir"))
            return parts[0] if dirs == 1 else b.node("Concat", parts, axis=0,
                                                     name=f"{s.name}/{kind}{layer}/dirs")
        inputs = [x, stacked("weight_ih"), stacked("weight_hh")]
        if a["bias"]:
            inputs.append(b.node("Concat", [stacked("bias_ih"), stacked("bias_hh")], axis=1,
                                 name=f"{s.name}/bias{layer}"))
        extra: dict[str, Any] = {"linear_before_reset": 1} if op == "gru" else {}
        y = b.node(op.upper(), inputs, name=f"{s.name}/l{layer}", hidden_size=hidden,
                   direction="bidirectional" if dirs == 2 else "forward", **extra)
        merged = b.node("Transpose", [y], name=f"{s.name}/l{layer}/t", perm=[0, 2, 1, 3])
        last = layer == a["num_layers"] - 1 and not a["batch_first"]
        x = b.node("Reshape", [merged, b.ints(f"{s.name}/l{layer}/shape", [0, 0, -1])],
                   s.out if last else None, name=f"{s.name}/l{layer}/merge")
    if a["batch_first"]:
        b.node("Transpose", [x], s.out, name=f"{s.name}/batch_first", perm=[1, 0, 2])


def _conv(b: OnnxBuilder, s: Site) -> None:
    a = s.layer.attrs
    weight = s.layer.weights["weight"] if s.layer.weights is not None else None
    if weight is None:
        raise UnexportableError(f"layer {s.name!r}: a conv without weights")
    groups = s.layer.input_shapes[0][1] // weight.shape[1]
    inputs = [s.inputs[0], s.weights["weight"]]
    if "bias" in s.weights:
        inputs.append(s.weights["bias"])
    b.node("Conv", inputs, s.out, name=s.name, kernel_shape=list(weight.shape[2:]),
           strides=list(a["stride"]), pads=list(a["padding"]),
           dilations=list(a["dilation"]), group=groups)


def _conv_transpose(b: OnnxBuilder, s: Site) -> None:
    a = s.layer.attrs
    inputs = [s.inputs[0], s.weights["weight"], *([s.weights["bias"]] if "bias" in s.weights
                                                  else [])]
    b.node("ConvTranspose", inputs, s.out, name=s.name, kernel_shape=list(a["kernel_size"]),
           strides=list(a["stride"]), pads=list(a["padding"]), dilations=list(a["dilation"]),
           output_padding=list(a["output_padding"]), group=int(a["groups"]))


def _linear(b: OnnxBuilder, s: Site) -> None:
    x = s.inputs[0]
    if len(s.layer.input_shapes[0]) == 2:
        inputs = [x, s.weights["weight"], *([s.weights["bias"]] if "bias" in s.weights else [])]
        b.node("Gemm", inputs, s.out, name=s.name, transB=1)
        return
    wt = b.node("Transpose", [s.weights["weight"]], name=f"{s.name}/weight_t", perm=[1, 0])
    if "bias" not in s.weights:
        b.node("MatMul", [x, wt], s.out, name=s.name)
        return
    y = b.node("MatMul", [x, wt], name=s.name)
    b.node("Add", [y, s.weights["bias"]], s.out, name=f"{s.name}/bias")


def _embedding(b: OnnxBuilder, s: Site) -> None:
    b.node("Gather", [s.weights["weight"], s.inputs[0]], s.out, name=s.name, axis=0)


def _batch_norm(b: OnnxBuilder, s: Site) -> None:
    channels = s.layer.input_shapes[0][1]
    scale = s.weights.get("weight") or b.const(f"{s.name}/ones", np.ones(channels, np.float32))
    shift = s.weights.get("bias") or b.const(f"{s.name}/zeros", np.zeros(channels, np.float32))
    b.node("BatchNormalization", [s.inputs[0], scale, shift, s.weights["running_mean"],
                                  s.weights["running_var"]], s.out, name=s.name,
           epsilon=float(s.layer.attrs["eps"]))


def _layer_norm(b: OnnxBuilder, s: Site) -> None:
    shape = tuple(s.layer.attrs["normalized_shape"])
    scale = s.weights.get("weight") or b.const(f"{s.name}/ones", np.ones(shape, np.float32))
    inputs = [s.inputs[0], scale, *([s.weights["bias"]] if "bias" in s.weights else [])]
    b.node("LayerNormalization", inputs, s.out, name=s.name, axis=-len(shape),
           epsilon=float(s.layer.attrs["eps"]))


def _pool(op: str) -> Writer:
    def write(b: OnnxBuilder, s: Site) -> None:
        a = s.layer.attrs
        extra: dict[str, Any] = {}
        if op == "AveragePool":
            extra["count_include_pad"] = int(a.get("count_include_pad", True))
        else:
            extra["dilations"] = list(a.get("dilation", (1, 1)))
        b.node(op, s.inputs, s.out, name=s.name, kernel_shape=list(a["kernel_size"]),
               strides=list(a["stride"]), pads=list(a["padding"]),
               ceil_mode=int(a.get("ceil_mode", False)), **extra)
    return write


def _adaptive(kind: str) -> Writer:
    def write(b: OnnxBuilder, s: Site) -> None:
        oh, ow = s.layer.attrs["output_size"]
        h, w = s.layer.input_shapes[0][2:]
        if (oh, ow) == (1, 1):
            b.node(f"Global{kind}Pool", s.inputs, s.out, name=s.name)
        elif h % oh == 0 and w % ow == 0:
            window = [h // oh, w // ow]
            b.node(f"{kind}Pool", s.inputs, s.out, name=s.name, kernel_shape=window,
                   strides=window)
        else:
            raise UnexportableError(f"layer {s.name!r}: adaptive pooling of {h}×{w} to "
                                    f"{oh}×{ow} has uneven windows, which ONNX cannot express")
    return write


def _reduce(op: str) -> Writer:
    def write(b: OnnxBuilder, s: Site) -> None:
        axes = b.ints(f"{s.name}/axes", list(s.layer.attrs["axes"]))
        b.node(op, [s.inputs[0], axes], s.out, name=s.name,
               keepdims=int(bool(s.layer.attrs["keepdim"])))
    return write


def _reshape_to(b: OnnxBuilder, s: Site, shape: list[int]) -> None:
    b.node("Reshape", [s.inputs[0], b.ints(f"{s.name}/shape", shape)], s.out, name=s.name)


def _flatten(b: OnnxBuilder, s: Site) -> None:
    rank = len(s.layer.input_shapes[0])
    start = s.layer.attrs["start_dim"] % rank
    end = s.layer.attrs["end_dim"] % rank
    kept = [0] * start if start else []
    _reshape_to(b, s, [*kept, -1, *s.layer.output_shape[start + 1:]]
                if end < rank - 1 else [*kept, -1])


def _reshape(b: OnnxBuilder, s: Site) -> None:
    _reshape_to(b, s, [-1, *s.layer.output_shape[1:]])


def _expand(b: OnnxBuilder, s: Site) -> None:
    shape = b.ints(f"{s.name}/shape", [1, *s.layer.output_shape[1:]])
    b.node("Expand", [s.inputs[0], shape], s.out, name=s.name)


def _transpose(b: OnnxBuilder, s: Site) -> None:
    perm = list(range(len(s.layer.input_shapes[0])))
    d0, d1 = s.layer.attrs["dim0"] % len(perm), s.layer.attrs["dim1"] % len(perm)
    perm[d0], perm[d1] = perm[d1], perm[d0]
    b.node("Transpose", s.inputs, s.out, name=s.name, perm=perm)


def _permute(b: OnnxBuilder, s: Site) -> None:
    b.node("Transpose", s.inputs, s.out, name=s.name, perm=list(s.layer.attrs["dims"]))


def _slice(b: OnnxBuilder, s: Site) -> None:
    shape = s.layer.input_shapes[0]
    starts, ends, axes, steps, squeeze = [], [], [], [], []
    for axis, entry in enumerate(slice_entries(s.layer.attrs["index"], shape)):
        if isinstance(entry, int):  # an index: a slice of one, then squeezed
            squeeze.append(axis)
            start, stop, step = entry, entry + 1, 1
        else:
            start, stop, step = entry
        if axis == 0 and (start, stop, step) == (0, shape[0], 1):
            continue  # the whole batch: keep it symbolic
        if step < 0 and stop < 0:
            stop = -(1 << 63)  # "before the first element", not the last
        starts.append(start)
        ends.append(stop)
        axes.append(axis)
        steps.append(step)
    x = s.inputs[0]
    if axes:
        x = b.node("Slice", [x, b.ints(f"{s.name}/starts", starts),
                             b.ints(f"{s.name}/ends", ends), b.ints(f"{s.name}/axes", axes),
                             b.ints(f"{s.name}/steps", steps)],
                   None if squeeze else s.out, name=s.name)
    if squeeze:
        b.node("Squeeze", [x, b.ints(f"{s.name}/squeeze", squeeze)], s.out,
               name=f"{s.name}/squeeze")
    elif not axes:
        b.node("Identity", [x], s.out, name=s.name)


def _pad(b: OnnxBuilder, s: Site) -> None:
    a = s.layer.attrs
    value = b.const(f"{s.name}/value", np.float32(a["value"]))
    b.node("Pad", [s.inputs[0], b.ints(f"{s.name}/pads", list(a["pads"])), value], s.out,
           name=s.name, mode=a["mode"])


def _channel_shuffle(b: OnnxBuilder, s: Site) -> None:
    _, c, h, w = s.layer.input_shapes[0]
    g = s.layer.attrs["groups"]
    split = b.node("Reshape", [s.inputs[0], b.ints(f"{s.name}/split", [0, g, c // g, h, w])],
                   name=f"{s.name}/split")
    swapped = b.node("Transpose", [split], name=f"{s.name}/swap", perm=[0, 2, 1, 3, 4])
    b.node("Reshape", [swapped, b.ints(f"{s.name}/merge", [0, c, h, w])], s.out, name=s.name)


def _upsample(b: OnnxBuilder, s: Site) -> None:
    sizes = b.ints(f"{s.name}/sizes", list(s.layer.output_shape[2:]))
    if s.layer.attrs["mode"] == "nearest":
        mode = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                "nearest_mode": "floor"}
    else:
        mode = {"mode": "linear", "coordinate_transformation_mode": (
            "align_corners" if s.layer.attrs.get("align_corners") else "pytorch_half_pixel")}
    b.node("Resize", [s.inputs[0], "", "", sizes], s.out, name=s.name, axes=[2, 3], **mode)


def _clamp(b: OnnxBuilder, s: Site) -> None:
    bounds = [b.const(f"{s.name}/{key}", np.float32(s.layer.attrs[key]))
              if s.layer.attrs.get(key) is not None else "" for key in ("min", "max")]
    b.node("Clip", [s.inputs[0], *bounds], s.out, name=s.name)


def _relu6(b: OnnxBuilder, s: Site) -> None:
    low, high = b.const(f"{s.name}/min", np.float32(0)), b.const(f"{s.name}/max", np.float32(6))
    b.node("Clip", [s.inputs[0], low, high], s.out, name=s.name)


def _silu(b: OnnxBuilder, s: Site) -> None:
    gate = b.node("Sigmoid", s.inputs, name=f"{s.name}/sigmoid")
    b.node("Mul", [s.inputs[0], gate], s.out, name=s.name)


def _binary(op: str) -> Writer:
    def write(b: OnnxBuilder, s: Site) -> None:
        inputs = list(s.inputs)
        if len(inputs) == 1:
            scalar = b.const(f"{s.name}/scalar", np.float32(s.layer.attrs["scalar"]))
            inputs = [scalar, inputs[0]] if s.layer.attrs.get("reverse") else [inputs[0], scalar]
        b.node(op, inputs, s.out, name=s.name)
    return write


def _attention(b: OnnxBuilder, s: Site) -> None:
    q, k, v = s.inputs
    depth = s.layer.input_shapes[0][-1]
    scale = s.layer.attrs.get("scale") or 1.0 / math.sqrt(depth)
    rank = len(s.layer.input_shapes[1])
    perm = [*range(rank - 2), rank - 1, rank - 2]
    kt = b.node("Transpose", [k], name=f"{s.name}/key_t", perm=perm)
    scores = b.node("MatMul", [q, kt], name=f"{s.name}/scores")
    scores = b.node("Mul", [scores, b.const(f"{s.name}/scale", np.float32(scale))],
                    name=f"{s.name}/scaled")
    if s.layer.attrs.get("is_causal"):
        length, keys = s.layer.input_shapes[0][-2], s.layer.input_shapes[1][-2]
        mask = np.where(np.triu(np.ones((length, keys), bool), 1), -np.inf, 0)
        scores = b.node("Add", [scores, b.const(f"{s.name}/causal", mask.astype(np.float32))],
                        name=f"{s.name}/masked")
    weights = b.node("Softmax", [scores], name=f"{s.name}/softmax", axis=-1)
    b.node("MatMul", [weights, v], s.out, name=s.name)


WRITERS: dict[str, Writer] = {
    "conv2d": _conv,
    "conv_transpose2d": _conv_transpose,
    "linear": _linear,
    "matmul": _one("MatMul"),
    "scaled_dot_product_attention": _attention,
    "embedding": _embedding,
    "einsum": lambda b, s: b.node("Einsum", s.inputs, s.out, name=s.name,
                                  equation=s.layer.attrs["equation"]),
    "batch_norm": _batch_norm,
    "layer_norm": _layer_norm,
    "max_pool2d": _pool("MaxPool"),
    "avg_pool2d": _pool("AveragePool"),
    "adaptive_avg_pool2d": _adaptive("Average"),
    "adaptive_max_pool2d": _adaptive("Max"),
    "mean": _reduce("ReduceMean"),
    "sum": _reduce("ReduceSum"),
    "amax": _reduce("ReduceMax"),
    "amin": _reduce("ReduceMin"),
    "softmax": lambda b, s: b.node("Softmax", s.inputs, s.out, name=s.name,
                                   axis=int(s.layer.attrs["axis"])),
    "concat": lambda b, s: b.node("Concat", s.inputs, s.out, name=s.name,
                                  axis=int(s.layer.attrs["axis"])),
    "flatten": _flatten,
    "reshape": _reshape,
    "expand": _expand,
    "transpose": _transpose,
    "permute": _permute,
    "slice": _slice,
    "channel_shuffle": _channel_shuffle,
    "pad": _pad,
    "upsample": _upsample,
    "dropout": _one("Identity"),
    "identity": _one("Identity"),
    "relu": _one("Relu"),
    "relu6": _relu6,
    "clamp": _clamp,
    "hardswish": _one("HardSwish"),
    "hardsigmoid": _hard_sigmoid,
    "sigmoid": _one("Sigmoid"),
    "silu": _silu,
    "gelu": lambda b, s: b.node("Gelu", s.inputs, s.out, name=s.name,
                                approximate=s.layer.attrs.get("approximate", "none")),
    "tanh": _one("Tanh"),
    "erf": _one("Erf"),
    "sqrt": _one("Sqrt"),
    "exp": _one("Exp"),
    "log": _one("Log"),
    "neg": _one("Neg"),
    "abs": _one("Abs"),
    "add": _binary("Add"),
    "sub": _binary("Sub"),
    "mul": _binary("Mul"),
    "div": _binary("Div"),
    "pow": _binary("Pow"),
    "lstm": _recurrent,
    "gru": _recurrent,
    "maximum": _binary("Max"),
    "minimum": _binary("Min"),
    "reciprocal": _one("Reciprocal"),
    "sin": _one("Sin"),
    "cos": _one("Cos"),
    "floor": _one("Floor"),
    "ceil": _one("Ceil"),
}
"""The ONNX writer of every exportable op kind (``multihead_attention``, gathers, group
norms, L2 norms, mask logic and casts, and opaque ops have none yet: exporting them raises
:class:`UnexportableError` naming the layer)."""


def write_layer(b: OnnxBuilder, site: Site) -> None:
    """Write one layer, or raise :class:`UnexportableError` naming it and its op."""
    writer = WRITERS.get(site.layer.op)
    if writer is None:
        target = site.layer.attrs.get("target", site.layer.op)
        raise UnexportableError(f"layer {site.name!r}: op {target!r} has no ONNX writer "
                                f"(exportable ops: {', '.join(sorted(WRITERS))})")
    writer(b, site)
