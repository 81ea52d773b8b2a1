"""Convolution and pooling over NCHW activations.

Conv weights are OIHW: ``(out_channels, in_channels // groups, kh, kw)``. Padding is stored as
(top, left, bottom, right). Output sizes follow PyTorch, including ``ceil_mode`` pooling.
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
    numel,
    padding4,
    pair,
)


def window_out(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int,
               dilation: int = 1, ceil_mode: bool = False) -> int:
    """Output length of a sliding window (PyTorch's formula, ceil_mode included).

    >>> window_out(224, 7, 2, 3, 3)
    112
    """
    extent = dilation * (kernel - 1) + 1
    span = size + pad_begin + pad_end - extent
    if span < 0:
        raise OpArgumentError(
            f"window of extent {extent} does not fit an input of {size} padded by "
            f"{pad_begin}+{pad_end}"
        )
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    # PyTorch: the last window must start inside the input or the left padding.
    if (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


def _spatial_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    attrs["kernel_size"] = pair(attrs["kernel_size"], "kernel_size")
    stride = attrs.get("stride")
    attrs["stride"] = pair(attrs["kernel_size"] if stride is None else stride, "stride")
    attrs["padding"] = padding4(attrs.get("padding", 0))
    attrs["dilation"] = pair(attrs.get("dilation", 1), "dilation")
    return attrs


def _window_shape(x: Shape, attrs: Attrs, channels: int) -> Shape:
    expect_rank(x, 4, "input (N, C, H, W)")
    kh, kw = attrs["kernel_size"]
    sh, sw = attrs["stride"]
    top, left, bottom, right = attrs["padding"]
    dh, dw = attrs["dilation"]
    ceil_mode = flag(attrs.get("ceil_mode", False), "ceil_mode")
    return (
        x[0],
        channels,
        window_out(x[2], kh, sh, top, bottom, dh, ceil_mode),
        window_out(x[3], kw, sw, left, right, dw, ceil_mode),
    )


# ---------------------------------------------------------------- conv2d


def _conv_normalize(attrs: dict[str, Any]) -> dict[str, Any]:
    attrs = _spatial_attrs(attrs)
    attrs["out_channels"] = integer(attrs["out_channels"], "out_channels")
    if attrs["out_channels"] < 1:
        raise OpArgumentError(f"out_channels must be positive, got {attrs['out_channels']}")
    attrs["groups"] = integer(attrs["groups"], "groups")
    attrs["bias"] = flag(attrs["bias"], "bias")
    return attrs


def _check_groups(x: Shape, attrs: Attrs, op: str) -> None:
    """An (N, C, H, W) input whose channels, and the out_channels, the groups divide."""
    expect_rank(x, 4, f"{op} input (N, C, H, W)")
    groups, out = attrs["groups"], attrs["out_channels"]
    if groups < 1 or x[1] % groups or out % groups:
        raise OpArgumentError(
            f"groups={groups} must divide in_channels={x[1]} and out_channels={out}"
        )


def _conv_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    _check_groups(shapes[0], attrs, "conv2d")
    return _window_shape(shapes[0], attrs, attrs["out_channels"])


def _conv_weights(shapes: Sequence[Shape], attrs: Attrs) -> dict[str, WeightSpec]:
    kh, kw = attrs["kernel_size"]
    out = attrs["out_channels"]
    weights = {"weight": WeightSpec((out, shapes[0][1] // attrs["groups"], kh, kw))}
    if attrs["bias"]:
        weights["bias"] = WeightSpec((out,))
    return weights


def conv_macs(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    """N·C_out·H_out·W_out · (C_in/groups)·kh·kw."""
    kh, kw = attrs["kernel_size"]
    return numel(out) * (shapes[0][1] // attrs["groups"]) * kh * kw


def _conv_bias_flops(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    return numel(out) if attrs["bias"] else 0


def is_depthwise(in_channels: int, attrs: Attrs) -> bool:
    """A conv whose every group sees exactly one input channel."""
    groups: int = attrs["groups"]
    return groups > 1 and groups == in_channels


def conv_gemm(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> tuple[float, float, float]:
    """(Cout/groups, N·Hout·Wout, Cin/groups·kh·kw); a depthwise conv is (C, N·Hout·Wout,
    kh·kw / stride²): its MACs per input value, which its kernels' speed follows."""
    kh, kw = attrs["kernel_size"]
    positions = numel(out) // out[1]
    if is_depthwise(shapes[0][1], attrs):
        sh, sw = attrs["stride"]
        return float(out[1]), float(positions), kh * kw / (sh * sw)
    groups = attrs["groups"]
    return float(out[1] // groups), float(positions), float(shapes[0][1] // groups * kh * kw)


def _conv_class(shapes: Sequence[Shape], attrs: Attrs) -> str:
    return "depthwise_conv" if is_depthwise(shapes[0][1], attrs) else "conv"


CONV2D = OpSpec(
    kind="conv2d",
    channels="conv",
    compressible=True,
    fuses=False,
    executable=True,
    op_class=_conv_class,
    infer=_conv_infer,
    summary="2-D convolution; MACs = N·Cout·Hout·Wout·(Cin/groups)·kh·kw; +1 FLOP/output for bias",
    weights=_conv_weights,
    macs=conv_macs,
    other_flops=_conv_bias_flops,
    gemm=conv_gemm,
    required=("out_channels", "kernel_size"),
    defaults={"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True},
    normalize=_conv_normalize,
)


# ---------------------------------------------------------------- conv_transpose2d


def _transpose_normalize(attrs: dict[str, Any]) -> dict[str, Any]:
    attrs = _conv_normalize(attrs)
    attrs["output_padding"] = pair(attrs.get("output_padding", 0), "output_padding", 0)
    return attrs


def transpose_out(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int,
                  dilation: int, output_padding: int) -> int:
    """Output length of a transposed convolution (PyTorch's and ONNX's formula).

    >>> transpose_out(16, 4, 2, 1, 1, 1, 0)
    32
    """
    out = (size - 1) * stride - pad_begin - pad_end + dilation * (kernel - 1) + (
        output_padding + 1)
    if out < 1:
        raise OpArgumentError(f"a transposed convolution of {size} gives {out} outputs")
    return out


def _transpose_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    x, out = shapes[0], attrs["out_channels"]
    _check_groups(x, attrs, "conv_transpose2d")
    (kh, kw), (sh, sw) = attrs["kernel_size"], attrs["stride"]
    top, left, bottom, right = attrs["padding"]
    (dh, dw), (oh, ow) = attrs["dilation"], attrs["output_padding"]
    return (x[0], out, transpose_out(x[2], kh, sh, top, bottom, dh, oh),
            transpose_out(x[3], kw, sw, left, right, dw, ow))


def _transpose_weights(shapes: Sequence[Shape], attrs: Attrs) -> dict[str, WeightSpec]:
    kh, kw = attrs["kernel_size"]
    out = attrs["out_channels"]
    weights = {"weight": WeightSpec((shapes[0][1], out // attrs["groups"], kh, kw))}
    if attrs["bias"]:
        weights["bias"] = WeightSpec((out,))
    return weights


def transpose_macs(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    """N·C_in·H_in·W_in · (C_out/groups)·kh·kw: every input value meets a kernel."""
    kh, kw = attrs["kernel_size"]
    return numel(shapes[0]) * (attrs["out_channels"] // attrs["groups"]) * kh * kw


CONV_TRANSPOSE2D = OpSpec(
    kind="conv_transpose2d",
    channels="barrier",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="conv",
    infer=_transpose_infer,
    summary="2-D transposed convolution (decoders, upsampling); weights (Cin, Cout/groups, "
            "kh, kw); MACs = N·Cin·Hin·Win·(Cout/groups)·kh·kw; kept as it is (not pruned or "
            "quantized yet)",
    weights=_transpose_weights,
    macs=transpose_macs,
    other_flops=_conv_bias_flops,
    required=("out_channels", "kernel_size"),
    defaults={"stride": 1, "padding": 0, "output_padding": 0, "dilation": 1, "groups": 1,
              "bias": True},
    normalize=_transpose_normalize,
)


# ---------------------------------------------------------------- pooling


def _pool_normalize(attrs: dict[str, Any]) -> dict[str, Any]:
    attrs = _spatial_attrs(attrs)
    attrs["ceil_mode"] = flag(attrs["ceil_mode"], "ceil_mode")
    return attrs


def _pool_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    expect_rank(shapes[0], 4, "pooling input (N, C, H, W)")
    return _window_shape(shapes[0], attrs, shapes[0][1])


def _window_flops(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    """One comparison or add per window element, per output element."""
    kh, kw = attrs["kernel_size"]
    return numel(out) * kh * kw


MAX_POOL2D = OpSpec(
    kind="max_pool2d",
    channels="channel_first",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="pooling",
    infer=_pool_infer,
    summary="max pooling; kh·kw comparisons per output element",
    other_flops=_window_flops,
    required=("kernel_size",),
    defaults={"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False},
    normalize=_pool_normalize,
)

AVG_POOL2D = OpSpec(
    kind="avg_pool2d",
    channels="channel_first",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="pooling",
    infer=_pool_infer,
    summary="average pooling; kh·kw adds per output element",
    other_flops=_window_flops,
    required=("kernel_size",),
    defaults={
        "stride": None,
        "padding": 0,
        "dilation": 1,
        "ceil_mode": False,
        "count_include_pad": True,
    },
    normalize=_pool_normalize,
)


def adaptive_windows(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling windows: [floor(i·size/out), ceil((i+1)·size/out))."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def _adaptive_normalize(attrs: dict[str, Any]) -> dict[str, Any]:
    attrs["output_size"] = pair(attrs["output_size"], "output_size")
    return attrs


def _adaptive_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    x = shapes[0]
    expect_rank(x, 4, "adaptive pooling input (N, C, H, W)")
    oh, ow = attrs["output_size"]
    if oh < 1 or ow < 1:
        raise OpArgumentError(f"output_size must be positive, got {attrs['output_size']}")
    return (x[0], x[1], oh, ow)


def _adaptive_flops(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    """One add (or comparison) per window element, summed over the windows."""
    x = shapes[0]
    rows = sum(b - a for a, b in adaptive_windows(x[2], out[2]))
    cols = sum(b - a for a, b in adaptive_windows(x[3], out[3]))
    return x[0] * x[1] * rows * cols


ADAPTIVE_AVG_POOL2D = OpSpec(
    kind="adaptive_avg_pool2d",
    channels="channel_first",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="pooling",
    infer=_adaptive_infer,
    summary="adaptive (global when 1×1) average pooling; one add per window element",
    other_flops=_adaptive_flops,
    required=("output_size",),
    normalize=_adaptive_normalize,
)

ADAPTIVE_MAX_POOL2D = OpSpec(
    kind="adaptive_max_pool2d",
    channels="channel_first",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="pooling",
    infer=_adaptive_infer,
    summary="adaptive max pooling; one comparison per window element",
    other_flops=_adaptive_flops,
    required=("output_size",),
    normalize=_adaptive_normalize,
)

SPECS = (CONV2D, CONV_TRANSPOSE2D, MAX_POOL2D, AVG_POOL2D, ADAPTIVE_AVG_POOL2D, ADAPTIVE_MAX_POOL2D)
