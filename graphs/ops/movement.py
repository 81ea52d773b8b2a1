"""Ops that move or reinterpret data, and the graph's sources: inputs, constants, opaque ops.

Views (reshape, flatten, identity, eval-mode dropout, expand) cost nothing at run time: their
``moves_data`` is False, so they add no activation traffic. Copies (transpose, permute,
concat, slice, channel shuffle, upsample) read and write their tensors once.
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
    expect_rank,
    flag,
    integer,
    integers,
    normalize_axis,
    number,
    numel,
    pair,
)
from graphs.ops.elementwise import same_shape


def _shape_attr(name: str) -> Any:
    def normalize(attrs: dict[str, Any]) -> dict[str, Any]:
        attrs[name] = integers(attrs[name], name)
        return attrs

    return normalize


SOURCE_DTYPES = ("float32", "float64", "int64", "int32", "bool")
"""What a graph input or stored tensor holds: real values, integer ids (token ids), or a
boolean mask."""


def _source_normalize(attrs: dict[str, Any]) -> dict[str, Any]:
    if attrs["dtype"] not in SOURCE_DTYPES:
        raise OpArgumentError(f"attribute 'dtype' must be one of {', '.join(SOURCE_DTYPES)}, "
                              f"got {attrs['dtype']!r}")
    return _shape_attr("shape")(attrs)


def _declared_shape(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    shape: Shape = tuple(attrs["shape"])
    if any(d < 0 for d in shape):
        raise OpArgumentError(f"shape {shape} has a negative dimension")
    return shape


INPUT = OpSpec(
    kind="input",
    channels="source",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="none",
    infer=_declared_shape,
    summary="a graph input (dtype float32, or int64 for token ids)",
    arity=(0, 0),
    moves_data=False,
    required=("shape",),
    defaults={"dtype": "float32"},
    normalize=_source_normalize,
)


def _constant_weights(shapes: Sequence[Shape], attrs: Attrs) -> dict[str, WeightSpec]:
    return {"value": WeightSpec(tuple(attrs["shape"]),
                                counted=flag(attrs["trainable"], "trainable"))}


CONSTANT = OpSpec(
    kind="constant",
    channels="source",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="none",
    infer=_declared_shape,
    summary="a stored tensor (a parameter when trainable, else a buffer) used as an input",
    arity=(0, 0),
    weights=_constant_weights,
    weight_reads=lambda shapes, out, attrs: 0,  # its consumer reads it as an input
    moves_data=False,
    required=("shape",),
    defaults={"trainable": False, "dtype": "float32"},
    normalize=_source_normalize,
)


def _opaque_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    return tuple(attrs["output_shape"])


def _opaque_weights(shapes: Sequence[Shape], attrs: Attrs) -> dict[str, WeightSpec]:
    return {name: WeightSpec(tuple(s)) for name, s in attrs.get("weight_shapes", {}).items()}


def _opaque_normalize(attrs: dict[str, Any]) -> dict[str, Any]:
    attrs["output_shape"] = integers(attrs["output_shape"], "output_shape")
    attrs["weight_shapes"] = {
        name: integers(shape, f"weight_shapes.{name}")
        for name, shape in dict(attrs.get("weight_shapes", {})).items()
    }
    return attrs


OPAQUE = OpSpec(
    kind="opaque",
    channels="barrier",
    compressible=False,
    fuses=False,
    executable=False,
    op_class="unknown",
    infer=_opaque_infer,
    summary="an op the importer could not map (attribute 'target' names it); its parameters "
    "are counted, its arithmetic is not, and reports list it",
    arity=(0, None),
    weights=_opaque_weights,
    required=("target", "output_shape"),
    normalize=_opaque_normalize,
)


# ---------------------------------------------------------------- views


def _reshape_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    x, target = shapes[0], list(attrs["shape"])
    if target.count(-1) > 1:
        raise OpArgumentError(f"reshape target {tuple(target)} has more than one -1")
    known = numel([d for d in target if d != -1])
    if -1 in target:
        if known == 0 or numel(x) % known:
            raise OpArgumentError(f"cannot reshape {x} into {tuple(target)}")
        target[target.index(-1)] = numel(x) // known
    if numel(target) != numel(x):
        raise OpArgumentError(f"cannot reshape {x} ({numel(x)} elements) into {tuple(target)}")
    return tuple(target)


RESHAPE = OpSpec(
    kind="reshape",
    channels="reshape",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="data_movement",
    infer=_reshape_infer,
    summary="view with a new shape (one -1 allowed); no data movement",
    moves_data=False,
    required=("shape",),
    normalize=_shape_attr("shape"),
)


def _flatten_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    x = shapes[0]
    start = normalize_axis(integer(attrs["start_dim"], "start_dim"), len(x))
    end = normalize_axis(integer(attrs["end_dim"], "end_dim"), len(x))
    if end < start:
        raise OpArgumentError(f"flatten end_dim {end} is before start_dim {start}")
    return (*x[:start], numel(x[start:end + 1]), *x[end + 1:])


FLATTEN = OpSpec(
    kind="flatten",
    channels="reshape",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="data_movement",
    infer=_flatten_infer,
    summary="merge axes start_dim..end_dim into one; no data movement",
    moves_data=False,
    defaults={"start_dim": 1, "end_dim": -1},
)


def _expand_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    x, target = shapes[0], tuple(attrs["shape"])
    if len(target) < len(x):
        raise OpArgumentError(f"cannot expand {x} to fewer dimensions {target}")
    padded = (1,) * (len(target) - len(x)) + x
    out = tuple(p if t == -1 else t for p, t in zip(padded, target, strict=True))
    for p, o in zip(padded, out, strict=True):
        if p not in (1, o):
            raise OpArgumentError(f"cannot expand {x} to {target}")
    return out


EXPAND = OpSpec(
    kind="expand",
    channels="expand",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="data_movement",
    infer=_expand_infer,
    summary="broadcast view to a larger shape; no data movement",
    moves_data=False,
    required=("shape",),
    normalize=_shape_attr("shape"),
)

IDENTITY = OpSpec(
    kind="identity",
    channels="passthrough",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="none",
    infer=same_shape,
    summary="returns its input (contiguous(), nn.Identity); free",
    moves_data=False,
)

DROPOUT = OpSpec(
    kind="dropout",
    channels="passthrough",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="none",
    infer=same_shape,
    summary="dropout; the identity at inference, free",
    moves_data=False,
    defaults={"p": 0.5},
)


# ---------------------------------------------------------------- copies


def _transpose_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    x = list(shapes[0])
    a = normalize_axis(integer(attrs["dim0"], "dim0"), len(x))
    b = normalize_axis(integer(attrs["dim1"], "dim1"), len(x))
    x[a], x[b] = x[b], x[a]
    return tuple(x)


TRANSPOSE = OpSpec(
    kind="transpose",
    channels="permute",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="data_movement",
    infer=_transpose_infer,
    summary="swap two axes; one read and one write of the tensor",
    required=("dim0", "dim1"),
)


def _permute_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    x, dims = shapes[0], [normalize_axis(d, len(shapes[0]))
                      for d in integers(attrs["dims"], "dims")]
    if sorted(dims) != list(range(len(x))):
        raise OpArgumentError(f"dims {tuple(attrs['dims'])} are not a permutation of {len(x)} axes")
    return tuple(x[d] for d in dims)


PERMUTE = OpSpec(
    kind="permute",
    channels="permute",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="data_movement",
    infer=_permute_infer,
    summary="reorder axes; one read and one write of the tensor",
    required=("dims",),
    normalize=_shape_attr("dims"),
)


def _concat_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    first = shapes[0]
    axis = normalize_axis(integer(attrs["axis"], "axis"), len(first))
    for s in shapes[1:]:
        if len(s) != len(first) or any(
            a != b for i, (a, b) in enumerate(zip(s, first, strict=True)) if i != axis
        ):
            raise OpArgumentError(f"cannot concatenate {first} and {s} along axis {axis}")
    return (*first[:axis], sum(s[axis] for s in shapes), *first[axis + 1:])


CONCAT = OpSpec(
    kind="concat",
    channels="concat",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="data_movement",
    infer=_concat_infer,
    summary="join tensors along an axis; one read and one write",
    arity=(1, None),
    defaults={"axis": 1},
)


def slice_entries(index: Sequence[Any], shape: Shape) -> list[int | tuple[int, int, int]]:
    """Resolve a slice index against a shape: ints stay ints, [start, stop, step] entries
    (None allowed, as in Python) become concrete (start, stop, step) triples."""
    if len(index) > len(shape):
        raise OpArgumentError(f"index {tuple(index)} has more entries than shape {shape} axes")
    resolved: list[int | tuple[int, int, int]] = []
    for entry, size in zip(index, shape, strict=False):
        if isinstance(entry, int):
            if not -size <= entry < size:
                raise OpArgumentError(f"index {entry} out of range for an axis of {size}")
            resolved.append(entry % size)
        else:
            start, stop, step = [*entry, None, None, None][:3]
            resolved.append(slice(start, stop, step).indices(size))
    return resolved


def _slice_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    x = shapes[0]
    out: list[int] = []
    entries = slice_entries(attrs["index"], x)
    for entry in entries:
        if isinstance(entry, tuple):
            out.append(len(range(*entry)))
    return (*out, *x[len(entries):])


def _slice_normalize(attrs: dict[str, Any]) -> dict[str, Any]:
    attrs["index"] = tuple(
        integer(e, "index") if not isinstance(e, list | tuple)
        else tuple(None if v is None else integer(v, "index") for v in e)
        for e in attrs["index"]
    )
    return attrs


SLICE = OpSpec(
    kind="slice",
    channels="slice",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="data_movement",
    infer=_slice_infer,
    summary="basic indexing on leading axes: each entry an int (drops the axis) or "
    "[start, stop, step]; chunk/split become one slice per piece",
    required=("index",),
    normalize=_slice_normalize,
)


def _gather_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    data, indices = shapes
    axis = normalize_axis(integer(attrs["axis"], "axis"), len(data))
    return (*data[:axis], *indices, *data[axis + 1:])


GATHER = OpSpec(
    kind="gather",
    channels="barrier",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="gather",
    infer=_gather_infer,
    summary="np.take(data, indices, axis) of an activation by integer indices (a constant "
    "or a tensor: ONNX Gather other than an embedding lookup); a copy",
    arity=(2, 2),
    defaults={"axis": 0},
)


def _shuffle_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    x = shapes[0]
    expect_rank(x, 4, "channel_shuffle input (N, C, H, W)")
    if x[1] % integer(attrs["groups"], "groups"):
        raise OpArgumentError(f"groups={attrs['groups']} does not divide {x[1]} channels")
    return x


CHANNEL_SHUFFLE = OpSpec(
    kind="channel_shuffle",
    channels="barrier",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="data_movement",
    infer=_shuffle_infer,
    summary="ShuffleNet channel shuffle: (N, g, C/g, H, W) → transpose → (N, C, H, W)",
    required=("groups",),
)


def _upsample_normalize(attrs: dict[str, Any]) -> dict[str, Any]:
    if attrs.get("size") is not None:
        attrs["size"] = pair(attrs["size"], "size")
    elif attrs.get("scale_factor") is not None:
        scale = attrs["scale_factor"]
        sh, sw = (scale, scale) if not isinstance(scale, list | tuple) else tuple(scale)
        attrs["scale_factor"] = (number(sh, "scale_factor"), number(sw, "scale_factor"))
    else:
        raise OpArgumentError("upsample needs 'size' or 'scale_factor'")
    if attrs["mode"] not in ("nearest", "bilinear"):
        raise OpArgumentError(f"upsample mode must be nearest or bilinear, got {attrs['mode']!r}")
    return attrs


def _upsample_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    x = shapes[0]
    expect_rank(x, 4, "upsample input (N, C, H, W)")
    if attrs.get("size") is not None:
        oh, ow = attrs["size"]
    else:
        sh, sw = attrs["scale_factor"]
        oh, ow = int(x[2] * sh), int(x[3] * sw)
    return (x[0], x[1], oh, ow)


def _upsample_flops(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    """Nearest: none. Bilinear: 3 lerps of 3 FLOPs = 9 per output element."""
    return 9 * numel(out) if attrs["mode"] == "bilinear" else 0


UPSAMPLE = OpSpec(
    kind="upsample",
    channels="channel_first",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="data_movement",
    infer=_upsample_infer,
    summary="nearest or bilinear resize of H and W",
    other_flops=_upsample_flops,
    defaults={"mode": "nearest", "size": None, "scale_factor": None, "align_corners": False},
    normalize=_upsample_normalize,
)

PAD_MODES = ("constant", "reflect", "edge")


def _pad_normalize(attrs: dict[str, Any]) -> dict[str, Any]:
    attrs["pads"] = integers(attrs["pads"], "pads")
    if attrs["mode"] not in PAD_MODES:
        raise OpArgumentError(f"pad mode {attrs['mode']!r} is not one of {', '.join(PAD_MODES)}")
    attrs["value"] = number(attrs["value"], "value")
    return attrs


def _pad_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    x, pads = shapes[0], attrs["pads"]
    if len(pads) != 2 * len(x):
        raise OpArgumentError(f"pads {pads} need a begin and an end for each of the "
                              f"{len(x)} axes of {x}")
    if any(pads[a] or pads[a + len(x)] for a in range(min(2, len(x)))):
        raise OpArgumentError(f"pads {pads} pad the batch or channel axis; only the axes "
                              "after them can be padded")
    out = tuple(d + pads[i] + pads[i + len(x)] for i, d in enumerate(x))
    if min(out) < 1:
        raise OpArgumentError(f"pads {pads} leave no element of {x}")
    return out


PAD = OpSpec(
    kind="pad",
    channels="passthrough",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="data_movement",
    infer=_pad_infer,
    summary="pad the axes after the channels (ONNX pads order: every begin, then every end; "
            "negative values crop) with a constant, by reflection or by the edge value",
    required=("pads",),
    defaults={"mode": "constant", "value": 0.0},
    normalize=_pad_normalize,
)

SPECS = (
    INPUT,
    CONSTANT,
    OPAQUE,
    RESHAPE,
    FLATTEN,
    EXPAND,
    IDENTITY,
    DROPOUT,
    TRANSPOSE,
    PERMUTE,
    CONCAT,
    SLICE,
    GATHER,
    CHANNEL_SHUFFLE,
    UPSAMPLE,
    PAD,
)
