"""Weight transforms of one layer under one choice, shared by the planner and the simulator.

The order is: structured pruning (channels chosen by summed L1 norm within each channel
class, so residual branches drop the same channels), low-rank factorisation (SVD for
linear and 1×1 convs, Tucker-2 by truncated HOSVD for k×k convs), unstructured magnitude
pruning, then storage in the chosen weight format.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphs import Graph, Layer, is_depthwise
from planner.compression.coupling import Coupling, Space, kept
from planner.compression.storage import Encoded, bias_bits, encode


@dataclass(frozen=True)
class Choice:
    """How one layer is compressed and where it runs.

    ``keep_in``/``keep_out``: structured keep ratios of the input and output channel groups;
    ``sparsity``: fraction of weights zeroed by magnitude; ``fmt``: weight storage format;
    ``rank``: low-rank fraction (1 = not factorised); ``processor``/``dtype``: where and in
    which dtype it computes (activations are stored at the dtype's width).
    """

    keep_in: float = 1.0
    keep_out: float = 1.0
    sparsity: float = 0.0
    fmt: str = "fp32"
    rank: float = 1.0
    processor: str = "cpu"
    dtype: str = "fp32"


WEIGHT_KEYS = {"conv2d": "weight", "linear": "weight", "embedding": "weight"}


# ---------------------------------------------------------------- channel selection


def channel_selection(graph: Graph, coupling: Coupling, ratios: Mapping[int, float]
                      ) -> dict[int, np.ndarray]:
    """Kept channel indices of every channel class (segment) whose group is pruned.

    A channel's importance is the summed L1 norm of the weights that produce it in every
    layer of its class; without weights the first channels are kept. Groups whose quantum
    is above 1 (grouped convolutions) keep the same number of channels in each chunk.
    """
    selection: dict[int, np.ndarray] = {}
    for group in coupling.groups():
        ratio = ratios.get(group.id, 1.0)
        if ratio >= 1:
            continue
        for seg, size in coupling.group_segments(group.id).items():
            importance = np.zeros(size)
            for owner in coupling.segment_owners.get(seg, []):
                layer = graph[owner]
                key = WEIGHT_KEYS.get(layer.op)
                if layer.weights is not None and key:
                    w = np.abs(layer.weights[key])
                    importance += (w.reshape(w.shape[0], -1).sum(1) if layer.op != "embedding"
                                   else w.sum(0))
            selection[seg] = _top_channels(importance, kept(size, ratio, group.quantum),
                                           group.quantum)
    return selection


def _top_channels(importance: np.ndarray, count: int, chunks: int) -> np.ndarray:
    """Indices of the ``count`` most important channels, equally many from each of
    ``chunks`` contiguous chunks, sorted."""
    size = importance.size
    per_chunk, width = count // chunks, size // chunks
    picks = []
    for c in range(chunks):
        block = importance[c * width:(c + 1) * width]
        order = np.argsort(-block, kind="stable")[:per_chunk]
        picks.append(np.sort(order) + c * width)
    return np.concatenate(picks)


def tensor_indices(space: Space | None, selection: Mapping[int, np.ndarray]) -> np.ndarray | None:
    """Indices kept along a tensor's channel axis (None when all are kept)."""
    if space is None or not any(seg in selection for seg in space.segments):
        return None
    parts, offset = [], 0
    for seg, size in zip(space.segments, space.sizes, strict=True):
        idx = selection.get(seg, np.arange(size))
        parts.append(idx + offset)
        offset += size
    channels = np.concatenate(parts)
    m = space.multiplier
    return (channels[:, None] * m + np.arange(m)[None, :]).ravel() if m > 1 else channels


# ---------------------------------------------------------------- pruning one layer


def prune_weights(layer: Layer, in_idx: np.ndarray | None, out_idx: np.ndarray | None
                  ) -> dict[str, np.ndarray]:
    """A layer's weights restricted to kept input and output channels."""
    if layer.weights is None:
        return {}
    w = dict(layer.weights)
    op = layer.op
    if op == "conv2d":
        weight = w["weight"]
        groups = layer.attrs["groups"]
        if is_depthwise(layer.input_shapes[0][1], layer.attrs):
            idx = in_idx if in_idx is not None else out_idx
            return {k: v[idx] for k, v in w.items()} if idx is not None else w
        if out_idx is not None:
            weight = weight[out_idx]
            if "bias" in w:
                w["bias"] = w["bias"][out_idx]
        if in_idx is not None:
            cin_g = layer.input_shapes[0][1] // groups
            per_group = in_idx.size // groups
            local = (in_idx.reshape(groups, per_group) - np.arange(groups)[:, None] * cin_g)
            out_groups = (out_idx if out_idx is not None else np.arange(weight.shape[0]))
            group_of = out_groups // (layer.attrs["out_channels"] // groups)
            weight = np.take_along_axis(weight, local[group_of][:, :, None, None], axis=1)
        w["weight"] = weight
        return w
    if op == "linear":
        weight = w["weight"]
        if out_idx is not None:
            weight = weight[out_idx]
            if "bias" in w:
                w["bias"] = w["bias"][out_idx]
        if in_idx is not None:
            weight = weight[:, in_idx]
        w["weight"] = weight
        return w
    if op == "embedding":
        return {"weight": w["weight"][:, out_idx]} if out_idx is not None else w
    if op in ("batch_norm", "layer_norm") and in_idx is not None:
        return {k: v[in_idx] for k, v in w.items()}
    return w


# ---------------------------------------------------------------- low rank


@dataclass(frozen=True)
class Factor:
    """One layer of a factorisation: op, attributes and weights."""

    op: str
    attrs: dict[str, Any]
    weights: dict[str, np.ndarray]


def rank_of(full: int, fraction: float) -> int:
    """Rank kept at ``fraction`` of ``full`` (at least 1)."""
    return max(1, round(fraction * full))


def lowrank_shapes(op: str, attrs: Mapping[str, Any], in_channels: int, out_channels: int,
                   fraction: float, require_savings: bool = True
                   ) -> list[tuple[str, int, int]] | None:
    """(kind, in, out) of each factor; None for ops that do not factorise, or (with
    ``require_savings``) when the factors would hold as many parameters as the layer.

    Linear and 1×1 convs: SVD into in→k→out. k×k convs: Tucker-2 into in→r_in (1×1),
    r_in→r_out (k×k), r_out→out (1×1).
    """
    if op == "linear" or (op == "conv2d" and tuple(attrs["kernel_size"]) == (1, 1)
                          and attrs["groups"] == 1):
        k = rank_of(min(in_channels, out_channels), fraction)
        if require_savings and k * (in_channels + out_channels) >= in_channels * out_channels:
            return None
        return [("first", in_channels, k), ("last", k, out_channels)]
    if op == "conv2d" and attrs["groups"] == 1:
        kh, kw = attrs["kernel_size"]
        r_in, r_out = rank_of(in_channels, fraction), rank_of(out_channels, fraction)
        factored = in_channels * r_in + r_in * r_out * kh * kw + r_out * out_channels
        if require_savings and factored >= in_channels * out_channels * kh * kw:
            return None
        return [("in", in_channels, r_in), ("core", r_in, r_out), ("out", r_out, out_channels)]
    return None


def factor_specs(op: str, attrs: Mapping[str, Any], shapes: list[tuple[str, int, int]]
                 ) -> list[tuple[str, dict[str, Any]]]:
    """(op, attributes) of each factor of :func:`lowrank_shapes`: the first factor keeps
    the original stride and padding (a 1×1 conv's, or the core of a Tucker-2); only the
    last factor has the bias."""
    bias = bool(attrs["bias"])
    specs: list[tuple[str, dict[str, Any]]] = []
    for kind, _, cout in shapes:
        last = kind in ("last", "out")
        if op == "linear":
            specs.append(("linear", {"out_features": cout, "bias": bias and last}))
        elif kind in ("first", "core"):
            specs.append(("conv2d", {**attrs, "out_channels": cout, "bias": False}))
        else:
            specs.append(("conv2d", _pointwise(cout, bias and last)))
    return specs


def factorize(layer: Layer, weights: Mapping[str, np.ndarray], fraction: float,
              require_savings: bool = True) -> list[Factor]:
    """Replace ``layer`` (already pruned to ``weights``) by its low-rank factors, with the
    attributes of :func:`factor_specs`."""
    w = np.asarray(weights["weight"], dtype=np.float64)
    bias = weights.get("bias")
    out_c, in_c = w.shape[0], w.shape[1]
    shapes = lowrank_shapes(layer.op, {**layer.attrs, "out_channels": out_c}, in_c, out_c,
                            fraction, require_savings)
    if shapes is None:
        raise ValueError(f"layer {layer.name!r}: rank fraction {fraction} does not factorise "
                         "it with fewer parameters")
    specs = factor_specs(layer.op, {**layer.attrs, "out_channels": out_c}, shapes)
    if len(shapes) == 2:  # SVD: W ≈ (U_k S_k) · V_kᵀ
        u, s, vt = np.linalg.svd(w.reshape(out_c, in_c), full_matrices=False)
        k = shapes[0][2]
        mats = [vt[:k], u[:, :k] * s[:k]]
        if layer.op == "conv2d":
            mats = [m[:, :, None, None] for m in mats]
    else:  # Tucker-2 by truncated HOSVD: W ≈ core ×₀ U_out ×₁ U_in
        r_in, r_out = shapes[0][2], shapes[1][2]
        u_out = np.linalg.svd(w.reshape(out_c, -1), full_matrices=False)[0][:, :r_out]
        u_in = np.linalg.svd(w.transpose(1, 0, 2, 3).reshape(in_c, -1),
                             full_matrices=False)[0][:, :r_in]
        core = np.einsum("oihw,or,is->rshw", w, u_out, u_in, optimize=True)
        mats = [u_in.T[:, :, None, None], core, u_out[:, :, None, None]]
    factors = []
    for i, ((op, attrs), mat) in enumerate(zip(specs, mats, strict=True)):
        last = i == len(specs) - 1
        factors.append(Factor(op, attrs, _with_bias(mat, bias if last else None)))
    return factors


def _pointwise(out_channels: int, bias: bool) -> dict[str, Any]:
    return {"out_channels": out_channels, "kernel_size": (1, 1), "stride": (1, 1),
            "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1, "bias": bias}


def _with_bias(weight: np.ndarray, bias: np.ndarray | None) -> dict[str, np.ndarray]:
    out = {"weight": np.asarray(weight, dtype=np.float32)}
    if bias is not None:
        out["bias"] = np.asarray(bias, dtype=np.float32)
    return out


def reconstruct(factors: list[Factor]) -> np.ndarray:
    """The dense weight a factorisation computes (to measure its error)."""
    mats = [f.weights["weight"].astype(np.float64) for f in factors]
    if len(factors) == 2:
        first, last = mats
        if first.ndim == 2:
            return last @ first
        return np.einsum("ok,kihw->oihw", last[:, :, 0, 0], first)
    u_in, core, u_out = mats
    return np.einsum("or,rshw,si->oihw", u_out[:, :, 0, 0], core, u_in[:, :, 0, 0],
                     optimize=True)


# ---------------------------------------------------------------- storing a layer


@dataclass(frozen=True)
class StoredTensor:
    """One weight tensor of a compressed layer as stored."""

    name: str
    encoded: Encoded


def store(weights: Mapping[str, np.ndarray], fmt: str, sparsity: float, dtype_bits: int
          ) -> tuple[dict[str, np.ndarray], int, list[StoredTensor]]:
    """Encode a layer's weights: the main tensors (``weight``, ``in_proj_weight``, …) in
    ``fmt`` at ``sparsity``; biases at 32 (fp16: 16) bits; other per-channel tensors at the
    compute dtype's width (at least 16). Returns decoded weights, bits and the parts."""
    decoded: dict[str, np.ndarray] = {}
    bits = 0
    parts: list[StoredTensor] = []
    for key, value in weights.items():
        if key.endswith("weight") and value.ndim >= 2:
            enc = encode(value, fmt, sparsity)
            decoded[key] = enc.decoded
            bits += enc.bits
            parts.append(StoredTensor(key, enc))
        else:
            width = plain_bits(key, fmt, dtype_bits)
            decoded[key] = at_width(value, width)
            bits += value.size * width
    return decoded, bits, parts


def plain_bits(key: str, fmt: str | None, dtype_bits: int) -> int:
    """Bits per value of a weight tensor stored plainly rather than in a weight format:
    in a compressed layer (``fmt`` given) a bias takes 32 bits (16 in fp16 layers); any
    other tensor, and every tensor of a layer that is not compressed (``fmt`` None), the
    compute dtype's width, at least 16.

    >>> plain_bits("bias", "int8", 8), plain_bits("bias", None, 8)
    (32, 16)
    """
    if fmt is not None and key.endswith("bias"):
        return bias_bits(1, fmt)
    return max(16, dtype_bits)


def at_width(value: np.ndarray, bits: int) -> np.ndarray:
    """A float tensor as stored in ``bits`` (16: fp16, else unchanged fp32).

    >>> at_width(np.array([0.1], np.float32), 16).item() == float(np.float16(0.1))
    True
    """
    if bits == 16 and value.dtype.kind == "f":
        return value.astype(np.float16).astype(value.dtype)
    return value


def total_parameters(factors: list[Factor]) -> int:
    """Parameters of a factorisation."""
    return sum(math.prod(v.shape) for f in factors for v in f.weights.values())


def rank_errors(layer: Layer, weight: np.ndarray, fractions: Sequence[float]
                ) -> dict[float, float]:
    """Relative weight error ‖W − Ŵ‖²/‖W‖² of :func:`factorize` at each low-rank fraction
    that factorises ``layer`` (with fewer parameters), from spectra alone: one symmetric
    eigendecomposition per mode instead of one factorisation per fraction.

    SVD (linear, 1×1 conv): the energy beyond the k largest singular values. Tucker-2
    (k×k conv, truncated HOSVD): the projections are orthogonal, so the error is the energy
    outside the core, ‖W‖² − ‖W ×₀ U_outᵀ ×₁ U_inᵀ‖² over the leading r_out × r_in block.
    """
    w = np.asarray(weight, dtype=np.float64)
    out_c, in_c = w.shape[0], w.shape[1]
    total = float(np.sum(w * w))
    attrs = {**layer.attrs, "out_channels": out_c}
    found = {f: lowrank_shapes(layer.op, attrs, in_c, out_c, f) for f in fractions if f < 1}
    shapes = {f: s for f, s in found.items() if s is not None}
    if not shapes or total == 0:
        return dict.fromkeys(shapes, 0.0)
    errors: dict[float, float] = {}
    if all(len(s) == 2 for s in shapes.values()):
        m = w.reshape(out_c, in_c)
        gram = m @ m.T if out_c <= in_c else m.T @ m
        energy = np.cumsum(np.clip(np.linalg.eigvalsh(gram)[::-1], 0, None))
        for f, s in shapes.items():
            errors[f] = max(0.0, 1 - float(energy[s[0][2] - 1]) / total)
        return errors
    by_out = w.reshape(out_c, -1)
    by_in = w.transpose(1, 0, 2, 3).reshape(in_c, -1)
    u_out = np.linalg.eigh(by_out @ by_out.T)[1][:, ::-1]
    u_in = np.linalg.eigh(by_in @ by_in.T)[1][:, ::-1]
    rotated = np.tensordot(u_out.T, w, axes=(1, 0))            # (r, in, kh, kw)
    rotated = np.tensordot(rotated, u_in, axes=(1, 0))          # (r, kh, kw, s)
    block = np.cumsum(np.cumsum(np.sum(rotated * rotated, axis=(1, 2)), 0), 1)
    for f, s in shapes.items():
        r_in, r_out = s[0][2], s[1][2]
        errors[f] = max(0.0, 1 - float(block[r_out - 1, r_in - 1]) / total)
    return errors
