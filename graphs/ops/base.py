"""The shape of an op handler: small pure functions of input shapes and attributes.

An :class:`OpSpec` answers, for one op kind, the questions every later stage asks: what shape
comes out, which weight tensors the layer holds, how many multiply-accumulates (MACs) and other
floating-point operations it performs, and whether it moves data at all. Handlers never see a
``Layer`` or a ``Graph``: the compression planner calls the same functions with pruned shapes.

Conventions (see DESIGN.md): a MAC is one multiply-accumulate of a conv, linear or matmul with
the bias excluded; FLOPs are 2 per MAC plus the op's other arithmetic (bias adds, activations,
normalisation, pooling), each op stating its count per element in its docstring.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Shape = tuple[int, ...]
Attrs = Mapping[str, Any]

#: Op classes group op kinds that run at similar efficiency on real hardware; hardware
#: profiles give efficiency factors per class (depthwise convs are far from peak almost
#: everywhere).
OP_CLASSES = (
    "conv",
    "depthwise_conv",
    "gemm",
    "matmul",
    "attention",
    "elementwise",
    "pooling",
    "normalization",
    "softmax",
    "gather",
    "data_movement",
    "none",
    "unknown",
)


class OpArgumentError(ValueError):
    """Raised by a handler when shapes or attributes do not fit the op.

    The graph layer catches it and re-raises a ``ShapeError`` that names the layer.
    """


@dataclass(frozen=True)
class WeightSpec:
    """One weight tensor of a layer.

    ``counted``: a learnable parameter, counted in ``params`` (as ``sum(p.numel() for p in
    model.parameters())`` does). ``stored``: kept in the deployed model and counted in weight
    bytes. BatchNorm's running statistics are neither: at inference they fold into the scale
    and shift, which are what is stored.
    """

    shape: Shape
    counted: bool = True
    stored: bool = True


InferFn = Callable[[Sequence[Shape], Attrs], Shape]
WeightsFn = Callable[[Sequence[Shape], Attrs], dict[str, WeightSpec]]
CountFn = Callable[[Sequence[Shape], Shape, Attrs], int]
ClassFn = Callable[[Sequence[Shape], Attrs], str]
GemmFn = Callable[[Sequence[Shape], Shape, Attrs], tuple[float, float, float]]
"""The GEMM an op computes, ``(m, n, k)``: output channels per group, output positions and
the reduction per output (see :attr:`OpSpec.gemm`)."""
NormalizeFn = Callable[[dict[str, Any]], dict[str, Any]]
ChannelRule = Literal["source", "conv", "linear", "embedding", "channel_first", "layer_norm",
                      "arithmetic", "concat", "reduce", "softmax", "permute", "reshape", "slice",
                      "expand", "passthrough", "barrier"]
"""How an op ties the channels of its inputs to those of its output, for structured pruning:
``source`` starts a tensor, ``conv``/``linear``/``embedding`` start a new output channel
space, ``passthrough`` and ``channel_first`` keep the input's, ``arithmetic`` and ``concat``
unify or join their inputs', ``barrier`` locks them (every op not known to be safe)."""


def no_weights(shapes: Sequence[Shape], attrs: Attrs) -> dict[str, WeightSpec]:
    """Handler for ops that hold no weights."""
    return {}


