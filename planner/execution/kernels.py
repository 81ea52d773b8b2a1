"""Vectorized numpy kernels, one per op kind (a table of handlers, as the op table is).

Every kernel takes the layer, its input arrays and its weights, and returns the output and
the MACs it actually performed, counted from the shapes of the arrays it multiplied (not
from the layer's declared attributes), so a simulation reports executed work. Convolutions
use im2col through stride tricks and one matrix product (batched over groups); depthwise
convolutions are strided slices summed per kernel position, or one einsum channels last
where planes are small; depthwise slices and batch norms run over blocks of channels
that stay in cache, spread over as many threads as numpy's BLAS may use (:func:`threads`)
where a layer has blocks enough to pay for it (:data:`SPREAD_MIN_BLOCKS`); nothing loops
over pixels. Arithmetic is float32 unless the caller passes float64.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from graphs import Layer, adaptive_windows, slice_entries
from planner.execution.activations import sigmoid
from planner.execution.recurrent_kernels import recurrent

Arrays = Sequence[np.ndarray]
Weights = Mapping[str, np.ndarray]
Kernel = Callable[[Layer, Arrays, Weights], tuple[np.ndarray, int]]


class KernelError(ValueError):
    """A layer the executor cannot run (an opaque op, missing weights)."""


# ---------------------------------------------------------------- windows


def _pad(x: np.ndarray, pads: Sequence[int], value: float = 0.0) -> np.ndarray:
    """``x`` (N, C, H, W) padded by (top, left, bottom, right) with ``value``: a filled
    array with ``x`` copied into its middle (np.pad's Python bookkeeping cost a third of
    a small convolution's run)."""
    top, left, bottom, right = pads
    if not any(pads):
        return x
    if min(pads) < 0:
        raise KernelError(f"negative padding {tuple(pads)}")
    n, c, h, w = x.shape
    out = np.full((n, c, h + top + bottom, w + left + right), value, x.dtype)
    out[:, :, top:top + h, left:left + w] = x
    return out


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
             dilation: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """A (N, C, Ho, Wo, kh, kw) strided view of the windows of an already padded x."""
    n, c = x.shape[:2]
    sn, sc, sh, sw = x.strides
    return np.lib.stride_tricks.as_strided(
        x, (n, c, out_hw[0], out_hw[1], kernel[0], kernel[1]),
        (sn, sc, sh * stride[0], sw * stride[1], sh * dilation[0], sw * dilation[1]),
        writeable=False)


def _over_windows(combine: np.ufunc, x: np.ndarray, kernel: tuple[int, int],
                  stride: tuple[int, int], dilation: tuple[int, int],
                  out_hw: tuple[int, int]) -> np.ndarray:
    """``combine`` (np.maximum, np.add) of every window of an already padded ``x``, one
    (N, C, Ho, Wo) strided slice per kernel position: numpy's reduction over the window
    axes of :func:`_windows` walks them element by element (a ResNet's 3 × 3 max pool
    took a quarter of its run)."""
    windows = _windows(x, kernel, stride, dilation, out_hw)
    out = windows[..., 0, 0].copy()
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            if i or j:
                combine(out, windows[..., i, j], out=out)
    return out


def _extend_for_ceil(x: np.ndarray, out_hw: tuple[int, int], kernel: tuple[int, int],
                     stride: tuple[int, int], dilation: tuple[int, int],
                     value: float) -> np.ndarray:
    """Pad the bottom/right so that every window of a ceil_mode pool is in bounds."""
    need_h = (out_hw[0] - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1 - x.shape[2]
    need_w = (out_hw[1] - 1) * stride[1] + dilation[1] * (kernel[1] - 1) + 1 - x.shape[3]
    if need_h > 0 or need_w > 0:
        x = _pad(x, (0, 0, max(need_h, 0), max(need_w, 0)), value)
    return x


# ---------------------------------------------------------------- conv and dense


def conv2d(layer: Layer, inputs: Arrays, weights: Weights) -> tuple[np.ndarray, int]:
    """One (batched over groups) matrix product of the filters with the im2col columns,
    which lands in NCHW without a transpose; a 1×1 convolution multiplies the (strided)
    input itself; a depthwise one is :func:`_depthwise`."""
    x, w = inputs[0], weights["weight"]
    a = layer.attrs
    out_c, cin_g, kh, kw = w.shape
    groups = x.shape[1] // cin_g
    n, ho, wo = x.shape[0], *layer.output_shape[2:]
    padded = _pad(x, a["padding"])
    if groups == x.shape[1] and out_c == groups:  # depthwise: one filter per channel
        out = _depthwise(padded, w[:, 0], a["stride"], a["dilation"], (ho, wo))
    else:
        if kh == kw == 1:
            cols = padded[:, :, ::a["stride"][0], ::a["stride"][1]][:, :, :ho, :wo]
        else:
            cols = _windows(padded, (kh, kw), a["stride"], a["dilation"], (ho, wo))
            cols = cols.reshape(n, groups, cin_g, ho, wo, kh, kw).transpose(0, 1, 2, 5, 6, 3, 4)
        cols = cols.reshape(n, groups, cin_g * kh * kw, ho * wo)
        wg = w.reshape(groups, out_c // groups, cin_g * kh * kw)
        out = np.matmul(wg, cols).reshape(n, out_c, ho, wo)  # (n, groups, out_c/groups, hw)
    if "bias" in weights:
        out = out + weights["bias"][None, :, None, None]
    return np.ascontiguousarray(out), out.size * cin_g * kh * kw


DEPTHWISE_BLOCK_BYTES = 1 << 18
"""Output bytes a depthwise convolution channels first accumulates at a time (one sample,
a block of channels): small enough to stay in a core's L2 cache over the kh·kw
passes (1.6-2.5× faster than passes over the whole output on MobileNet's and
EfficientNet's large early layers at batch 8, this machine)."""
CHANNELS_LAST_BELOW = 32
"""Output width under which a depthwise convolution runs channels last, as one einsum
over a strided view of the windows: its inner loop then runs over contiguous channels
with the kernel sum fused (1.3-2.2× faster than the slices channels first at 7 to 28 pixels
wide; slower at 112 with few channels; measured at batch 1 and 8)."""


def _depthwise(x: np.ndarray, w: np.ndarray, stride: Sequence[int], dilation: Sequence[int],
               out_hw: tuple[int, int]) -> np.ndarray:
    """A depthwise convolution of an already padded x (N, C, H, W) with w (C, kh, kw), as
    (N, C, Ho, Wo) (a view when computed channels last, :data:`CHANNELS_LAST_BELOW`).
    Channels first: for each kernel position (a loop over kh·kw, not pixels) its strided
    slice of x times that position's weight per channel, accumulated in place one block
    of one sample at a time (``DEPTHWISE_BLOCK_BYTES``), the blocks spread over threads
    (:func:`_spread`). Channels last: one einsum over the (N, Ho, Wo, kh, kw, C) windows
    (einsum holds the GIL: one thread)."""
    _, kh, kw = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    ho, wo = out_hw
    n, c = x.shape[:2]
    dtype = np.result_type(x, w)
    if wo >= CHANNELS_LAST_BELOW:
        out = np.empty((n, c, ho, wo), dtype)
        positions = [divmod(k, kw) for k in range(kh * kw)]

        def planes(share: list[tuple[int, int, int]]) -> None:
            for b, c0, c1 in share:
                _accumulate(out[b, c0:c1], (
                    (x[b, c0:c1, i * dh:i * dh + (ho - 1) * sh + 1:sh,
                       j * dw:j * dw + (wo - 1) * sw + 1:sw], w[c0:c1, i, j, None, None])
                    for i, j in positions))

        _spread(planes, _channel_blocks(out))
        return out
    pixels = np.ascontiguousarray(x.transpose(0, 2, 3, 1), dtype=dtype)
    taps = np.ascontiguousarray(w.transpose(1, 2, 0), dtype=dtype)
    sn, sy, sx, sc = pixels.strides
    windows = np.lib.stride_tricks.as_strided(
        pixels, (n, ho, wo, kh, kw, c), (sn, sy * sh, sx * sw, sy * dh, sx * dw, sc),
        writeable=False)
    last = np.einsum("nhwijc,ijc->nhwc", windows, taps, optimize=False)
    return last.transpose(0, 3, 1, 2)


def _accumulate(acc: np.ndarray, terms: Iterable[tuple[np.ndarray, np.ndarray]]) -> None:
    """acc = Σ window × weight over ``terms``, in place with one scratch array."""
    product = np.empty_like(acc)
    for k, (window, weight) in enumerate(terms):
        np.multiply(window, weight, out=product if k else acc)
        if k:
            acc += product


def _channel_blocks(out: np.ndarray) -> list[tuple[int, int, int]]:
    """(sample, first channel, end channel) blocks of an (N, C, …) output of about
    ``DEPTHWISE_BLOCK_BYTES`` each."""
    n, c = out.shape[:2]
    step = max(1, DEPTHWISE_BLOCK_BYTES // max(1, out[0, 0].nbytes))
    return [(b, c0, min(c, c0 + step)) for b in range(n) for c0 in range(0, c, step)]


SPREAD_MIN_BLOCKS = 32
"""Blocks a layer needs before its loop is spread over threads: fewer, and the threads
wait on the GIL between numpy calls more than they gain (a depthwise convolution at 2
threads on 2 cores ran 0.8-1.0x as fast as on one at 2 to 20 blocks, MobileNet's at batch
1; 1.1x at 16 blocks, 1.5-1.7x at 64 and 160, batch 8)."""


def _spread(run: Callable[[list[Any]], None], items: list[Any]) -> None:
    """``run`` over shares of ``items`` on :func:`threads` threads (numpy releases the GIL
    in its loops) when there are :data:`SPREAD_MIN_BLOCKS` of them, else on this one;
    ``run`` must write disjoint outputs per item."""
    count = min(threads(), len(items))
    if count <= 1 or len(items) < SPREAD_MIN_BLOCKS:
        run(items)
    else:
        list(_workers(count).map(run, [items[k::count] for k in range(count)]))


def threads() -> int:
    """Threads the executor's own parallel loops may use: as many as the BLAS library
    runs with now, so a ``threadpool_limits`` around a run limits these too."""
    found = [lib["num_threads"] for lib in _controller().info()]
    return max(found, default=1)


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


@functools.cache
def _workers(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix="planner-kernels")


def conv_transpose2d(layer: Layer, inputs: Arrays, weights: Weights
                     ) -> tuple[np.ndarray, int]:
    """One (batched over groups) matrix product gives every input pixel's contribution at
    every kernel position; each kernel position is then added into the strided output
    (a loop over kernel positions, not pixels), and the padding is cropped."""
    x, w = inputs[0], weights["weight"]
    a = layer.attrs
    n, cin, h, wd = x.shape
    groups = a["groups"]
    cig, cog, kh, kw = cin // groups, w.shape[1], w.shape[2], w.shape[3]
    (sh, sw), (dh, dw) = a["stride"], a["dilation"]
    top, left = a["padding"][0], a["padding"][1]
    oh, ow = layer.output_shape[2:]
    wg = w.reshape(groups, cig, cog * kh * kw).transpose(0, 2, 1)  # (g, cog·kh·kw, cig)
    cols = np.matmul(wg[None], x.reshape(n, groups, cig, h * wd))   # (n, g, cog·kh·kw, h·w)
    cols = cols.reshape(n, groups * cog, kh, kw, h, wd)
    full = np.zeros((n, groups * cog, max((h - 1) * sh + dh * (kh - 1) + 1, top + oh),
                     max((wd - 1) * sw + dw * (kw - 1) + 1, left + ow)), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            full[:, :, i * dh:i * dh + (h - 1) * sh + 1:sh,
                 j * dw:j * dw + (wd - 1) * sw + 1:sw] += cols[:, :, i, j]
    out = full[:, :, top:top + oh, left:left + ow]
    if "bias" in weights:
        out = out + weights["bias"][None, :, None, None]
    return np.ascontiguousarray(out), x.size * cog * kh * kw


def linear(layer: Layer, inputs: Arrays, weights: Weights) -> tuple[np.ndarray, int]:
    """x @ Wᵀ + b on the last axis."""
    x, w = inputs[0], weights["weight"]
    out = x @ w.T
    if "bias" in weights:
        out = out + weights["bias"]
    return out, out.size * w.shape[1]


def matmul(layer: Layer, inputs: Arrays, weights: Weights) -> tuple[np.ndarray, int]:
    """Batched matrix product of two activations."""
    out = np.matmul(inputs[0], inputs[1])
    return out, out.size * inputs[0].shape[-1]


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def _attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float,
               causal: bool = False) -> tuple[np.ndarray, int]:
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) * scale
    if causal:
        mask = np.triu(np.ones(scores.shape[-2:], dtype=bool), 1)
        scores = np.where(mask, -np.inf, scores)
    out = np.matmul(_softmax(scores, -1), v)
    return out, scores.size * q.shape[-1] + out.size * k.shape[-2]


def sdpa(layer: Layer, inputs: Arrays, weights: Weights) -> tuple[np.ndarray, int]:
    """softmax(q·kᵀ·scale)·v."""
    q, k, v = inputs
    scale = layer.attrs.get("scale") or 1.0 / math.sqrt(q.shape[-1])
    return _attention(q, k, v, scale, bool(layer.attrs.get("is_causal")))


def multihead_attention(layer: Layer, inputs: Arrays,
                        weights: Weights) -> tuple[np.ndarray, int]:
    """nn.MultiheadAttention's inference path (packed projections, no masks)."""
    q, k, v = inputs
    if not layer.attrs["batch_first"]:
        q, k, v = (np.swapaxes(t, 0, 1) for t in (q, k, v))
    e, heads = layer.attrs["embed_dim"], layer.attrs["num_heads"]
    w_in = weights["in_proj_weight"]
    b_in = weights.get("in_proj_bias", np.zeros(3 * e, dtype=w_in.dtype))
    proj = [t @ w_in[i * e:(i + 1) * e].T + b_in[i * e:(i + 1) * e]
            for i, t in enumerate((q, k, v))]
    macs = sum(p.size * e for p in proj)
    n = q.shape[0]
    split = [p.reshape(n, p.shape[1], heads, e // heads).transpose(0, 2, 1, 3) for p in proj]
    ctx, attn_macs = _attention(split[0], split[1], split[2], 1.0 / math.sqrt(e // heads))
    ctx = ctx.transpose(0, 2, 1, 3).reshape(n, q.shape[1], e)
    out = ctx @ weights["out_proj_weight"].T
    if "out_proj_bias" in weights:
        out = out + weights["out_proj_bias"]
    macs += attn_macs + out.size * e
    if not layer.attrs["batch_first"]:
        out = np.swapaxes(out, 0, 1)
    return np.ascontiguousarray(out), macs


def embedding(layer: Layer, inputs: Arrays, weights: Weights) -> tuple[np.ndarray, int]:
    """Row lookup."""
    return np.take(weights["weight"], inputs[0].astype(np.int64), axis=0), 0


def einsum(layer: Layer, inputs: Arrays, weights: Weights) -> tuple[np.ndarray, int]:
    """np.einsum; MACs of a two-operand contraction = product of every index size."""
    out = np.einsum(layer.attrs["equation"], *inputs, optimize=True)
    if len(inputs) != 2:
        return out, 0
    from graphs import parse_einsum

    _, _, sizes = parse_einsum(layer.attrs["equation"], [i.shape for i in inputs])
    return out, math.prod(sizes.values())


# ---------------------------------------------------------------- pooling and normalisation


def _pool(layer: Layer, x: np.ndarray, mode: str) -> np.ndarray:
    a = layer.attrs
    kernel, stride = a["kernel_size"], a["stride"]
    dilation = a.get("dilation", (1, 1))
    out_hw = (layer.output_shape[2], layer.output_shape[3])
    fill = -np.inf if mode == "max" else 0.0
    padded = _extend_for_ceil(_pad(x, a["padding"], fill), out_hw, kernel, stride, dilation,
                              fill)
    if mode == "max":
        return _over_windows(np.maximum, padded, kernel, stride, dilation, out_hw)
    total = _over_windows(np.add, padded, kernel, stride, dilation, out_hw)
    # divisor: the window's cells inside the input (and inside the padding when counted)
    top, left, bottom, right = a["padding"]
    mask = np.zeros((1, 1, x.shape[2] + top + bottom, x.shape[3] + left + right), x.dtype)
    if a.get("count_include_pad", True):
        mask[...] = 1.0
    else:
        mask[:, :, top:top + x.shape[2], left:left + x.shape[3]] = 1.0
    mask = _extend_for_ceil(mask, out_hw, kernel, stride, dilation, 0.0)
    counts = _over_windows(np.add, mask, kernel, stride, dilation, out_hw)
    return total / counts


def _adaptive(layer: Layer, x: np.ndarray, mode: str) -> np.ndarray:
    oh, ow = layer.attrs["output_size"]
    h, w = x.shape[2:]
    if h % oh == 0 and w % ow == 0:  # equal windows: a reshape and a reduction
        blocks = x.reshape(*x.shape[:2], oh, h // oh, ow, w // ow)
        return blocks.max(axis=(3, 5)) if mode == "max" else blocks.mean(axis=(3, 5))
    rows, cols = adaptive_windows(h, oh), adaptive_windows(w, ow)
    if mode == "avg":  # window sums from an integral image, all at once
        integral = np.zeros((*x.shape[:2], h + 1, w + 1), dtype=np.float64)
        integral[:, :, 1:, 1:] = x.cumsum(2).cumsum(3)
        r0, r1 = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
        c0, c1 = np.array([c[0] for c in cols]), np.array([c[1] for c in cols])
        sums = (integral[:, :, r1][:, :, :, c1] - integral[:, :, r0][:, :, :, c1]
                - integral[:, :, r1][:, :, :, c0] + integral[:, :, r0][:, :, :, c0])
        area = np.outer(r1 - r0, c1 - c0)
        return (sums / area).astype(x.dtype)
    out = np.empty((*x.shape[:2], oh, ow), dtype=x.dtype)
    for i, (a0, a1) in enumerate(rows):  # uneven max windows: one reduction per output cell
        for j, (b0, b1) in enumerate(cols):
            out[:, :, i, j] = x[:, :, a0:a1, b0:b1].max(axis=(2, 3))
    return out


def batch_norm(layer: Layer, inputs: Arrays, weights: Weights) -> tuple[np.ndarray, int]:
    """Inference batch norm as a per-channel scale and shift."""
    x = inputs[0]
    scale = 1.0 / np.sqrt(weights["running_var"] + layer.attrs["eps"])
    shift = -weights["running_mean"] * scale
    if "weight" in weights:
        scale, shift = scale * weights["weight"], shift * weights["weight"] + weights["bias"]
    scale, shift = scale.astype(x.dtype), shift.astype(x.dtype)
    if x.ndim != 4:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return x * scale.reshape(shape) + shift.reshape(shape), 0
    out = np.empty_like(x)

    def run(share: list[tuple[int, int, int]]) -> None:
        for b, c0, c1 in share:  # each block stays in cache for both passes
            block = out[b, c0:c1]
            np.multiply(x[b, c0:c1], scale[c0:c1, None, None], out=block)
            block += shift[c0:c1, None, None]

    _spread(run, _channel_blocks(out))
    return out, 0


def layer_norm(layer: Layer, inputs: Arrays, weights: Weights) -> tuple[np.ndarray, int]:
    """Normalise over the trailing axes, then the affine transform."""
    x = inputs[0]
    axes = tuple(range(x.ndim - len(layer.attrs["normalized_shape"]), x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    out = (x - mean) / np.sqrt(var + layer.attrs["eps"])
    if "weight" in weights:
        out = out * weights["weight"]
    if "bias" in weights:
        out = out + weights["bias"]
    return out, 0


# ---------------------------------------------------------------- elementwise


ERFC_FIT = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807,
            -1.13520398, 1.48851587, -0.82215223, 0.17087277)
"""Numerical Recipes' Chebyshev fit: erfc(z) ≈ t·exp(−z² + Σ_k c_k t^k), t = 1/(1 + z/2)."""


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, to 1.2e-7 in float64 (Numerical Recipes' erfc fit,
    :data:`ERFC_FIT`; numpy has none and scipy is not a dependency), computed in float32
    for float32 inputs (then to 4e-7: float32's resolution) and in float64 otherwise; odd,
    evaluated in place (Horner) on two temporaries."""
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    z = np.abs(x.astype(dtype, copy=False))
    t = z * 0.5
    t += 1.0
    np.reciprocal(t, out=t)
    poly = np.full_like(t, ERFC_FIT[-1])
    for c in reversed(ERFC_FIT[:-1]):
        poly *= t
        poly += c
    np.square(z, out=z)
    poly -= z
    np.exp(poly, out=poly)
    poly *= t
    np.subtract(1.0, poly, out=poly)
    np.copysign(poly, x, out=poly)
    return poly.astype(x.dtype, copy=False)


def _gelu(x: np.ndarray, approximate: str) -> np.ndarray:
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def _relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0); a float clipped to [0, ∞] (numpy's clip has a vector loop, its maximum
    with a scalar does not: 0.11 against 0.37 ns per float32 element here)."""
    if np.issubdtype(x.dtype, np.floating):
        return np.clip(x, 0, np.inf)
    return np.maximum(x, 0)


def _silu(x: np.ndarray) -> np.ndarray:
    """x·σ(x) = x / (1 + exp(−x)) in four passes, one exp (below x ≈ −88 in float32 it is
    −0, within 3e-37 of the exact value; see :func:`~planner.execution.activations.sigmoid`)."""
    out = np.negative(x)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1.0
    np.divide(x, out, out=out)
    return out


UNARY: dict[str, Callable[[np.ndarray, Mapping[str, Any]], np.ndarray]] = {
    "relu": lambda x, a: _relu(x),
    "relu6": lambda x, a: np.clip(x, 0, 6),
    "clamp": lambda x, a: np.clip(x, a.get("min"), a.get("max")),
    "hardswish": lambda x, a: x * np.clip(x + 3, 0, 6) / 6,
    "hardsigmoid": lambda x, a: np.clip(x + 3, 0, 6) / 6 if (a["alpha"], a["beta"]) == (
        1 / 6, 0.5) else np.clip(np.float32(a["alpha"]) * x + np.float32(a["beta"]), 0, 1),
    "sigmoid": lambda x, a: sigmoid(x),
    "silu": lambda x, a: _silu(x),
    "gelu": lambda x, a: _gelu(x, a.get("approximate", "none")),
    "tanh": lambda x, a: np.tanh(x),
    "erf": lambda x, a: erf(x),
    "sqrt": lambda x, a: np.sqrt(x),
    "exp": lambda x, a: np.exp(x),
    "log": lambda x, a: np.log(x),
    "neg": lambda x, a: -x,
    "abs": lambda x, a: np.abs(x),
    "reciprocal": lambda x, a: np.reciprocal(x),
    "sin": lambda x, a: np.sin(x),
    "cos": lambda x, a: np.cos(x),
    "floor": lambda x, a: np.floor(x),
    "ceil": lambda x, a: np.ceil(x),
    "isnan": lambda x, a: np.isnan(x),
    "logical_not": lambda x, a: np.logical_not(x),
    "cast": lambda x, a: x.astype(a["dtype"]),
}

BINARY: dict[str, Callable[[np.ndarray, Any], np.ndarray]] = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
    "equal": np.equal, "greater": np.greater, "greater_equal": np.greater_equal,
    "less": np.less, "less_equal": np.less_equal, "logical_and": np.logical_and,
    "logical_or": np.logical_or, "maximum": np.maximum, "minimum": np.minimum,
}


def _binary(layer: Layer, inputs: Arrays, weights: Weights) -> tuple[np.ndarray, int]:
    fn = BINARY[layer.op]
    if len(inputs) == 2:
        return fn(inputs[0], inputs[1]), 0
    scalar = np.asarray(layer.attrs["scalar"], dtype=inputs[0].dtype)
    return (fn(scalar, inputs[0]) if layer.attrs.get("reverse") else fn(inputs[0], scalar)), 0


# ---------------------------------------------------------------- data movement


def _slice(layer: Layer, x: np.ndarray) -> np.ndarray:
    index = tuple(e if isinstance(e, int) else slice(*e)
                  for e in slice_entries(layer.attrs["index"], x.shape))
    return x[index]


def _pad_layer(layer: Layer, x: np.ndarray) -> np.ndarray:
    """np.pad for the positive pads, then a crop for the negative ones."""
    pads, rank = layer.attrs["pads"], x.ndim
    widths = [(max(pads[i], 0), max(pads[i + rank], 0)) for i in range(rank)]
    mode = layer.attrs["mode"]
    padded = (np.pad(x, widths, constant_values=layer.attrs["value"]) if mode == "constant"
              else np.pad(x, widths, mode=mode))
    crop = tuple(slice(max(-pads[i], 0), padded.shape[i] - max(-pads[i + rank], 0))
                 for i in range(rank))
    return padded[crop]


def _shuffle(layer: Layer, x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    g = layer.attrs["groups"]
    return x.reshape(n, g, c // g, h, w).transpose(0, 2, 1, 3, 4).reshape(n, c, h, w)


def _source_index(out: int, size: int, align: bool) -> np.ndarray:
    """PyTorch's bilinear source coordinates for one axis."""
    if align and out > 1:
        return np.arange(out) * (size - 1) / (out - 1)
    return np.maximum((np.arange(out) + 0.5) * size / out - 0.5, 0)


def _upsample(layer: Layer, x: np.ndarray) -> np.ndarray:
    oh, ow = layer.output_shape[2:]
    h, w = x.shape[2:]
    if layer.attrs["mode"] == "nearest":
        rows = np.minimum((np.arange(oh) * h / oh).astype(int), h - 1)
        cols = np.minimum((np.arange(ow) * w / ow).astype(int), w - 1)
        return x[:, :, rows][:, :, :, cols]
    align = bool(layer.attrs.get("align_corners"))
    y, xs = _source_index(oh, h, align), _source_index(ow, w, align)
    y0, x0 = np.floor(y).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (y - y0)[:, None], (xs - x0)[None, :]
    top = x[:, :, y0][:, :, :, x0] * (1 - wx) + x[:, :, y0][:, :, :, x1] * wx
    bottom = x[:, :, y1][:, :, :, x0] * (1 - wx) + x[:, :, y1][:, :, :, x1] * wx
    return (top * (1 - wy) + bottom * wy).astype(x.dtype)


def _l2_norm(x: np.ndarray, axis: tuple[int, ...], keepdims: bool) -> np.ndarray:
    return np.sqrt(np.sum(np.square(x), axis=axis, keepdims=keepdims))


REDUCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "mean": np.mean, "sum": np.sum, "amax": np.max, "amin": np.min, "l2_norm": _l2_norm}


def group_norm(layer: Layer, inputs: Arrays, weights: Weights) -> tuple[np.ndarray, int]:
    """Normalise each sample's channel groups over their channels and positions, then the
    per-channel affine transform."""
    x = inputs[0]
    n, c = x.shape[:2]
    grouped = x.reshape(n, layer.attrs["num_groups"], -1)
    mean = grouped.mean(axis=-1, keepdims=True)
    var = grouped.var(axis=-1, keepdims=True)
    out = ((grouped - mean) / np.sqrt(var + layer.attrs["eps"])).reshape(x.shape)
    if "weight" in weights:
        shape = (1, c) + (1,) * (x.ndim - 2)
        out = out * weights["weight"].reshape(shape) + weights["bias"].reshape(shape)
    return out.astype(x.dtype, copy=False), 0


def _where(layer: Layer, inputs: Arrays, weights: Weights) -> tuple[np.ndarray, int]:
    condition, a, b = inputs
    return np.where(condition.astype(bool, copy=False), a, b), 0


def _gather(layer: Layer, inputs: Arrays, weights: Weights) -> tuple[np.ndarray, int]:
    data, indices = inputs
    return np.take(data, indices.astype(np.int64, copy=False), axis=layer.attrs["axis"]), 0


def _reduction(fn: Callable[..., np.ndarray]) -> Callable[[Layer, np.ndarray], np.ndarray]:
    """A reduction over the layer's ``axes``."""
    return lambda layer, x: fn(x, axis=tuple(layer.attrs["axes"]),
                               keepdims=layer.attrs["keepdim"])


def _unary(fn: Callable[[np.ndarray, Any], np.ndarray]
           ) -> Callable[[Layer, np.ndarray], np.ndarray]:
    """An elementwise function of the input and the layer's attributes, in one call
    (in blocks of 32k elements it took 2-3x as long: copying them into the output)."""
    return lambda layer, x: fn(x, layer.attrs)


def _plain(fn: Callable[[Layer, np.ndarray], np.ndarray]) -> Kernel:
    """A kernel of one input with no MACs."""
    def kernel(layer: Layer, inputs: Arrays, weights: Weights) -> tuple[np.ndarray, int]:
        return fn(layer, inputs[0]), 0

    return kernel


KERNELS: dict[str, Kernel] = {
    "conv2d": conv2d,
    "conv_transpose2d": conv_transpose2d,
    "linear": linear,
    "matmul": matmul,
    "scaled_dot_product_attention": sdpa,
    "multihead_attention": multihead_attention,
    "embedding": embedding,
    "einsum": einsum,
    "batch_norm": batch_norm,
    "layer_norm": layer_norm,
    "group_norm": group_norm,
    "lstm": recurrent,
    "gru": recurrent,
    "where": _where,
    "gather": _gather,
    "max_pool2d": _plain(lambda layer, x: _pool(layer, x, "max")),
    "avg_pool2d": _plain(lambda layer, x: _pool(layer, x, "avg")),
    "adaptive_avg_pool2d": _plain(lambda layer, x: _adaptive(layer, x, "avg")),
    "adaptive_max_pool2d": _plain(lambda layer, x: _adaptive(layer, x, "max")),
    **{op: _plain(_reduction(fn)) for op, fn in REDUCTIONS.items()},
    "softmax": _plain(lambda layer, x: _softmax(x, layer.attrs["axis"])),
    "concat": lambda layer, inputs, w: (np.concatenate(inputs, axis=layer.attrs["axis"]), 0),
    "flatten": _plain(lambda layer, x: x.reshape(
        *x.shape[:layer.attrs["start_dim"] % x.ndim], -1,
        *x.shape[layer.attrs["end_dim"] % x.ndim + 1:])),
    "reshape": _plain(lambda layer, x: x.reshape(layer.output_shape)),
    "expand": _plain(lambda layer, x: np.broadcast_to(x, layer.output_shape)),
    "transpose": _plain(lambda layer, x: np.swapaxes(x, layer.attrs["dim0"],
                                                     layer.attrs["dim1"])),
    "permute": _plain(lambda layer, x: np.transpose(x, layer.attrs["dims"])),
    "slice": _plain(_slice),
    "channel_shuffle": _plain(_shuffle),
    "pad": _plain(_pad_layer),
    "upsample": _plain(_upsample),
    "dropout": _plain(lambda layer, x: x),
    "identity": _plain(lambda layer, x: x),
    **{op: _plain(_unary(fn)) for op, fn in UNARY.items()},
    **dict.fromkeys(BINARY, _binary),
}
