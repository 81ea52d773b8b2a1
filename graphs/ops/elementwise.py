"""Elementwise activations, broadcasting arithmetic, normalisation, softmax and reductions.

FLOPs per element are conventions, stated per op: they feed the roofline's compute time for
ops whose time is almost always set by memory traffic anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphs.ops.base import (
    Attrs,
    OpArgumentError,
    OpSpec,
    Shape,
    WeightSpec,
    broadcast,
    flag,
    integer,
    integers,
    normalize_axis,
    numel,
)
from graphs.ops.dense import SOFTMAX_FLOPS_PER_ELEMENT


def same_shape(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    """Shape rule of ops whose output has the shape of their first input."""
    return shapes[0]


def _per_element(flops: int) -> Any:
    def count(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
        return flops * numel(out)

    count.__doc__ = f"{flops} FLOP(s) per output element."
    return count


def unary(kind: str, flops_per_element: int, summary: str,
          defaults: dict[str, Any] | None = None, *, fuses: bool = True) -> OpSpec:
    """Factory for an elementwise function of one tensor; ``fuses``: an activation that
    runtimes fuse into the conv or linear before it."""
    return OpSpec(
        kind=kind,
        channels="passthrough",
        compressible=False,
        fuses=fuses,
        executable=True,
        op_class="elementwise",
        infer=same_shape,
        summary=f"{summary}; {flops_per_element} FLOP(s) per element",
        other_flops=_per_element(flops_per_element),
        defaults=defaults or {},
    )


UNARY = (
    unary("relu", 1, "max(x, 0)"),
    unary("relu6", 2, "min(max(x, 0), 6)"),
    unary("clamp", 2, "min(max(x, min), max)", {"min": None, "max": None}),
    unary("hardswish", 5, "x·relu6(x + 3)/6"),
    unary("hardsigmoid", 4, "max(0, min(1, alpha·x + beta)): relu6(x + 3)/6 at the defaults, "
          "Keras' hard_sigmoid at alpha 0.2", {"alpha": 1 / 6, "beta": 0.5}),
    unary("sigmoid", 4, "1/(1 + exp(−x))"),
    unary("silu", 5, "x·sigmoid(x)"),
    unary("gelu", 8, "x·Φ(x) (erf form; tanh form when approximate='tanh')",
          {"approximate": "none"}),
    unary("tanh", 5, "tanh(x)"),
    unary("erf", 8, "the error function (ONNX exports of GELU use it)", fuses=False),
    unary("sqrt", 1, "√x", fuses=False),
    unary("exp", 8, "eˣ", fuses=False),
    unary("log", 8, "ln x", fuses=False),
    unary("neg", 1, "−x", fuses=False),
    unary("abs", 1, "|x|", fuses=False),
    unary("reciprocal", 1, "1/x", fuses=False),
    unary("sin", 8, "sin x (positional encodings)", fuses=False),
    unary("cos", 8, "cos x (positional encodings)", fuses=False),
    unary("floor", 1, "⌊x⌋", fuses=False),
    unary("ceil", 1, "⌈x⌉", fuses=False),
    unary("isnan", 1, "x ≠ x, a boolean mask (attention-mask exports use it)", fuses=False),
    unary("logical_not", 1, "¬x of a boolean mask", fuses=False),
    unary("cast", 0, "x converted to ``dtype`` (a numpy dtype name: float32, int64, bool)",
          {"dtype": "float32"}, fuses=False),
)


# ---------------------------------------------------------------- binary arithmetic


def _binary_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    if len(shapes) == 1:
        if attrs.get("scalar") is None:
            raise OpArgumentError("a one-input arithmetic op needs the attribute 'scalar'")
        return shapes[0]
    return broadcast(shapes)


def binary(kind: str, symbol: str) -> OpSpec:
    """Factory for broadcasting arithmetic: two tensors, or one tensor and ``scalar``.

    ``reverse`` puts the scalar first (``1 - x`` is sub with scalar=1, reverse=True).
    """
    return OpSpec(
        kind=kind,
        channels="arithmetic",
        compressible=False,
        fuses=False,
        executable=True,
        op_class="elementwise",
        infer=_binary_infer,
        summary=f"a {symbol} b with numpy broadcasting; 1 FLOP per output element",
        arity=(1, 2),
        other_flops=_per_element(1),
        defaults={"scalar": None, "reverse": False},
    )


BINARY = (binary("add", "+"), binary("sub", "−"), binary("mul", "×"), binary("div", "÷"),
          binary("pow", "^"), binary("equal", "=="), binary("greater", ">"),
          binary("greater_equal", "≥"), binary("less", "<"), binary("less_equal", "≤"),
          binary("logical_and", "∧"), binary("logical_or", "∨"), binary("maximum", "max"),
          binary("minimum", "min"))
"""Arithmetic, and the comparisons and logic that attention masks are built with (their
results are boolean masks, costed as float32 tensors: an overestimate of tiny tensors)."""


def _where_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    return broadcast(shapes)


WHERE = OpSpec(
    kind="where",
    channels="barrier",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="elementwise",
    infer=_where_infer,
    summary="condition ? a : b with numpy broadcasting (attention masks); 1 FLOP per output "
    "element",
    arity=(3, 3),
    other_flops=_per_element(1),
)


# ---------------------------------------------------------------- normalisation


def _batch_norm_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    x = shapes[0]
    if len(x) < 2:
        raise OpArgumentError(f"batch_norm needs (N, C, ...) input, got {x}")
    return x


def _batch_norm_weights(shapes: Sequence[Shape], attrs: Attrs) -> dict[str, WeightSpec]:
    c = (shapes[0][1],)
    weights = {
        "running_mean": WeightSpec(c, counted=False, stored=False),
        "running_var": WeightSpec(c, counted=False, stored=False),
    }
    if attrs["affine"]:
        weights["weight"] = WeightSpec(c)
        weights["bias"] = WeightSpec(c)
    return weights


BATCH_NORM = OpSpec(
    kind="batch_norm",
    channels="channel_first",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="normalization",
    infer=_batch_norm_infer,
    summary="inference batch norm as a per-channel scale and shift; 2 FLOPs per element "
    "(running statistics fold into the stored scale and shift)",
    weights=_batch_norm_weights,
    other_flops=_per_element(2),
    defaults={"eps": 1e-5, "affine": True},
)


def _layer_norm_normalize(attrs: dict[str, Any]) -> dict[str, Any]:
    shape = attrs["normalized_shape"]
    attrs["normalized_shape"] = integers(shape, "normalized_shape") \
        if isinstance(shape, list | tuple) else (integer(shape, "normalized_shape"),)
    return attrs


def _layer_norm_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    x, norm = shapes[0], tuple(attrs["normalized_shape"])
    if x[len(x) - len(norm):] != norm:
        raise OpArgumentError(f"normalized_shape {norm} is not the trailing shape of {x}")
    return x


def _layer_norm_weights(shapes: Sequence[Shape], attrs: Attrs) -> dict[str, WeightSpec]:
    if not attrs["elementwise_affine"]:
        return {}
    shape = tuple(attrs["normalized_shape"])
    weights = {"weight": WeightSpec(shape)}
    if attrs["bias"]:
        weights["bias"] = WeightSpec(shape)
    return weights


LAYER_NORM = OpSpec(
    kind="layer_norm",
    channels="layer_norm",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="normalization",
    infer=_layer_norm_infer,
    summary="layer norm over the trailing axes; 8 FLOPs per element "
    "(mean 1, variance 3, normalise 2, affine 2)",
    weights=_layer_norm_weights,
    other_flops=_per_element(8),
    required=("normalized_shape",),
    defaults={"eps": 1e-5, "elementwise_affine": True, "bias": True},
    normalize=_layer_norm_normalize,
)


def _group_norm_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    x = shapes[0]
    groups = integer(attrs["num_groups"], "num_groups")
    if len(x) < 2 or groups < 1 or x[1] % groups:
        raise OpArgumentError(f"group_norm needs (N, C, ...) input with C divisible by "
                              f"num_groups={groups}, got {x}")
    return x


def _group_norm_weights(shapes: Sequence[Shape], attrs: Attrs) -> dict[str, WeightSpec]:
    c = (shapes[0][1],)
    return {"weight": WeightSpec(c), "bias": WeightSpec(c)} if attrs["affine"] else {}


GROUP_NORM = OpSpec(
    kind="group_norm",
    channels="barrier",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="normalization",
    infer=_group_norm_infer,
    summary="group norm: each sample's channels in num_groups groups, each normalised over "
    "its channels and positions, then a per-channel affine (instance norm is num_groups = C); "
    "8 FLOPs per element (mean 1, variance 3, normalise 2, affine 2)",
    weights=_group_norm_weights,
    other_flops=_per_element(8),
    required=("num_groups",),
    defaults={"eps": 1e-5, "affine": True},
)


# ---------------------------------------------------------------- softmax and reductions


def _axis_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    normalize_axis(integer(attrs["axis"], "axis"), len(shapes[0]))
    return shapes[0]


SOFTMAX = OpSpec(
    kind="softmax",
    channels="softmax",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="softmax",
    infer=_axis_infer,
    summary=f"softmax along one axis; {SOFTMAX_FLOPS_PER_ELEMENT} FLOPs per element",
    other_flops=_per_element(SOFTMAX_FLOPS_PER_ELEMENT),
    defaults={"axis": -1},
)


def _mean_normalize(attrs: dict[str, Any]) -> dict[str, Any]:
    axes = attrs["axes"]
    attrs["axes"] = integers(axes, "axes") if isinstance(axes, list | tuple) \
        else (integer(axes, "axes"),)
    attrs["keepdim"] = flag(attrs["keepdim"], "keepdim")
    return attrs


def _mean_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    x = shapes[0]
    axes = {normalize_axis(a, len(x)) for a in attrs["axes"]}
    if attrs["keepdim"]:
        return tuple(1 if i in axes else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in axes)


def _mean_flops(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    """One add per input element plus one divide per output element."""
    return numel(shapes[0]) + numel(out)


def _reduce_flops(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    """One operation per input element."""
    return numel(shapes[0])


def _l2_flops(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    """A multiply and an add per input element (the square root per output is free)."""
    return 2 * numel(shapes[0])


def reduction(kind: str, summary: str, flops: Any = _reduce_flops) -> OpSpec:
    """Factory for a reduction over ``axes`` (``keepdim`` keeps them as size 1)."""
    return OpSpec(
        kind=kind,
        channels="reduce",
        compressible=False,
        fuses=False,
        executable=True,
        op_class="pooling",
        infer=_mean_infer,
        summary=summary,
        other_flops=flops,
        required=("axes",),
        defaults={"keepdim": False},
        normalize=_mean_normalize,
    )


MEAN = reduction("mean", "mean over axes (x.mean([2, 3]) is global average pooling); 1 add "
                 "per input element", _mean_flops)
REDUCTIONS = (reduction("sum", "sum over axes; 1 operation per input element"),
              reduction("amax", "maximum over axes; 1 operation per input element"),
              reduction("amin", "minimum over axes; 1 operation per input element"),
              reduction("l2_norm", "√(Σ x²) over axes (F.normalize, ONNX ReduceL2); 2 "
                        "operations per input element", _l2_flops))

SPECS = (*UNARY, *BINARY, WHERE, BATCH_NORM, LAYER_NORM, GROUP_NORM, SOFTMAX, MEAN,
         *REDUCTIONS)
