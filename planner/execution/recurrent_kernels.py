"""The LSTM and GRU kernel: PyTorch's equations, one matrix product per step.

Each layer and direction multiplies the inputs of every step by W_ih in one product, then
walks the steps (backwards for the reverse direction) with one h·W_hhᵀ product each. Gate
order and weight names are PyTorch's (see :mod:`graphs.ops.recurrent`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from graphs import Layer, recurrent_layer_inputs, recurrent_weight_name
from planner.execution.activations import sigmoid


def _direction(op: str, xs: np.ndarray, weights: Mapping[str, np.ndarray], layer: int,
               reverse: bool, hidden: int) -> np.ndarray:
    """Hidden states (T, N, H) of one layer and direction over inputs ``xs`` (T, N, in)."""
    w_ih = weights[recurrent_weight_name("weight_ih", layer, reverse)]
    w_hh = weights[recurrent_weight_name("weight_hh", layer, reverse)]
    zeros = np.zeros(w_ih.shape[0], dtype=xs.dtype)
    b_ih = weights.get(recurrent_weight_name("bias_ih", layer, reverse), zeros)
    b_hh = weights.get(recurrent_weight_name("bias_hh", layer, reverse), zeros)
    projected = xs @ w_ih.T + b_ih  # every step's input product at once
    steps, batch = xs.shape[:2]
    h = np.zeros((batch, hidden), dtype=xs.dtype)
    c = np.zeros_like(h)
    out = np.empty((steps, batch, hidden), dtype=xs.dtype)
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        recurrent = h @ w_hh.T + b_hh
        if op == "lstm":
            gates = projected[t] + recurrent
            i, f, o = (sigmoid(gates[:, k * hidden:(k + 1) * hidden]) for k in (0, 1, 3))
            c = f * c + i * np.tanh(gates[:, 2 * hidden:3 * hidden])
            h = o * np.tanh(c)
        else:
            x_t = projected[t]
            r = sigmoid(x_t[:, :hidden] + recurrent[:, :hidden])
            z = sigmoid(x_t[:, hidden:2 * hidden] + recurrent[:, hidden:2 * hidden])
            n = np.tanh(x_t[:, 2 * hidden:] + r * recurrent[:, 2 * hidden:])
            h = (1 - z) * n + z * h
        out[t] = h
    return out


def recurrent(layer: Layer, inputs: Sequence[np.ndarray],
              weights: Mapping[str, np.ndarray]) -> tuple[np.ndarray, int]:
    """An LSTM or GRU stack; MACs counted from the products it ran."""
    attrs = layer.attrs
    xs = inputs[0]
    if attrs["batch_first"]:
        xs = np.swapaxes(xs, 0, 1)
    hidden = attrs["hidden_size"]
    steps, batch = xs.shape[:2]
    gates = weights[recurrent_weight_name("weight_ih", 0, False)].shape[0]
    macs = 0
    for index, width in enumerate(recurrent_layer_inputs(attrs)):
        outputs = [_direction(layer.op, xs, weights, index, reverse, hidden)
                   for reverse in (False, True)[:2 if attrs["bidirectional"] else 1]]
        macs += len(outputs) * steps * batch * gates * (width + hidden)
        xs = np.concatenate(outputs, axis=-1) if len(outputs) > 1 else outputs[0]
    if attrs["batch_first"]:
        xs = np.swapaxes(xs, 0, 1)
    return np.ascontiguousarray(xs), macs
