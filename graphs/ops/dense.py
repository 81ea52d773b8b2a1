"""Dense ops: linear (GEMM), batched matmul, attention and embedding lookups.

Linear weights are (out_features, in_features), as PyTorch; a linear layer applies to the last
axis of an input of any rank.
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
    integer,
    numel,
)

# ---------------------------------------------------------------- linear


def _linear_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    x = shapes[0]
    if len(x) < 1:
        raise OpArgumentError("linear input must have at least one dimension")
    return (*x[:-1], integer(attrs["out_features"], "out_features"))


def _linear_weights(shapes: Sequence[Shape], attrs: Attrs) -> dict[str, WeightSpec]:
    out = integer(attrs["out_features"], "out_features")
    weights = {"weight": WeightSpec((out, shapes[0][-1]))}
    if attrs["bias"]:
        weights["bias"] = WeightSpec((out,))
    return weights


def linear_macs(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    """rows · in_features · out_features, rows = product of the leading axes."""
    return numel(out) * shapes[0][-1]


def _linear_gemm(shapes: Sequence[Shape], out: Shape, attrs: Attrs
                 ) -> tuple[float, float, float]:
    """(out_features, rows, in_features)."""
    return float(out[-1]), float(numel(out) // out[-1]), float(shapes[0][-1])


def _bias_flops(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    return numel(out) if attrs["bias"] else 0


LINEAR = OpSpec(
    kind="linear",
    channels="linear",
    compressible=True,
    fuses=False,
    executable=True,
    op_class="gemm",
    infer=_linear_infer,
    summary="fully connected / GEMM on the last axis; MACs = rows·in·out; +1 FLOP/output bias",
    weights=_linear_weights,
    macs=linear_macs,
    other_flops=_bias_flops,
    gemm=_linear_gemm,
    required=("out_features",),
    defaults={"bias": True},
)

# ---------------------------------------------------------------- matmul


def _matmul_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    a, b = shapes
    if len(a) < 2 or len(b) < 2:
        raise OpArgumentError(f"matmul needs operands of rank >= 2, got {a} and {b}")
    if a[-1] != b[-2]:
        raise OpArgumentError(f"matmul inner dimensions differ: {a} @ {b}")
    batch = broadcast([a[:-2], b[:-2]]) if (a[:-2] or b[:-2]) else ()
    return (*batch, a[-2], b[-1])


def _matmul_macs(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    """batch · n · k · m for (…, n, k) @ (…, k, m)."""
    return numel(out) * shapes[0][-1]


def _matmul_gemm(shapes: Sequence[Shape], out: Shape, attrs: Attrs
                 ) -> tuple[float, float, float]:
    """(m, batch·n, k) for (…, n, k) @ (…, k, m)."""
    return float(out[-1]), float(numel(out) // out[-1]), float(shapes[0][-1])


MATMUL = OpSpec(
    kind="matmul",
    channels="barrier",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="matmul",
    infer=_matmul_infer,
    summary="batched matrix product of two activations; MACs = batch·n·k·m",
    arity=(2, 2),
    macs=_matmul_macs,
    gemm=_matmul_gemm,
)

# ---------------------------------------------------------------- attention

SOFTMAX_FLOPS_PER_ELEMENT = 5
"""max, subtract, exp, sum, divide."""


def _sdpa_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    q, k, v = shapes
    if len(q) < 2 or q[-1] != k[-1] or k[-2] != v[-2]:
        raise OpArgumentError(f"attention shapes do not fit: q {q}, k {k}, v {v}")
    return (*broadcast([q[:-2], k[:-2], v[:-2]]), q[-2], v[-1])


def _sdpa_macs(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    """scores batch·L·S·d plus weighted sum batch·L·S·dv."""
    q, k, v = shapes
    batch = numel(out[:-2])
    return batch * q[-2] * k[-2] * (q[-1] + v[-1])


def _sdpa_flops(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    """Scale and softmax over every score: (1 + 5) per element of batch·L·S."""
    q, k, _ = shapes
    return numel(out[:-2]) * q[-2] * k[-2] * (1 + SOFTMAX_FLOPS_PER_ELEMENT)


SCALED_DOT_PRODUCT_ATTENTION = OpSpec(
    kind="scaled_dot_product_attention",
    channels="barrier",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="attention",
    infer=_sdpa_infer,
    summary="softmax(q·kᵀ·scale)·v over heads; MACs = batch·L·S·(d + dv)",
    arity=(3, 3),
    macs=_sdpa_macs,
    other_flops=_sdpa_flops,
    defaults={"is_causal": False, "scale": None},
)


def _mha_normalize(attrs: dict[str, Any]) -> dict[str, Any]:
    attrs["embed_dim"] = integer(attrs["embed_dim"], "embed_dim")
    attrs["num_heads"] = integer(attrs["num_heads"], "num_heads")
    if attrs["embed_dim"] % attrs["num_heads"]:
        raise OpArgumentError(
            f"embed_dim={attrs['embed_dim']} is not a multiple of num_heads={attrs['num_heads']}"
        )
    return attrs


def _mha_dims(shapes: Sequence[Shape], attrs: Attrs) -> tuple[int, int, int]:
    """(batch, target length L, source length S) of an nn.MultiheadAttention call."""
    q, k, _ = shapes
    if attrs["batch_first"]:
        return q[0], q[1], k[1]
    return q[1], q[0], k[0]


def _mha_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    q, k, v = shapes
    e = attrs["embed_dim"]
    if not (len(q) == len(k) == len(v) == 3) or q[-1] != e or k[-1] != e or v[-1] != e:
        raise OpArgumentError(
            f"multihead attention expects q, k, v of shape (·, ·, {e}), got {q}, {k}, {v}"
        )
    if k[:2] != v[:2]:
        raise OpArgumentError(f"key {k} and value {v} differ in length or batch")
    return q


def _mha_weights(shapes: Sequence[Shape], attrs: Attrs) -> dict[str, WeightSpec]:
    e = attrs["embed_dim"]
    weights = {
        "in_proj_weight": WeightSpec((3 * e, e)),
        "out_proj_weight": WeightSpec((e, e)),
    }
    if attrs["bias"]:
        weights["in_proj_bias"] = WeightSpec((3 * e,))
        weights["out_proj_bias"] = WeightSpec((e,))
    return weights


def _mha_macs(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    """Projections N·(2L + 2S)·E² (q, out on L; k, v on S) plus attention 2·N·L·S·E."""
    n, tgt, src = _mha_dims(shapes, attrs)
    e = attrs["embed_dim"]
    return n * (2 * tgt + 2 * src) * e * e + 2 * n * tgt * src * e


def _mha_flops(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    """Scale + softmax per score (N·heads·L·S·6) plus bias adds N·(2L + 2S)·E."""
    n, tgt, src = _mha_dims(shapes, attrs)
    e, h = attrs["embed_dim"], attrs["num_heads"]
    bias = n * (2 * tgt + 2 * src) * e if attrs["bias"] else 0
    return n * h * tgt * src * (1 + SOFTMAX_FLOPS_PER_ELEMENT) + bias


MULTIHEAD_ATTENTION = OpSpec(
    kind="multihead_attention",
    channels="barrier",
    compressible=True,
    fuses=False,
    executable=True,
    op_class="attention",
    infer=_mha_infer,
    summary="nn.MultiheadAttention (q, k, v projections, attention, output projection)",
    arity=(3, 3),
    weights=_mha_weights,
    macs=_mha_macs,
    other_flops=_mha_flops,
    required=("embed_dim", "num_heads"),
    defaults={"batch_first": False, "bias": True},
    normalize=_mha_normalize,
)

# ---------------------------------------------------------------- embedding


def _embedding_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    return (*shapes[0], integer(attrs["embedding_dim"], "embedding_dim"))


def _embedding_weights(shapes: Sequence[Shape], attrs: Attrs) -> dict[str, WeightSpec]:
    return {"weight": WeightSpec((integer(attrs["num_embeddings"], "num_embeddings"),
                                   integer(attrs["embedding_dim"], "embedding_dim")))}


def _embedding_reads(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    """Only the gathered rows are read: one row of embedding_dim per index."""
    return numel(out)


EMBEDDING = OpSpec(
    kind="embedding",
    channels="embedding",
    compressible=True,
    fuses=False,
    executable=True,
    op_class="gather",
    infer=_embedding_infer,
    summary="table lookup; no arithmetic, reads one row per index",
    weights=_embedding_weights,
    weight_reads=_embedding_reads,
    required=("num_embeddings", "embedding_dim"),
)

# ---------------------------------------------------------------- einsum


def parse_einsum(equation: str, shapes: Sequence[Shape]) -> tuple[list[str], str, dict[str, int]]:
    """Operand subscripts, output subscripts and the size of every index letter.

    >>> parse_einsum("bhid,bhjd->bhij", [(1, 2, 3, 4), (1, 2, 5, 4)])[1]
    'bhij'
    """
    equation = equation.replace(" ", "")
    if "..." in equation or "->" not in equation:
        raise OpArgumentError(f"einsum {equation!r}: only explicit '->' forms without '...'")
    lhs, out = equation.split("->")
    operands = lhs.split(",")
    if len(operands) != len(shapes):
        raise OpArgumentError(f"einsum {equation!r} names {len(operands)} operands, got "
                              f"{len(shapes)}")
    sizes: dict[str, int] = {}
    for subs, shape in zip(operands, shapes, strict=True):
        if len(subs) != len(shape):
            raise OpArgumentError(f"einsum operand {subs!r} does not fit shape {shape}")
        for letter, size in zip(subs, shape, strict=True):
            if sizes.setdefault(letter, size) != size and size != 1:
                raise OpArgumentError(f"einsum index {letter!r} is both {sizes[letter]} and {size}")
    if set(out) - set(sizes):
        raise OpArgumentError(f"einsum output {out!r} uses an index no operand has")
    return operands, out, sizes


def _einsum_infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    _, out, sizes = parse_einsum(attrs["equation"], shapes)
    return tuple(sizes[c] for c in out)


def _einsum_macs(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
    """A two-operand contraction performs one MAC per point of the full index space."""
    if len(shapes) != 2:
        return 0
    _, _, sizes = parse_einsum(attrs["equation"], shapes)
    return numel(list(sizes.values()))


EINSUM = OpSpec(
    kind="einsum",
    channels="barrier",
    compressible=False,
    fuses=False,
    executable=True,
    op_class="matmul",
    infer=_einsum_infer,
    summary="einsum of two operands (a contraction); MACs = product of every index size",
    arity=(1, 2),
    macs=_einsum_macs,
    required=("equation",),
)

SPECS = (LINEAR, MATMUL, SCALED_DOT_PRODUCT_ATTENTION, MULTIHEAD_ATTENTION, EMBEDDING, EINSUM)