def zero(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    """Handler for a count that is zero for this op."""
    return 0


def keep_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """Normaliser for ops whose attributes need no rewriting."""
    return attrs


@dataclass(frozen=True)
class OpSpec:
    """The handlers of one op kind.

    ``arity`` is the (min, max) number of tensor inputs, max ``None`` for variadic ops.
    ``weight_reads`` counts weight elements read per execution when that is not all of them
    (an embedding reads only the gathered rows). ``moves_data`` is False for views such as
    reshape or eval-mode dropout, which cost no activation traffic.

    What the later stages must know about the op kind is declared here too, so adding an op
    is one edit (``tests/test_ops.py`` checks that every kind has each of them decided):
    ``channels``, how it couples channels (:data:`ChannelRule`); ``compressible``, whether it
    holds weights the planner compresses (prunes, quantizes, factorises); ``fuses``, an
    activation that runtimes fuse into the conv or linear before it; ``executable``, whether
    the numpy executor runs it. ``gemm`` gives the shape of the matrix product a conv,
    linear or matmul computes, which calibrated profiles price by (small dimensions reach a
    smaller fraction of peak); None for ops that compute none.
    """

    kind: str
    op_class: str | ClassFn
    infer: InferFn
    summary: str
    arity: tuple[int, int | None] = (1, 1)
    weights: WeightsFn = no_weights
    macs: CountFn = zero
    other_flops: CountFn = zero
    weight_reads: CountFn | None = None
    moves_data: bool = True
    required: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    normalize: NormalizeFn = keep_attrs
    channels: ChannelRule | None = None
    compressible: bool | None = None
    fuses: bool | None = None
    executable: bool | None = None
    gemm: GemmFn | None = None

    def class_of(self, shapes: Sequence[Shape], attrs: Attrs) -> str:
        """The op class of this op with these shapes (a conv may be depthwise)."""
        if isinstance(self.op_class, str):
            return self.op_class
        return self.op_class(shapes, attrs)

    def prepare_attrs(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """Fill defaults, check required attributes, and put values in canonical form."""
        merged = {**self.defaults, **attrs}
        for name, default in self.defaults.items():
            if name in attrs:
                _matches_default(attrs[name], default, name)
        missing = [name for name in self.required if name not in merged]
        if missing:
            raise OpArgumentError(f"op {self.kind!r} needs attribute(s) {', '.join(missing)}")
        return self.normalize(merged)

    def check_arity(self, n_inputs: int) -> None:
        """Raise unless ``n_inputs`` tensor inputs fit this op."""
        low, high = self.arity
        if n_inputs < low or (high is not None and n_inputs > high):
            expected = f"{low}" if low == high else f"{low} to {high if high is not None else 'n'}"
            raise OpArgumentError(
                f"op {self.kind!r} takes {expected} tensor input(s), got {n_inputs}"
            )


def numel(shape: Sequence[int]) -> int:
    """Number of elements of a tensor of this shape (1 for a scalar)."""
    return math.prod(shape)


def integer(value: Any, name: str) -> int:
    """``value`` as an int: an int or an integral float (not a bool, a string or a list)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise OpArgumentError(f"attribute {name!r} must be an integer, got {value!r}")
    if isinstance(value, float | np.floating) and not float(value).is_integer():
        raise OpArgumentError(f"attribute {name!r} must be an integer, got {value!r}")
    return int(value)


def integers(value: Any, name: str) -> tuple[int, ...]:
    """A list or tuple of integers (see :func:`integer`) as a tuple."""
    if not isinstance(value, list | tuple):
        raise OpArgumentError(f"attribute {name!r} must be a list of integers, got {value!r}")
    return tuple(integer(v, name) for v in value)


def flag(value: Any, name: str) -> bool:
    """``value`` as a bool: true or false, nothing else."""
    if not isinstance(value, bool | np.bool_):
        raise OpArgumentError(f"attribute {name!r} must be true or false, got {value!r}")
    return bool(value)


def number(value: Any, name: str) -> float:
    """``value`` as a finite float (an int or a float; not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) \
            or not math.isfinite(value):
        raise OpArgumentError(f"attribute {name!r} must be a finite number, got {value!r}")
    return float(value)


def _matches_default(value: Any, default: Any, name: str) -> None:
    """Raise unless ``value`` has the kind of the attribute's default (a bool, an integer
    or a list of them per axis, a number or a string); a default of None says nothing."""
    if isinstance(default, bool):
        flag(value, name)
    elif isinstance(default, int) and not isinstance(value, list | tuple):  # or per axis
        integer(value, name)
    elif isinstance(default, float):
        number(value, name)
    elif isinstance(default, str) and not (isinstance(value, str) and value):
        raise OpArgumentError(f"attribute {name!r} must be a non-empty string, got {value!r}")


def pair(value: Any, name: str, minimum: int = 1) -> tuple[int, int]:
    """An int or a 2-sequence as an (h, w) pair of ints of at least ``minimum`` (positive:
    kernel sizes, strides, dilations, output sizes; 0 for an output padding)."""
    items = integers(value, name) if isinstance(value, list | tuple) else (integer(value, name),)
    if len(items) == 1:
        items = (items[0], items[0])
    if len(items) != 2:
        raise OpArgumentError(f"attribute {name!r} must be an int or a pair, got {value!r}")
    if min(items) < minimum:
        raise OpArgumentError(f"attribute {name!r} must be "
                              f"{'positive' if minimum == 1 else f'at least {minimum}'}, "
                              f"got {value!r}")
    return (items[0], items[1])


def padding4(value: Any) -> tuple[int, int, int, int]:
    """Padding as (top, left, bottom, right), the ONNX order, from an int, pair or 4-tuple."""
    items = integers(value, "padding") if isinstance(value, list | tuple) \
        else (integer(value, "padding"),) * 4
    if min(items, default=0) < 0:
        raise OpArgumentError(f"padding must not be negative, got {value!r}")
    if len(items) == 2:
        return (items[0], items[1], items[0], items[1])
    if len(items) == 4:
        return (items[0], items[1], items[2], items[3])
    raise OpArgumentError(f"padding must be an int, a pair or 4 values, got {value!r}")


def normalize_axis(axis: int, rank: int) -> int:
    """A possibly negative axis as an index in ``range(rank)``."""
    if not -rank <= axis < rank:
        raise OpArgumentError(f"axis {axis} is out of range for a rank-{rank} tensor")
    return axis % rank


def broadcast(shapes: Sequence[Shape]) -> Shape:
    """The numpy broadcast of several shapes."""
    rank = max(len(s) for s in shapes)
    out: list[int] = []
    for i in range(rank):
        dims = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise OpArgumentError(
                f"shapes {' and '.join(map(str, shapes))} do not broadcast together"
            )
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def expect_rank(shape: Shape, rank: int, what: str) -> None:
    """Raise unless ``shape`` has ``rank`` dimensions."""
    if len(shape) != rank:
        raise OpArgumentError(f"{what} must have {rank} dimensions, got shape {shape}")
