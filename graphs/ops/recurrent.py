"""Recurrent ops: LSTM and GRU stacks, uni- or bidirectional, as PyTorch defines them.

One layer holds the whole ``nn.LSTM`` / ``nn.GRU`` module: ``num_layers`` stacked layers,
each in one or two directions, with PyTorch's weight shapes and gate order (LSTM: input,
forget, cell, output; GRU: reset, update, new, the new gate's recurrent product taken
before the reset gate multiplies it, ONNX's ``linear_before_reset=1``). The output is the
last layer's hidden state at every step, (N, T, D·H) with ``batch_first`` or (T, N, D·H)
(D = 2 when bidirectional); the final states h_n / c_n are not an output of this op.

MACs count both products of every step: T·N·G·H·(in + H) per layer and direction, with
G = 4 gates (LSTM) or 3 (GRU) and ``in`` the layer's input width. Other FLOPs, per hidden
unit and step: the two bias adds of each gate (2·G), and the gates' arithmetic: LSTM 3
sigmoids (4 each) + 2 tanh (5 each) + c = f·c + i·g and h = o·tanh(c) (4) = 26; GRU 2
sigmoids + 1 tanh + r·(W_hn h + b_hn) and h = (1 − z)·n + z·h (5) = 18.
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
)

GATES = {"lstm": 4, "gru": 3}
"""Gates per hidden unit: each has its own rows in the weight matrices."""

GATE_FLOPS = {"lstm": 26, "gru": 18}
"""FLOPs of the gates' nonlinearities and state updates per hidden unit and step."""


ONNX_GATE_ORDER = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2)}
"""PyTorch's gate block at each of ONNX's positions: ONNX orders LSTM gates i, o, f, c
(PyTorch i, f, g, o) and GRU gates z, r, h (PyTorch r, z, n)."""


def onnx_rows(kind: str, hidden: int) -> list[int]:
    """The row of a PyTorch weight matrix (or bias) at each row of ONNX's: the gather that
    turns PyTorch's gate order into ONNX's (and, inverted, back)."""
    return [g * hidden + i for g in ONNX_GATE_ORDER[kind] for i in range(hidden)]


def directions(attrs: Attrs) -> int:
    """1, or 2 for a bidirectional stack."""
    return 2 if attrs["bidirectional"] else 1


def layer_inputs(attrs: Attrs) -> list[int]:
    """The input width of each stacked layer: the op's input, then D·H."""
    hidden = attrs["hidden_size"]
    return [attrs["input_size"]] + [directions(attrs) * hidden] * (attrs["num_layers"] - 1)


def weight_name(kind: str, layer: int, reverse: bool) -> str:
    """The name of one weight tensor: ``kind`` is PyTorch's prefix (``weight_ih``,
    ``bias_hh``…), and the name ends in ``weight`` or ``bias`` as every layer's do, e.g.
    ``l1_reverse.ih.weight`` for PyTorch's ``weight_ih_l1_reverse``."""
    role, product = kind.split("_")
    return f"l{layer}{'_reverse' if reverse else ''}.{product}.{role}"


def from_torch_name(name: str) -> str:
    """:func:`weight_name` of a PyTorch parameter name (``weight_hh_l0`` → ``l0.hh.weight``)."""
    role, product, rest = name.split("_", 2)
    return f"{rest}.{product}.{role}"


def _normalize(attrs: dict[str, Any]) -> dict[str, Any]:
    for name in ("input_size", "hidden_size", "num_layers"):
        attrs[name] = integer(attrs[name], name)
        if attrs[name] < 1:
            raise OpArgumentError(f"attribute {name!r} must be positive, got {attrs[name]}")
    for name in ("bidirectional", "batch_first", "bias"):
        attrs[name] = flag(attrs[name], name)
    return attrs


def _steps_batch(x: Shape, attrs: Attrs) -> tuple[int, int]:
    """(time steps T, batch N) of an input."""
    return (x[1], x[0]) if attrs["batch_first"] else (x[0], x[1])


def _infer(shapes: Sequence[Shape], attrs: Attrs) -> Shape:
    x = shapes[0]
    expect_rank(x, 3, "recurrent input (N, T, features) or (T, N, features)")
    if x[2] != attrs["input_size"]:
        raise OpArgumentError(f"input has {x[2]} features, input_size is {attrs['input_size']}")
    return (*x[:2], directions(attrs) * attrs["hidden_size"])


def _weights(gates: int) -> Any:
    def weights(shapes: Sequence[Shape], attrs: Attrs) -> dict[str, WeightSpec]:
        rows = gates * attrs["hidden_size"]
        out: dict[str, WeightSpec] = {}
        for layer, width in enumerate(layer_inputs(attrs)):
            for reverse in (False, True)[:directions(attrs)]:
                out[weight_name("weight_ih", layer, reverse)] = WeightSpec((rows, width))
                out[weight_name("weight_hh", layer, reverse)] = WeightSpec(
                    (rows, attrs["hidden_size"]))
                if attrs["bias"]:
                    out[weight_name("bias_ih", layer, reverse)] = WeightSpec((rows,))
                    out[weight_name("bias_hh", layer, reverse)] = WeightSpec((rows,))
        return out

    return weights


def _macs(gates: int) -> Any:
    def macs(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
        """Σ over layers and directions of T·N·G·H·(in + H)."""
        steps, batch = _steps_batch(shapes[0], attrs)
        hidden = attrs["hidden_size"]
        return sum(steps * batch * gates * hidden * (width + hidden)
                   for width in layer_inputs(attrs)) * directions(attrs)

    return macs


def _flops(kind: str) -> Any:
    def flops(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> int:
        """(2·G bias adds if biased + the gates' arithmetic) per hidden unit and step."""
        steps, batch = _steps_batch(shapes[0], attrs)
        per_unit = GATE_FLOPS[kind] + (2 * GATES[kind] if attrs["bias"] else 0)
        units = attrs["num_layers"] * directions(attrs) * attrs["hidden_size"]
        return steps * batch * units * per_unit

    return flops


def _gemm(gates: int) -> Any:
    def gemm(shapes: Sequence[Shape], out: Shape, attrs: Attrs) -> tuple[float, float, float]:
        """(G·H, N, H): the recurrent product of one step, whose small N sets the speed
        (the input products of all steps are one large GEMM that no step waits for)."""
        _, batch = _steps_batch(shapes[0], attrs)
        return float(gates * attrs["hidden_size"]), float(batch), float(attrs["hidden_size"])

    return gemm


def recurrent(kind: str, summary: str) -> OpSpec:
    """The spec of an LSTM or GRU stack."""
    gates = GATES[kind]
    return OpSpec(
        kind=kind,
        channels="barrier",
        compressible=True,
        fuses=False,
        executable=True,
        op_class="gemm",
        infer=_infer,
        summary=summary,
        weights=_weights(gates),
        macs=_macs(gates),
        other_flops=_flops(kind),
        gemm=_gemm(gates),
        required=("input_size", "hidden_size"),
        defaults={"num_layers": 1, "bidirectional": False, "batch_first": False, "bias": True},
        normalize=_normalize,
    )


SPECS = (
    recurrent("lstm", "LSTM stack (nn.LSTM); MACs = Σ T·N·4H·(in + H) per layer and "
                      "direction; (26 + 8 bias) FLOPs per hidden unit and step"),
    recurrent("gru", "GRU stack (nn.GRU); MACs = Σ T·N·3H·(in + H) per layer and direction; "
                     "(18 + 6 bias) FLOPs per hidden unit and step"),
)
